// Deployment review: draw the new and the running diagram and mark what bpmn-js-differ finds added, removed and
// changed (the server's table lists the same elements with their before/after values).
document.addEventListener("DOMContentLoaded", async () => {
  const newHolder = document.getElementById("review-new");
  const oldHolder = document.getElementById("review-old");
  if (!newHolder || !oldHolder || typeof BpmnJS === "undefined" || typeof BpmnJsDiffer === "undefined") return;
  const newXml = document.querySelector('#confirm-form textarea[name="bpmn_xml"]').value;
  const oldXml = document.getElementById("running-bpmn-xml").value;
  const newViewer = new BpmnJS({ container: newHolder });
  const oldViewer = new BpmnJS({ container: oldHolder });
  try {
    await newViewer.importXML(newXml);
    await oldViewer.importXML(oldXml);
  } catch (error) {
    newHolder.textContent = "The diagrams could not be drawn: " + error.message;
    return;
  }
  const changes = BpmnJsDiffer.diff(oldViewer.getDefinitions(), newViewer.getDefinitions());
  const mark = (viewer, ids, marker) => {
    const registry = viewer.get("elementRegistry");
    const canvas = viewer.get("canvas");
    const marked = ids.filter((id) => registry.get(id));
    marked.forEach((id) => canvas.addMarker(id, marker));
    return marked;
  };
  const added = mark(newViewer, Object.keys(changes._added), "diff-added");
  const changed = mark(newViewer, Object.keys(changes._changed), "diff-changed");
  mark(oldViewer, Object.keys(changes._changed), "diff-changed");
  const removed = mark(oldViewer, Object.keys(changes._removed), "diff-removed");
  // Wide protocols are unreadable when fitted: show the first marked element at full size instead.
  [[newViewer, [...added, ...changed]], [oldViewer, [...removed, ...changed]]].forEach(([viewer, marked]) => {
    const canvas = viewer.get("canvas");
    canvas.zoom("fit-viewport");
    const first = marked.map((id) => viewer.get("elementRegistry").get(id)).find((el) => el && !el.waypoints);
    if (first) {
      canvas.zoom(1);
      canvas.scrollToElement(first);
    }
  });
  // what the browser tests read: the ids marked on each diagram
  newHolder.dataset.added = added.join(" ");
  newHolder.dataset.changed = changed.join(" ");
  oldHolder.dataset.removed = removed.join(" ");
  newHolder.dataset.ready = "true";
});
