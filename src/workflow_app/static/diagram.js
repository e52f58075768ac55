// Instance page: show the instance's own deployed diagram, mark the path taken, and offer zoom and fit buttons
// (keyboard reachable) so labels can be read; the diagram opens fitted to its width, not shrunk to its height.
function addZoomTools(container, canvas) {
  const tools = document.createElement("div");
  tools.className = "diagram-tools";
  const button = (label, text, action) => {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.setAttribute("aria-label", label);
    b.title = label;
    b.addEventListener("click", action);
    tools.appendChild(b);
  };
  button("Zoom in", "+", () => canvas.zoom(canvas.zoom() * 1.25));
  button("Zoom out", "−", () => canvas.zoom(canvas.zoom() / 1.25));
  button("Fit the whole diagram", "Fit", () => canvas.zoom("fit-viewport", "auto"));
  button("100% (actual size)", "100%", () => canvas.zoom(1, "auto"));
  container.parentElement.insertBefore(tools, container);
}

function readableZoom(canvas, registry, focusIds) {
  // Fit the whole diagram, but never smaller than 60 %: below that its labels cannot be read. Then bring the
  // current stage into view when there is one (the buttons fit the whole diagram on request).
  canvas.zoom("fit-viewport", "auto");
  if (canvas.zoom() >= 0.6) return;
  canvas.zoom(0.6);
  const focus = focusIds.map((id) => registry.get(id)).find(Boolean);
  if (focus) canvas.scrollToElement(focus, { top: 120, bottom: 120, left: 200, right: 200 });
}

document.addEventListener("DOMContentLoaded", async () => {
  const container = document.getElementById("diagram");
  if (!container || typeof BpmnJS === "undefined") return;
  const response = await fetch(container.dataset.src, { credentials: "same-origin" });
  if (!response.ok) { container.textContent = "The diagram could not be loaded."; return; }
  const view = await response.json();
  const modules = typeof DiagramMinimap !== "undefined" ? [DiagramMinimap] : [];
  const viewer = new BpmnJS({ container, additionalModules: modules });
  try {
    await viewer.importXML(view.xml);
  } catch (error) {
    container.textContent = "The diagram could not be drawn: " + error.message;
    return;
  }
  const canvas = viewer.get("canvas");
  const registry = viewer.get("elementRegistry");
  const mark = (ids, marker) => ids.forEach((id) => { if (registry.get(id)) canvas.addMarker(id, marker); });
  mark(view.completed, "path-completed");
  mark(view.active, "path-active");
  mark(view.breached, "path-breached");
  addZoomTools(container, canvas);
  readableZoom(canvas, registry, view.active || []);
  container.dataset.ready = "true";  // lets browser tests wait for the drawing
});
