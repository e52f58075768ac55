// Instance page: show the instance's own deployed diagram, mark the path taken, and offer zoom and fit buttons
// (keyboard reachable) so labels can be read; the diagram opens fitted to its width, not shrunk to its height.
// A minimap (diagram-js-minimap) in the corner shows where the zoomed view is; the dashboard's heat map
// (heatmap.js) uses the same helpers.
const DIAGRAM_SCRIPT = document.currentScript ? document.currentScript.src : "";

function vendorUrl(path) {
  return new URL("vendor/" + path, DIAGRAM_SCRIPT || window.location.href).href;
}

function loadOnce(tag, attributes) {
  // Pages that did not include the minimap get it here: its script and stylesheet, each once.
  const key = attributes.src || attributes.href;
  const existing = document.querySelector(`${tag}[${attributes.src ? "src" : "href"}="${key}"]`);
  if (existing) return Promise.resolve();  // the page's own copy ran before DOMContentLoaded (defer), or failed
  return new Promise((ok, fail) => {
    const element = Object.assign(document.createElement(tag), attributes);
    element.addEventListener("load", ok);
    element.addEventListener("error", fail);
    document.head.appendChild(element);
  });
}

async function minimapModules() {
  if (typeof DiagramJSMinimap === "undefined") {
    try {
      await Promise.all([
        loadOnce("link", { rel: "stylesheet", href: vendorUrl("diagram-js-minimap/diagram-js-minimap.css") }),
        loadOnce("script", { src: vendorUrl("diagram-js-minimap/diagram-minimap.umd.prod.js") }),
      ]);
    } catch (error) {
      return [];  // the diagram still works without its minimap
    }
  }
  return typeof DiagramJSMinimap === "undefined" ? [] : [DiagramJSMinimap];
}

function openMinimap(viewer) {
  // Open from the start so the overview is visible at first sight; it can be closed with its toggle. It sits in
  // the bottom corner, clear of the zoom buttons at the top.
  let minimap;
  try { minimap = viewer.get("minimap"); } catch (error) { return; }  // no minimap module
  minimap.open();
  const box = viewer.get("canvas").getContainer().querySelector(".djs-minimap");
  if (box) Object.assign(box.style, { top: "auto", bottom: "12px" });
}

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
  // Fit the whole diagram, but never smaller than 85 %: below that its 11 px labels cannot be read. Then bring
  // the current stage into view when there is one (the buttons and the minimap show the whole diagram).
  canvas.zoom("fit-viewport", "auto");
  if (canvas.zoom() >= 0.85) return;
  canvas.zoom(0.85);
  const focus = focusIds.map((id) => registry.get(id)).find(Boolean);
  if (focus) canvas.scrollToElement(focus, { top: 120, bottom: 120, left: 200, right: 200 });
}

async function openDiagram(container, what) {
  // Fetch the view the container's data-src names (the deployed diagram's XML and its figures) and draw it with
  // the minimap; null, with a plain message in the container, when it cannot be loaded or drawn.
  const response = await fetch(container.dataset.src, { credentials: "same-origin" });
  if (!response.ok) { container.textContent = `The ${what} could not be loaded.`; return null; }
  const view = await response.json();
  const viewer = new BpmnJS({ container, additionalModules: await minimapModules() });
  try {
    await viewer.importXML(view.xml);
  } catch (error) {
    container.textContent = "The diagram could not be drawn: " + error.message;
    return null;
  }
  return { view, viewer };
}

document.addEventListener("DOMContentLoaded", async () => {
  const container = document.getElementById("diagram");
  if (!container || typeof BpmnJS === "undefined") return;
  const opened = await openDiagram(container, "diagram");
  if (!opened) return;
  const { view, viewer } = opened;
  const canvas = viewer.get("canvas");
  const registry = viewer.get("elementRegistry");
  const mark = (ids, marker) => ids.forEach((id) => { if (registry.get(id)) canvas.addMarker(id, marker); });
  mark(view.completed, "path-completed");
  mark(view.active, "path-active");
  mark(view.breached, "path-breached");
  addZoomTools(container, canvas);
  readableZoom(canvas, registry, view.active || []);
  openMinimap(viewer);
  container.dataset.ready = "true";  // lets browser tests wait for the drawing
});
