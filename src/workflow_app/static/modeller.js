// In-browser modeller: bpmn-js Modeler with the Camunda properties panel (forms, timers, decision refs),
// a dmn-js decision-table editor per DMN file, and the form-js editor to design the Camunda Form of the selected
// user task or start event. "Save and review" writes the XML and forms back into the page's form, which posts to
// the same review → deploy steps as an upload.
const FORM_KEY_PREFIX = "camunda-forms:";

function formTextareas(form) {
  return [...form.querySelectorAll("textarea.form-json")];
}

function schemaOf(textarea) {
  try { return JSON.parse(textarea.value); } catch (error) { return null; }
}

// The .form textarea an element's camunda:formRef (form id) or camunda:formKey="camunda-forms:...:<file>" names.
function linkedFormTextarea(form, businessObject) {
  const formRef = businessObject.get("camunda:formRef");
  const formKey = businessObject.get("camunda:formKey") || "";
  return formTextareas(form).find((textarea) => {
    if (formRef) return (schemaOf(textarea) || {}).id === formRef;
    if (formKey.startsWith(FORM_KEY_PREFIX)) return textarea.dataset.name === formKey.split(":").pop().split("/").pop();
    return false;
  });
}

function addFormFile(form, name, schema) {
  const holder = document.getElementById("deployment-files");
  const nameInput = document.createElement("input");
  nameInput.type = "hidden";
  nameInput.name = "dmn_name";
  nameInput.value = name;
  const textarea = document.createElement("textarea");
  textarea.name = "dmn_xml";
  textarea.className = "form-json";
  textarea.dataset.name = name;
  textarea.hidden = true;
  textarea.value = JSON.stringify(schema, null, 2);
  holder.append(nameInput, textarea);
  return textarea;
}

function setUpFormDesigner(form, modeler) {
  const editorHolder = document.getElementById("form-designer-editor");
  const status = document.getElementById("form-designer-status");
  const title = document.getElementById("form-designer-title");
  const createButton = document.getElementById("form-designer-create");
  if (typeof FormEditor === "undefined") {
    status.textContent = "The form designer is not installed (scripts/vendor_assets.sh).";
    return { save: () => {} };
  }
  const formEditor = new FormEditor.FormEditor({ container: editorHolder });
  window.workflowFormEditor = formEditor;  // for power users and browser tests
  let editing = null;  // the textarea of the form in the editor
  let selected = null;  // the selected start event or user task

  const save = () => {
    if (editing) editing.value = JSON.stringify(formEditor.saveSchema(), null, 2);
  };
  formEditor.on("changed", save);

  const open = async (textarea, element) => {
    save();
    editing = null;
    await formEditor.importSchema(schemaOf(textarea));
    editing = textarea;
    editorHolder.hidden = false;
    createButton.hidden = true;
    title.textContent = `Form of ${element.businessObject.name || element.id}`;
    status.textContent = `${textarea.dataset.name}: drag fields from the palette, select one to set its key, label, `
      + "validation and condition (hide if ...).";
    editorHolder.dataset.form = textarea.dataset.name;
  };

  const show = async (element) => {
    selected = element;
    const kind = element && element.type;
    if (kind !== "bpmn:UserTask" && kind !== "bpmn:StartEvent") {
      save();
      editing = null;
      editorHolder.hidden = true;
      createButton.hidden = true;
      title.textContent = "Form designer";
      status.textContent = "Select a user task or the start event to design its form.";
      return;
    }
    const textarea = linkedFormTextarea(form, element.businessObject);
    if (textarea) {
      await open(textarea, element);
      return;
    }
    save();
    editing = null;
    editorHolder.hidden = true;
    createButton.hidden = false;
    title.textContent = `Form of ${element.businessObject.name || element.id}`;
    status.textContent = element.businessObject.get("camunda:formRef")
      ? `It links to form '${element.businessObject.get("camunda:formRef")}', which is not among this version's files.`
      : "It has no Camunda Form (its fields, if any, are camunda:formData in the properties panel).";
  };

  // A new form for the selected element: a .form file named after it, linked with camunda:formRef; its
  // camunda:formData fields (if any) are removed, since an element has one form.
  createButton.addEventListener("click", async () => {
    if (!selected) return;
    const formId = `Form_${selected.id}`;
    const schema = { type: "default", id: formId, components: [], schemaVersion: 18,
                     executionPlatform: "Camunda Platform", executionPlatformVersion: "7.22.0" };
    const textarea = addFormFile(form, `${selected.id}.form`, schema);
    const modeling = modeler.get("modeling");
    modeling.updateProperties(selected, { "camunda:formRef": formId, "camunda:formRefBinding": "deployment",
                                          "camunda:formKey": undefined });
    const extensions = selected.businessObject.extensionElements;
    if (extensions) {
      const kept = extensions.get("values").filter((value) => value.$type !== "camunda:FormData");
      modeling.updateModdleProperties(selected, extensions, { values: kept });
    }
    await open(textarea, selected);
  });

  modeler.on("selection.changed", ({ newSelection }) => {
    show(newSelection.length === 1 ? newSelection[0] : null);
  });
  return { save };
}

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
  const designer = setUpFormDesigner(form, modeler);
  form.dataset.ready = "true";

  form.addEventListener("submit", async (event) => {
    if (form.dataset.saved === "true") return;
    event.preventDefault();
    designer.save();
    const { xml } = await modeler.saveXML({ format: true });
    document.getElementById("bpmn-xml").value = xml;
    for (const [editor, source] of decisionEditors) {
      source.value = (await editor.saveXML({ format: true })).xml;
    }
    form.dataset.saved = "true";
    form.submit();
  });
});
