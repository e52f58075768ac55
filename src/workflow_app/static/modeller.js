// In-browser modeller: bpmn-js Modeler with the Camunda properties panel (forms, timers, decision refs)
// and a dmn-js decision-table editor per DMN file. "Save and review" writes the XML back into the form,
// which posts to the same review → deploy steps as an upload.
document.addEventListener("DOMContentLoaded", async () => {
  const form = document.getElementById("modeller-form");
  if (!form || typeof BpmnJS === "undefined") return;
  const camunda = await (await fetch(form.dataset.camundaModdle)).json();
  const panel = window.BpmnJSPropertiesPanel;
  const modeler = new BpmnJS({
    container: "#canvas",
    propertiesPanel: { parent: "#properties" },
    additionalModules: [panel.BpmnPropertiesPanelModule, panel.BpmnPropertiesProviderModule,
                        panel.CamundaPlatformPropertiesProviderModule],
    moddleExtensions: { camunda },
  });
  window.workflowModeler = modeler;  // for power users and browser tests
  await modeler.importXML(document.getElementById("bpmn-xml").value);
  modeler.get("canvas").zoom("fit-viewport");

  const decisionEditors = [];
  if (typeof DmnJS !== "undefined") {
    for (const holder of document.querySelectorAll(".dmn-editor")) {
      const source = form.querySelector(`textarea.dmn-xml[data-name="${holder.dataset.name}"]`);
      const editor = new DmnJS({ container: holder });
      await editor.importXML(source.value);
      decisionEditors.push([editor, source]);
    }
  }
  form.dataset.ready = "true";

  form.addEventListener("submit", async (event) => {
    if (form.dataset.saved === "true") return;
    event.preventDefault();
    const { xml } = await modeler.saveXML({ format: true });
    document.getElementById("bpmn-xml").value = xml;
    for (const [editor, source] of decisionEditors) {
      source.value = (await editor.saveXML({ format: true })).xml;
    }
    form.dataset.saved = "true";
    form.submit();
  });
});
