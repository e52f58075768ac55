// The process owner's dashboard: the protocol's deployed diagram as a heat map. Every task that escalations
// reached gets an overlay with its numbers (times reached, median working days, share of deadlines missed), so
// nothing is told by colour alone; the task and its overlay are coloured by reach or by breach rate (a choice
// of two radios), with a legend. Uses diagram.js's openDiagram, zoom buttons, readable first zoom and minimap.
// The colours are in dashboard.css (five steps per kind, light to dark, each with a text colour of 4.5:1 or
// more); this file only says which step each task is in.
const BREACH_STEPS = [0, 0.1, 0.25, 0.5];  // upper bounds of the first four breach-rate steps

function heatStep(kind, element, maxReached) {
  if (kind === "breach") {
    const rate = element.breach_rate || 0;
    const index = BREACH_STEPS.findIndex((bound) => rate <= bound);
    return index === -1 ? 4 : index;
  }
  if (!maxReached) return 0;
  return Math.min(4, Math.floor((element.reached / maxReached) * 5 - 1e-9));
}

function heatLegend(kind, maxReached) {
  // [step, text] for every step that some value can fall in
  if (kind === "breach") {
    return ["none missed", "up to 10% missed", "10–25% missed", "25–50% missed", "over 50% missed"]
      .map((text, step) => [step, text]);
  }
  if (!maxReached) return [[0, "not reached yet"]];
  const ranges = new Map();
  for (let reached = 1; reached <= maxReached; reached += 1) {
    const step = heatStep("reach", { reached }, maxReached);
    const range = ranges.get(step) || [reached, reached];
    ranges.set(step, [range[0], reached]);
  }
  return [...ranges].map(([step, [low, high]]) => [step, low === high
    ? `reached ${low} ${low === 1 ? "time" : "times"}` : `reached ${low}–${high} times`]);
}

function formatDays(days) {
  if (days === null || days === undefined) return "no task done yet";
  return `median ${Number.isInteger(days) ? days : days.toFixed(1)} working ${days === 1 ? "day" : "days"}`;
}

function overlayHtml(element, step) {
  const box = document.createElement("div");
  box.className = `heat-overlay heat-step-${step}`;
  const rate = element.breach_rate === null ? "—" : Math.round(element.breach_rate * 100) + "%";
  const lines = [`${element.reached} reached`, formatDays(element.median_days), `${rate} deadlines missed`];
  lines.forEach((text, index) => {
    const line = document.createElement("span");
    line.className = index === 0 ? "heat-overlay__reached" : "";
    line.textContent = text;
    box.appendChild(line);
  });
  box.title = `${element.title}: ${lines.join(", ")}`;
  return box;
}

function paint(viewer, view, kind) {
  const overlays = viewer.get("overlays");
  const canvas = viewer.get("canvas");
  const registry = viewer.get("elementRegistry");
  overlays.remove({ type: "heat" });
  view.elements.forEach((element) => {
    const shape = registry.get(element.id);
    if (!shape) return;  // a task of an older version that this one no longer has
    const step = heatStep(kind, element, view.max_reached);
    for (let i = 0; i < 5; i += 1) canvas.removeMarker(shape, `heat-step-${i}`);
    canvas.addMarker(shape, `heat-step-${step}`);
    overlays.add(shape, "heat", { position: { bottom: -4, left: -10 }, scale: { min: 1 },
                                  html: overlayHtml(element, step) });
  });
  const counted = new Set(view.elements.map((element) => element.id));
  registry.filter((shape) => shape.type === "bpmn:UserTask" && !counted.has(shape.id))
    .forEach((shape) => {
      const box = document.createElement("div");
      box.className = "heat-overlay heat-overlay--none";
      box.textContent = "not reached";
      overlays.add(shape, "heat", { position: { bottom: -4, left: -10 }, scale: { min: 1 }, html: box });
    });
  const legend = document.getElementById("heatmap-legend");
  if (legend) {
    legend.replaceChildren(...heatLegend(kind, view.max_reached).map(([step, text]) => {
      const item = document.createElement("li");
      item.className = `app-heatmap-legend__item heat-step-${step}`;
      item.textContent = text;
      return item;
    }));
    legend.dataset.kind = kind;
  }
  document.getElementById("heatmap").dataset.colour = kind;
}

function centreOn(canvas, shape) {
  // When the whole diagram does not fit at a readable size, put the busiest task in the middle of the view.
  const box = canvas.viewbox();
  if (!shape || box.inner.width <= box.width) return;
  canvas.viewbox({ x: shape.x + shape.width / 2 - box.width / 2, y: shape.y + shape.height / 2 - box.height / 2,
                   width: box.width, height: box.height });
}

document.addEventListener("DOMContentLoaded", async () => {
  const container = document.getElementById("heatmap");
  if (!container || typeof BpmnJS === "undefined") return;
  const opened = await openDiagram(container, "heat map");
  if (!opened) return;
  const { view, viewer } = opened;
  const canvas = viewer.get("canvas");
  const busiest = [...view.elements].sort((a, b) => b.reached - a.reached).map((e) => e.id);
  paint(viewer, view, "reach");
  document.querySelectorAll("input[name=heat-colour]").forEach((radio) => {
    radio.addEventListener("change", () => { if (radio.checked) paint(viewer, view, radio.value); });
  });
  addZoomTools(container, canvas);
  readableZoom(canvas, viewer.get("elementRegistry"), busiest);
  centreOn(canvas, viewer.get("elementRegistry").get(busiest[0]));
  openMinimap(viewer);
  container.dataset.ready = "true";  // lets browser tests wait for the drawing
});
