// Instance page: show the instance's own deployed diagram and mark the path taken.
document.addEventListener("DOMContentLoaded", async () => {
  const container = document.getElementById("diagram");
  if (!container || typeof BpmnJS === "undefined") return;
  const response = await fetch(container.dataset.src, { credentials: "same-origin" });
  if (!response.ok) { container.textContent = "The diagram could not be loaded."; return; }
  const view = await response.json();
  const viewer = new BpmnJS({ container });
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
  canvas.zoom("fit-viewport");
  container.dataset.ready = "true";  // lets browser tests wait for the drawing
});
