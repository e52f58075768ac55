"""Turn a protocol's BPMN and DMN files into an executable bundle, with errors a policy editor can act on.

Every error names the file, the line and (where known) the element id, whatever layer found it:
the XML parser, SpiffWorkflow's validation, or our own checks of what the engine relies on.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.exceptions import SpiffWorkflowException

from workflow_app.engine.forms import (CAMUNDA_NS, FormDefinitionError, FormSpec, is_form_file, read_form,
                                      split_form_files)

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
DMN_NAMESPACES = ("https://www.omg.org/spec/DMN/20191111/MODEL/", "http://www.omg.org/spec/DMN/20180521/MODEL/",
                  "http://www.omg.org/spec/DMN/20151101/dmn.xsd", "https://www.omg.org/spec/DMN/20211108/MODEL/",
                  "https://www.omg.org/spec/DMN/20230324/MODEL/")
# SpiffWorkflow uses these names for internal task specs; a diagram element with one of these ids
# parses to an empty process without any error.
RESERVED_IDS = {"Start", "End", "Root"}
END_STATUSES = {"resolved", "closed", "cancelled"}
NS = {"bpmn": BPMN_NS, "camunda": CAMUNDA_NS}


class DiagramError(ValueError):
    """A diagram that cannot be deployed; ``str()`` is the message shown to a policy editor."""

    def __init__(self, message: str, file: str, line: int | None = None, element_id: str | None = None):
        self.message = message
        self.file = file
        self.line = line or None
        self.element_id = element_id or None
        where = file
        if self.line:
            where += f", line {self.line}"
        if self.element_id:
            where += f", element '{self.element_id}'"
        super().__init__(f"{where}: {message}")

    def to_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "element_id": self.element_id, "message": self.message}


@dataclass
class ProcessBundle:
    """Everything the runtime needs to know about one deployed process."""

    process_id: str
    name: str
    documentation: str
    properties: dict[str, str]
    spec: object
    subprocess_specs: dict
    start_form: FormSpec | None
    forms: dict[str, FormSpec] = field(default_factory=dict)
    element_names: dict[str, str] = field(default_factory=dict)
    element_properties: dict[str, dict[str, str]] = field(default_factory=dict)
    element_docs: dict[str, str] = field(default_factory=dict)
    attached_to: dict[str, str] = field(default_factory=dict)  # boundary event id -> host element id
    end_statuses: dict[str, str] = field(default_factory=dict)  # end event id -> resolved/closed/...
    lanes: list[str] = field(default_factory=list)  # role lanes (party lanes are not roles)
    element_party: dict[str, str] = field(default_factory=dict)  # flow node id -> raising / counterpart
    element_role: dict[str, str] = field(default_factory=dict)  # flow node id -> its role lane's name
    party_lanes: dict[str, str] = field(default_factory=dict)  # party lane name -> raising / counterpart
    decision_refs: dict[str, str] = field(default_factory=dict)  # business rule task id -> decision id
    cycle_timers: set[str] = field(default_factory=set)  # ids of timer events with a timeCycle
    timer_expressions: dict[str, str] = field(default_factory=dict)  # timer event id -> expression text

    @property
    def calendar(self) -> str | None:
        return self.properties.get("calendar")

    @property
    def timezone(self) -> str | None:
        return self.properties.get("timezone")


def _parse_xml(text: str, filename: str) -> etree._Element:
    try:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False)
        return etree.fromstring(text.encode("utf-8") if isinstance(text, str) else text, parser)
    except etree.XMLSyntaxError as exc:
        raise DiagramError(f"not well-formed XML: {exc.msg}", filename, exc.lineno) from None


def decision_ids(dmn_text: str, filename: str) -> list[str]:
    """Decision ids defined by a DMN file (used to find which DMN files a diagram needs)."""
    root = _parse_xml(dmn_text, filename)
    return [d.get("id") for ns in DMN_NAMESPACES for d in root.iter(f"{{{ns}}}decision")]


def referenced_decisions(bpmn_text: str, filename: str) -> set[str]:
    root = _parse_xml(bpmn_text, filename)
    return {t.get(f"{{{CAMUNDA_NS}}}decisionRef") for t in root.iter(f"{{{BPMN_NS}}}businessRuleTask")
            if t.get(f"{{{CAMUNDA_NS}}}decisionRef")}


def _properties(element: etree._Element) -> dict[str, str]:
    return {p.get("name"): p.get("value") or ""
            for p in element.findall("bpmn:extensionElements/camunda:properties/camunda:property", NS)
            if p.get("name")}


def _documentation(element: etree._Element) -> str:
    doc = element.find("bpmn:documentation", NS)
    return (doc.text or "").strip() if doc is not None else ""


def parse_bundle(bpmn_text: str, bpmn_filename: str, dmn_files: dict[str, str], *,
                 check_code: bool = True, called_bpmn: dict[str, str] | None = None) -> ProcessBundle:
    """Parse one BPMN file (one executable process), the DMN files it uses and the BPMN files holding the
    processes its call activities call (``called_bpmn``, uploaded together with it)."""
    root = _parse_xml(bpmn_text, bpmn_filename)
    dmn_files, form_files = split_form_files(dmn_files)  # Camunda Forms (.form) travel with the DMN files
    called_bpmn = called_bpmn or {}
    documents = {bpmn_filename: root, **{name: _parse_xml(text, name) for name, text in called_bpmn.items()}}
    process = _main_process(root, bpmn_filename)
    process_id = process.get("id")
    for name, document in documents.items():
        _check_ids(document, name)
        _check_decision_refs(document, name, dmn_files)
    _check_called_processes(documents, process, bpmn_filename)
    deployed = [(bpmn_filename, process), *_other_processes(documents, process)]
    if check_code:  # at deploy; a version deployed under older rules still loads for its running escalations
        for name, each in deployed:
            check_supported(documents[name], name, [each])
        check_diagram_code(process, bpmn_filename, dmn_files)
        for name, other in deployed[1:]:
            check_diagram_code(other, name, {})

    from workflow_app.decisions.dmn import DmnError
    from workflow_app.engine.decisions_adapter import FeelCamundaParser, load_decision_models
    for dmn_name, dmn_text in dmn_files.items():
        _parse_xml(dmn_text, dmn_name)
    try:  # decisions are FEEL, evaluated by workflow_app.decisions (a file declaring Python keeps Python)
        parser = FeelCamundaParser(load_decision_models(dmn_files, legacy=not check_code))
    except DmnError as exc:
        raise DiagramError(exc.message, exc.file, exc.line, exc.element_id) from None
    try:
        parser.add_bpmn_str(bpmn_text.encode("utf-8"), filename=bpmn_filename)
        for name, text in called_bpmn.items():
            parser.add_bpmn_str(text.encode("utf-8"), filename=name)
        spec = parser.get_spec(process_id)
        subprocess_specs = parser.get_subprocess_specs(process_id)
    except ValidationException as exc:
        raise _located(_from_validation(exc, bpmn_filename), documents, process) from None
    except SpiffWorkflowException as exc:
        raise _located(DiagramError(_plain(str(exc)), bpmn_filename), documents, process) from None
    except RecursionError:
        raise DiagramError("the diagram nests or calls itself without end (a call activity that calls its own "
                           "process, directly or through others): break the cycle", bpmn_filename,
                           process.sourceline, process_id) from None
    except Exception as exc:  # noqa: BLE001 - SpiffWorkflow's parser raises assorted errors on odd diagrams
        raise _located(DiagramError(f"the engine could not read the diagram: {_plain(str(exc)) or 'no detail'}",
                                    bpmn_filename), documents, process) from None
    normalise_timers([spec, *subprocess_specs.values()])

    bundle = ProcessBundle(
        process_id=process_id,
        name=process.get("name") or process_id,
        documentation=_documentation(process),
        properties=_properties(process),
        spec=spec,
        subprocess_specs=subprocess_specs,
        start_form=None,
    )
    _collect_elements(process, bundle, bpmn_filename, form_files)
    start_form = bundle.start_form
    for name, other in deployed[1:]:  # the called processes' tasks, forms and timers belong to the bundle too
        _collect_elements(other, bundle, name, form_files)
    bundle.start_form = start_form  # a called process starts from its caller, never from a form
    for name, each in deployed:
        _check_user_tasks_have_forms(each, bundle, name)
    _check_reachable(process, bpmn_filename)
    if check_code:
        for name, each in deployed:
            _check_timer_expressions(each, name)
    return bundle


BPMN_SUFFIXES = (".bpmn", ".bpmn20.xml")


def is_bpmn_file(name: str) -> bool:
    return name.lower().endswith(BPMN_SUFFIXES)


def _is_executable(process: etree._Element) -> bool:
    return process.get("isExecutable", "true").strip().lower() != "false"


def _calls(element: etree._Element) -> set[str]:
    return {c.get("calledElement") for c in element.iter(f"{{{BPMN_NS}}}callActivity") if c.get("calledElement")}


def process_ids(bpmn_text: str, filename: str) -> set[str]:
    """Ids of the processes a BPMN file defines (what call activities in other files may call)."""
    return {p.get("id") for p in _parse_xml(bpmn_text, filename).iter(f"{{{BPMN_NS}}}process") if p.get("id")}


def called_processes(bpmn_text: str, filename: str) -> set[str]:
    """Process ids the call activities of a BPMN file call (``calledElement``)."""
    return _calls(_parse_xml(bpmn_text, filename))


def _main_process(root: etree._Element, filename: str) -> etree._Element:
    """The one process the file deploys: its executable process, or, in a collaboration of several executable
    pools where the others are only called, the one no call activity of the file calls."""
    processes = list(root.iter(f"{{{BPMN_NS}}}process"))
    if not processes:
        raise DiagramError("the file has no process: draw one (a pool or a plain process) and deploy again",
                           filename, root.sourceline, root.get("id"))
    executable = [p for p in processes if _is_executable(p)]
    if not executable:
        first = processes[0]
        raise DiagramError("no process in the file is marked executable: in the modeller select the pool or "
                           "process and tick 'Executable' (isExecutable=\"true\")", filename, first.sourceline,
                           first.get("id"))
    called = _calls(root)
    starting = [p for p in executable if p.get("id") not in called] or executable
    if len(starting) > 1:
        second = starting[1]
        names = ", ".join(f"'{p.get('id')}' (line {p.sourceline})" for p in starting)
        raise DiagramError(f"the file has {len(starting)} executable processes ({names}) and the engine deploys one "
                           "per file: untick 'Executable' on the pools the engine should not run, call them "
                           "from the main process, or put each in its own file", filename, second.sourceline,
                           second.get("id"))
    return starting[0]


def _other_processes(documents: dict[str, etree._Element], main: etree._Element):
    """(file name, process) for every process the deployment may run besides the main one (those it calls)."""
    wanted = _calls(main)
    seen = {main.get("id")}
    found = True
    while found:
        found = False
        for name, document in documents.items():
            for process in document.iter(f"{{{BPMN_NS}}}process"):
                if process.get("id") in wanted - seen:
                    seen.add(process.get("id"))
                    wanted |= _calls(process)
                    found = True
                    yield name, process


def _check_called_processes(documents: dict[str, etree._Element], main: etree._Element, filename: str) -> None:
    """Every call activity names a process uploaded with the diagram (in the same file or beside it)."""
    defined = {p.get("id") for d in documents.values() for p in d.iter(f"{{{BPMN_NS}}}process")}
    for name, process in [(filename, main), *_other_processes(documents, main)]:
        for call in process.iter(f"{{{BPMN_NS}}}callActivity"):
            target = call.get("calledElement")
            if not target:
                raise DiagramError("call activity names no process to call (calledElement): choose the called "
                                   "process's id", name, call.sourceline, call.get("id"))
            if target not in defined:
                raise DiagramError(f"call activity calls process '{target}', which is neither in this file nor in a "
                                   "BPMN file uploaded with it: upload the file that defines it in the same "
                                   "deployment", name, call.sourceline, call.get("id"))
            if process.get("id") in _reachable_calls(documents, target):
                raise DiagramError(f"call activity calls process '{target}', which calls '{process.get('id')}' again "
                                   "(directly or through other processes), so it would never end: break the cycle",
                                   name, call.sourceline, call.get("id"))


def _reachable_calls(documents: dict[str, etree._Element], start: str) -> set[str]:
    """Every process id that process ``start`` calls, directly or through the processes it calls, itself included
    when it calls itself."""
    by_id = {p.get("id"): p for d in documents.values() for p in d.iter(f"{{{BPMN_NS}}}process")}
    found: set[str] = set()
    todo = [start]
    while todo:
        current = by_id.get(todo.pop())
        for target in _calls(current) if current is not None else ():
            if target not in found:
                found.add(target)
                todo.append(target)
    return found


def _check_ids(root: etree._Element, filename: str) -> None:
    for element in root.iter():
        if element.get("id") in RESERVED_IDS and isinstance(element.tag, str) and element.tag.startswith(f"{{{BPMN_NS}}}"):
            raise DiagramError(f"the id '{element.get('id')}' is reserved by the engine; rename the element",
                               filename, element.sourceline, element.get("id"))


def _check_decision_refs(root: etree._Element, filename: str, dmn_files: dict[str, str]) -> None:
    available = {d for name, text in dmn_files.items() for d in decision_ids(text, name)}
    for task in root.iter(f"{{{BPMN_NS}}}businessRuleTask"):
        ref = task.get(f"{{{CAMUNDA_NS}}}decisionRef")
        if not ref:
            raise DiagramError("business rule task has no decision reference (camunda:decisionRef)",
                               filename, task.sourceline, task.get("id"))
        if ref not in available:
            raise DiagramError(f"business rule task refers to decision '{ref}', which no DMN file defines",
                               filename, task.sourceline, task.get("id"))


def _collect_elements(process: etree._Element, bundle: ProcessBundle, filename: str,
                      form_files: dict[str, str] | None = None) -> None:
    _collect_lanes(process, bundle, filename)
    for element in process.iter():
        if not isinstance(element.tag, str) or not element.tag.startswith(f"{{{BPMN_NS}}}"):
            continue
        element_id = element.get("id")
        tag = etree.QName(element).localname
        if not element_id or tag in {"process", "laneSet", "lane", "sequenceFlow", "documentation"}:
            continue
        bundle.element_names[element_id] = element.get("name") or element_id
        bundle.element_properties[element_id] = _properties(element)
        doc = _documentation(element)
        if doc:
            bundle.element_docs[element_id] = doc
        if tag == "boundaryEvent":
            bundle.attached_to[element_id] = element.get("attachedToRef")
        timer = element.find("bpmn:timerEventDefinition", NS)
        if timer is not None:
            for kind in ("timeDate", "timeDuration", "timeCycle"):
                expression = timer.find(f"bpmn:{kind}", NS)
                if expression is not None:
                    bundle.timer_expressions[element_id] = (expression.text or "").strip()
                    if kind == "timeCycle":
                        bundle.cycle_timers.add(element_id)
        if tag == "businessRuleTask":
            bundle.decision_refs[element_id] = element.get(f"{{{CAMUNDA_NS}}}decisionRef")
        if tag == "endEvent" and "status" in bundle.element_properties[element_id]:
            status = bundle.element_properties[element_id]["status"]
            if status not in END_STATUSES:
                raise DiagramError(f"end event status must be one of {sorted(END_STATUSES)}, not '{status}'",
                                   filename, element.sourceline, element_id)
            bundle.end_statuses[element_id] = status
        if tag in {"startEvent", "userTask"}:
            try:
                form = read_form(element, form_files)
            except FormDefinitionError as exc:
                raise DiagramError(str(exc), exc.file or filename, exc.line, exc.element_id) from None
            if tag == "startEvent" and element.getparent() is process:
                bundle.start_form = form
            elif form is not None:
                bundle.forms[element_id] = form


PARTIES = ("raising", "counterpart")


def _collect_lanes(process: etree._Element, bundle: ProcessBundle, filename: str) -> None:
    """Lanes are roles, grouped under *party lanes* (property ``party``) for the two sides of a dispute.

    A flow node belongs to its innermost lane (its role) and to the party of the nearest party lane around it.
    """
    def walk(lane_set: etree._Element, party: str | None) -> None:
        for lane in lane_set.findall("bpmn:lane", NS):
            own_party = _properties(lane).get("party")
            if own_party is not None and own_party not in PARTIES:
                raise DiagramError(f"lane party must be 'raising' or 'counterpart', not '{own_party}'",
                                   filename, lane.sourceline, lane.get("id"))
            if own_party and party:
                raise DiagramError("a party lane cannot sit inside another party lane", filename, lane.sourceline,
                                   lane.get("id"))
            lane_party = own_party or party
            name = (lane.get("name") or "").strip()
            if own_party:
                bundle.party_lanes[name] = own_party
            elif name:
                bundle.lanes.append(name)
            for ref in lane.findall("bpmn:flowNodeRef", NS):
                node_id = (ref.text or "").strip()
                if lane_party:
                    bundle.element_party[node_id] = lane_party
                if not own_party and name:
                    bundle.element_role[node_id] = name
            for child_set in lane.findall("bpmn:childLaneSet", NS):
                walk(child_set, lane_party)

    for lane_set in process.findall("bpmn:laneSet", NS):
        walk(lane_set, None)


RECIPIENT_TOKENS = {"@raising", "@counterpart", "@raising_manager", "@counterpart_manager", "@line_manager", "@raiser"}


def check_recipients(bpmn_text: str, filename: str, bundle: ProcessBundle, dmn_files: dict[str, str],
                     known_roles: set[str]) -> None:
    """Every notification recipient names a lane, a role the installation knows, or a recipient token.

    For ``recipients_from``, every value a decision table can write to that variable is checked too.
    A name that matches nothing would otherwise be found only when a real escalation reaches it.
    """
    root = _parse_xml(bpmn_text, filename)
    roles = {r.casefold() for r in (*bundle.lanes, *known_roles)}
    dmn_outputs = _dmn_output_values(dmn_files)
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        props = _properties(element)
        where = (filename, element.sourceline, element.get("id"))
        if props.get("recipients"):
            _check_recipient_list(props["recipients"], roles, "recipients", *where)
        variable = props.get("recipients_from")
        if variable:
            values = dmn_outputs.get(variable)
            if values is None:
                raise DiagramError(f"recipients come from '{variable}', which no decision table outputs", *where)
            for dmn_name, line, value in values:
                _check_recipient_list(value, roles, f"'{variable}' output of {dmn_name} (line {line})", *where)


def _check_recipient_list(text: str, roles: set[str], what: str, filename: str, line: int | None,
                          element_id: str | None) -> None:
    for name in (part.strip() for part in str(text).split(",")):
        if not name:
            continue
        if name.startswith("@"):
            if name not in RECIPIENT_TOKENS:
                raise DiagramError(f"{what} names '{name}', which is not a recipient token; use one of "
                                   f"{', '.join(sorted(RECIPIENT_TOKENS))}", filename, line, element_id)
        elif name.casefold() not in roles:
            raise DiagramError(f"{what} names '{name}', which is neither a lane of this diagram nor a role anyone "
                               "can hold, so nobody would be told; use a lane's name or a recipient token",
                               filename, line, element_id)


@dataclass(frozen=True)
class DmnOutput:
    """One literal output cell of a decision table, with its rule's input entries (as written)."""

    file: str
    line: int | None
    name: str
    value: str
    inputs: tuple[str, ...]


def dmn_literal_outputs(dmn_files: dict[str, str]) -> list[DmnOutput]:
    """Every output cell across the DMN files whose text is a literal string, in rule order. Cells that are
    expressions are skipped: they cannot be known before they run."""
    import ast
    found: list[DmnOutput] = []
    for dmn_name, text in dmn_files.items():
        if is_form_file(dmn_name):
            continue
        root = _parse_xml(text, dmn_name)
        for table in root.iter():
            if not isinstance(table.tag, str) or etree.QName(table).localname != "decisionTable":
                continue
            ns = etree.QName(table).namespace
            outputs = [o.get("name") for o in table.findall(f"{{{ns}}}output")]
            for rule in table.findall(f"{{{ns}}}rule"):
                inputs = tuple((e.findtext(f"{{{ns}}}text") or "").strip() for e in rule.findall(f"{{{ns}}}inputEntry"))
                for name, entry in zip(outputs, rule.findall(f"{{{ns}}}outputEntry")):
                    try:
                        value = ast.literal_eval((entry.findtext(f"{{{ns}}}text") or "").strip())
                    except (ValueError, SyntaxError):
                        continue
                    if name and isinstance(value, str):
                        found.append(DmnOutput(dmn_name, entry.sourceline, name, value, inputs))
    return found


def _dmn_output_values(dmn_files: dict[str, str]) -> dict[str, list[tuple[str, int | None, str]]]:
    """Literal output values per output name across the DMN files: {name: [(file, line, value)]}."""
    found: dict[str, list[tuple[str, int | None, str]]] = {}
    for cell in dmn_literal_outputs(dmn_files):
        found.setdefault(cell.name, []).append((cell.file, cell.line, cell.value))
    return found


def _from_validation(exc: ValidationException, filename: str) -> DiagramError:
    message = str(exc.args[0]) if exc.args else str(exc)
    return DiagramError(_plain(message), exc.file_name or filename, exc.line_number or None, exc.id or None)


_ELEMENT_REPR = re.compile(r"<Element \{[^}]*\}(\w+) at 0x[0-9a-f]+>")
_OBJECT_REPR = re.compile(r"<([\w.]+) object at 0x[0-9a-f]+>")


def _plain(message: str) -> str:
    """SpiffWorkflow's messages without Python object reprs (``<Element {...}targetRef at 0x7f...>``)."""
    message = _ELEMENT_REPR.sub(lambda m: f"its {m.group(1)}", message)
    return _OBJECT_REPR.sub(lambda m: m.group(1).rsplit(".", 1)[-1], message).strip()


def _located(error: DiagramError, documents: dict[str, etree._Element],
             fallback: etree._Element | None = None) -> DiagramError:
    """The error with the line (and element) filled in from the files when the engine named only one of them."""
    if error.line and error.element_id:
        return error
    document = documents.get(error.file)
    if document is None:
        return error
    line, element_id = error.line, error.element_id
    if element_id and not line:
        line = line_of(document, element_id)
    if line and not element_id:
        element_id = next((_owner_id(e) for e in document.iter() if isinstance(e.tag, str) and e.sourceline == line),
                          None)
    if not line and not element_id:
        quoted = re.findall(r"'([^']+)'|\b([A-Za-z_][\w.-]*_[\w.-]+|[A-Za-z]+_\w+)\b", error.message)
        for candidate in (a or b for a, b in quoted):
            line = line_of(document, candidate)
            if line:
                element_id = candidate
                break
    if not line and fallback is not None:  # the engine named nothing findable: point at the process itself
        line, element_id = fallback.sourceline, element_id or fallback.get("id")
    return DiagramError(error.message, error.file, line, element_id)


FLOW_NODE_TAGS = {"startEvent", "endEvent", "userTask", "scriptTask", "businessRuleTask", "serviceTask", "sendTask",
                  "receiveTask", "manualTask", "task", "exclusiveGateway", "parallelGateway", "inclusiveGateway",
                  "eventBasedGateway", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
                  "subProcess", "callActivity", "transaction", "adHocSubProcess", "complexGateway"}
# Functions the engine offers to timer expressions (see services/expressions.py and engine/runtime.py).
TIMER_FUNCTIONS = {"working_days", "working_hours", "end_of_working_day", "working_day_cycle", "protocol_setting",
                   "int", "str", "float", "min", "max"}


def _flow_nodes(process: etree._Element) -> dict[str, etree._Element]:
    return {el.get("id"): el for el in process if isinstance(el.tag, str)
            and etree.QName(el).localname in FLOW_NODE_TAGS and el.get("id")}


def _check_user_tasks_have_forms(process: etree._Element, bundle: ProcessBundle, filename: str) -> None:
    for task in process.findall("bpmn:userTask", NS):
        if task.get("id") not in bundle.forms:
            raise DiagramError("user task has no form (camunda:formData, or a Camunda Form linked with camunda:formRef): "
                               "people would have nothing to fill in",
                               filename, task.sourceline, task.get("id"))


def _check_reachable(process: etree._Element, filename: str) -> None:
    """Every flow node can be reached from a start event (boundary events through their host)."""
    nodes = _flow_nodes(process)
    following: dict[str, list[str]] = {node_id: [] for node_id in nodes}
    for flow in process.findall("bpmn:sequenceFlow", NS):
        if flow.get("sourceRef") in following:
            following[flow.get("sourceRef")].append(flow.get("targetRef"))
    for node_id, node in nodes.items():
        if etree.QName(node).localname == "boundaryEvent" and node.get("attachedToRef") in following:
            following[node.get("attachedToRef")].append(node_id)
    reached = set()
    # Where a path begins: start events, event subprocesses (started by their event, never by a flow),
    # compensation handlers (started by compensation) and link catch events (the far end of a link).
    todo = [node_id for node_id, node in nodes.items() if etree.QName(node).localname == "startEvent"
            or node.get("triggeredByEvent") == "true" or node.get("isForCompensation") == "true"
            or node.find("bpmn:linkEventDefinition", NS) is not None]
    while todo:
        node_id = todo.pop()
        if node_id in reached:
            continue
        reached.add(node_id)
        todo.extend(following.get(node_id, []))
    for node_id, node in nodes.items():
        if node_id not in reached:
            raise DiagramError(f"'{node.get('name') or node_id}' cannot be reached from the start event: "
                               "connect it with a sequence flow or remove it", filename, node.sourceline, node_id)


def _check_timer_expressions(process: etree._Element, filename: str) -> None:
    """Every timer can produce a time: checked at deploy, so that no escalation stops at a timer later."""
    for timer in process.iter(f"{{{BPMN_NS}}}timerEventDefinition"):
        event = timer.getparent()
        expressions = [e for e in timer if isinstance(e.tag, str) and e.tag.startswith(f"{{{BPMN_NS}}}")]
        if not expressions:
            raise DiagramError("timer has no time: give it a date, a duration or a cycle (e.g. working_days(5), "
                               "P7D, R3/PT10M)", filename, timer.sourceline, event.get("id"))
        for expression in expressions:
            check_timer(etree.QName(expression).localname, expression.text or "", filename, expression.sourceline,
                        event.get("id"))


TIMER_KINDS = {"timeDate": "date", "timeDuration": "duration", "timeCycle": "cycle"}
TIMER_EXAMPLES = {"timeDate": "2026-12-01T09:00:00Z or working_days(5)", "timeDuration": "P7D or PT10M",
                  "timeCycle": "R3/PT10M or working_day_cycle(5)"}
# Functions that return a date (a deadline) and one that returns a cycle: each fits one kind of timer.
DATE_FUNCTIONS = {"working_days", "working_hours", "end_of_working_day"}
CYCLE_FUNCTIONS = {"working_day_cycle"}
_ISO_DURATION = re.compile(r"^P(?!$)(\d+(\.\d+)?Y)?(\d+(\.\d+)?M)?(\d+(\.\d+)?W)?(\d+(\.\d+)?D)?"
                           r"(T(?=\d)(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?(\d+(\.\d+)?S)?)?$", re.I)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$", re.I)
_ISO_CYCLE = re.compile(r"^R\d*/\S+$", re.I)
_ISO_LOOKALIKE = re.compile(r"^['\"]?(P\d|PT\d|R\d*/|\d{4}-\d{2})", re.I)  # meant as ISO 8601, not as Python
_CRON = re.compile(r"^[\d*?/,LW#A-Z-]+(\s+[\d*?/,LW#A-Z-]+){4,6}$", re.I)


def timer_literal(text: str) -> str | None:
    """The ISO 8601 text of a timer written as plain ISO 8601, quoted or not (``P7D``, ``"P7D"``,
    ``R3/PT10M``, ``2026-12-01T09:00:00Z``); None for anything else (a Python expression)."""
    value = text.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1].strip()
    if _ISO_DURATION.match(value) or _ISO_DATE.match(value) or _ISO_CYCLE.match(value):
        return value.upper() if not _ISO_DATE.match(value) else value
    return None


def check_timer(kind: str, text: str, filename: str, line: int | None, element_id: str | None) -> None:
    """Refuse a timer expression that cannot produce a time of its kind (date, duration, cycle)."""
    from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition as Timer

    from workflow_app.engine.scripting import SandboxViolation, check_expression
    text = text.strip()
    shown = text if len(text) <= 80 else text[:77] + "..."
    wanted, example = TIMER_KINDS.get(kind, "time"), TIMER_EXAMPLES.get(kind, "P7D")

    def refuse(reason: str) -> None:
        raise DiagramError(f"timer '{shown}' {reason}", filename, line, element_id)

    if not text:
        raise DiagramError(f"timer has an empty {wanted}: write one, e.g. {example}", filename, line, element_id)
    foreign = foreign_expression(text)
    if foreign:
        refuse(f"is {foreign.split(';')[0]}; write an ISO 8601 {wanted} or a Python expression, e.g. {example}")
    if _CRON.match(text.strip("'\"")) and not timer_literal(text):
        refuse("is a cron expression, which this engine does not run: write the cycle in ISO 8601 (R/P1D: every "
               "day; R3/PT10M: three times, every 10 minutes) or in working days (working_day_cycle(5))")
    literal = timer_literal(text)
    if literal is None and _ISO_LOOKALIKE.match(text):
        refuse(f"is not a valid ISO 8601 {wanted}: write it like {example}")
    if literal is not None:
        try:
            if kind == "timeCycle":
                Timer.parse_iso_recurring_interval(literal)
            elif kind == "timeDuration":
                Timer.parse_iso_duration(literal)
            elif not isinstance(Timer.parse_time_or_duration(literal), datetime):
                refuse(f"is a duration, but the timer is a date: make it a duration timer, or give a date "
                       f"({example})")
        except DiagramError:
            raise
        except Exception:  # noqa: BLE001 - SpiffWorkflow's ISO parsers raise bare Exceptions and ValueErrors
            refuse(f"is not a valid ISO 8601 {wanted}: write it like {example}")
        return
    try:
        called = check_expression(text)
    except SandboxViolation as exc:
        refuse(f"is neither an ISO 8601 {wanted} nor a valid expression ({exc}): write it like {example}")
    unknown = sorted(called - TIMER_FUNCTIONS)
    if unknown:
        refuse(f"calls {', '.join(unknown)}, which the engine does not offer; use one of "
               f"{', '.join(sorted(TIMER_FUNCTIONS))}")
    top = _top_call(text)
    if top in DATE_FUNCTIONS and kind != "timeDate":
        refuse(f"gives a date ({top} returns a deadline), but the timer is a {wanted}: make it a date timer "
               "(timeDate)" + (", or use working_day_cycle for a repeating timer" if kind == "timeCycle" else ""))
    if top in CYCLE_FUNCTIONS and kind != "timeCycle":
        refuse(f"gives a cycle ({top} repeats), but the timer is a {wanted}: make it a cycle timer (timeCycle)")


def _top_call(text: str) -> str | None:
    import ast
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        return None
    return tree.func.id if isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) else None


def normalise_timers(specs) -> None:
    """Timers written as plain ISO 8601 (``P7D``, as Camunda Modeler writes them) become the quoted text the
    engine evaluates (``'P7D'``); a bare ``P7D`` would otherwise be read as a variable name when it fires."""
    from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
    for spec in specs:
        if spec is None:
            continue
        for task_spec in spec.task_specs.values():
            definition = getattr(task_spec, "event_definition", None)
            if isinstance(definition, TimerEventDefinition):
                literal = timer_literal(definition.expression or "")
                if literal is not None:
                    definition.expression = repr(literal)


# Functions the engine offers to scripts, conditions and decision tables (services/expressions.py, engine/runtime.py).
ENGINE_FUNCTIONS = {"working_days", "working_hours", "end_of_working_day", "working_day_cycle", "protocol_setting"}
# Where diagram Python sits in BPMN: (element, mode); the element id reported is the nearest parent with an id.
_BPMN_CODE = (("script", "exec"), ("conditionExpression", "eval"), ("completionCondition", "eval"),
              ("loopCardinality", "eval"))
# SpiffWorkflow's DMN engine writes ``?`` in an input entry as this name (outside quotes).
_DMN_INPUT_NAME = "dmninputexpr"
_DMN_QUESTION_MARK = r'(\?)(?=(?:[^\'"]|[\'"][^\'"]*[\'"])*$)'


def check_diagram_code(process: etree._Element, filename: str, dmn_files: dict[str, str]) -> None:
    """Every piece of Python in a diagram and its decision tables compiles under the sandbox's rules.

    Script task scripts, sequence-flow conditions, multi-instance expressions, timer expressions (with
    their arguments) and DMN input expressions, input entries and output entries are checked here,
    before SpiffWorkflow parses anything, so that ``import os``, dunder walks, ``format`` tricks, calls of
    functions the engine does not offer and syntax errors are refused at deploy (with file, line and
    element) instead of stopping a real escalation.
    """
    from workflow_app.engine.scripting import OFFERED_BUILTINS
    offered = set(OFFERED_BUILTINS) | ENGINE_FUNCTIONS
    for timer in process.iter(f"{{{BPMN_NS}}}timerEventDefinition"):
        for expression in timer:
            if isinstance(expression.tag, str):
                text = expression.text or ""
                check_timer(etree.QName(expression).localname, text, filename, expression.sourceline,
                            timer.getparent().get("id"))
                if timer_literal(text) is None:  # a Python expression: as strict as every other diagram code
                    _check_code(text, "eval", TIMER_FUNCTIONS, "timer expression", filename,
                                expression.sourceline, timer.getparent().get("id"))
    for tag, mode in _BPMN_CODE:
        for element in process.iter(f"{{{BPMN_NS}}}{tag}"):
            owner = element.getparent()
            while owner is not None and not owner.get("id"):
                owner = owner.getparent()
            what = {"script": "script", "conditionExpression": "condition"}.get(tag, tag)
            if mode == "eval" and not (element.text or "").strip():
                continue  # an empty condition is no condition for the engine
            _check_code(element.text or "", mode, offered, what, filename, element.sourceline,
                        owner.get("id") if owner is not None else None)
    for dmn_name, text in dmn_files.items():
        _check_dmn_code(_parse_xml(text, dmn_name), dmn_name, offered)


def _check_code(source: str, mode: str, offered: set[str], what: str, filename: str, line: int | None,
                element_id: str | None) -> None:
    from workflow_app.engine.scripting import SandboxViolation, check_code
    try:
        check_code(source, mode, offered)
    except SandboxViolation as exc:
        inner = getattr(exc, "line", None)
        at = (line or 0) + (inner - 1 if inner and mode == "exec" else 0) or None
        shown = " ".join(source.split())
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise DiagramError(f"{what} '{shown}' is not valid: {exc}", filename, at, element_id) from None


def _check_dmn_code(root: etree._Element, filename: str, offered: set[str]) -> None:
    """The Python of decision tables that declare Python (``expressionLanguage``); FEEL is checked when
    workflow_app.decisions loads the file."""
    import re
    from workflow_app.decisions.dmn import is_python_language
    for table in root.iter():
        if not isinstance(table.tag, str) or etree.QName(table).localname != "decisionTable":
            continue
        if not is_python_language(table.get("expressionLanguage") or root.get("expressionLanguage")):
            continue
        ns = etree.QName(table).namespace
        for expression in table.findall(f"{{{ns}}}input/{{{ns}}}inputExpression/{{{ns}}}text"):
            source = (expression.text or "").strip()
            if source:
                _check_code(source, "eval", offered, "decision input expression", filename, expression.sourceline,
                            expression.getparent().get("id") or expression.getparent().getparent().get("id"))
        for rule in table.findall(f"{{{ns}}}rule"):
            for kind, entries in (("input entry", rule.findall(f"{{{ns}}}inputEntry")),
                                  ("output entry", rule.findall(f"{{{ns}}}outputEntry"))):
                for entry in entries:
                    text_el = entry.find(f"{{{ns}}}text")
                    source = (text_el.text or "").strip() if text_el is not None else ""
                    if not source or (kind == "input entry" and source == "-"):
                        continue
                    line = text_el.sourceline
                    element_id = entry.get("id") or rule.get("id")
                    if kind == "input entry":
                        source = re.sub(_DMN_QUESTION_MARK, _DMN_INPUT_NAME, source)
                        if _DMN_INPUT_NAME not in source:
                            try:
                                compile(source, "<dmn>", "eval")
                            except SyntaxError:
                                source = f"{_DMN_INPUT_NAME} {source}"  # a unary test such as '> 3'
                    _check_code(source, "eval", offered, f"decision {kind}", filename, line, element_id)


# -- what the engine cannot run: refused at deploy, with what to do instead ----------------------------------

PYTHON_LANGUAGES = {"", "python", "python3", "py", "text/x-python", "application/x-python"}
# Camunda 7's Java expression language (``${approved}``, ``#{amount > 5}``) and Camunda 8's FEEL (``=approved``).
_JUEL = re.compile(r"^\s*[$#]\{(?P<inner>.*)\}\s*$", re.S)
_FEEL = re.compile(r"^\s*=(?!=)")
_IMPLEMENTATIONS = {"class": "a Java class", "delegateExpression": "a Java delegate expression",
                    "expression": "a Java expression"}
_INSTEAD_OF_SERVICE = ("this engine runs no Java and calls no services: use a script task (Python) for a "
                       "calculation, or a user task in which a person does the work and records the result")


def check_supported(document: etree._Element, filename: str, processes: list[etree._Element]) -> None:
    """Refuse what the engine would accept and then not run: service implementations, scripts and conditions in
    other languages or external resources, data stores, and waits for messages or signals nothing sends."""
    for process in processes:
        for element in process.iter():
            if not isinstance(element.tag, str) or not element.tag.startswith(f"{{{BPMN_NS}}}"):
                continue
            tag = etree.QName(element).localname
            where = (filename, element.sourceline, _owner_id(element))
            if tag in {"serviceTask", "sendTask", "businessRuleTask"}:
                _check_implementation(element, tag, where)
            elif tag == "scriptTask":
                _check_script_task(element, where)
            elif tag in {"conditionExpression", "completionCondition", "loopCondition"}:
                _check_condition_language(element, where)
            elif tag in {"dataStoreReference", "dataStore"}:
                raise DiagramError("data stores are not supported: keep the information in process variables "
                                   "(form fields, script results) or a data object", *where)
    for store in document.iter(f"{{{BPMN_NS}}}dataStore"):
        raise DiagramError("data stores are not supported: keep the information in process variables "
                           "(form fields, script results) or a data object", filename, store.sourceline,
                           store.get("id"))
    _check_waits(document, filename, processes)


def _owner_id(element: etree._Element) -> str | None:
    owner = element
    while owner is not None and not owner.get("id"):
        owner = owner.getparent()
    return owner.get("id") if owner is not None else None


def _check_implementation(element: etree._Element, tag: str, where: tuple) -> None:
    what = {"serviceTask": "service task", "sendTask": "send task", "businessRuleTask": "business rule task"}[tag]
    for attribute, described in _IMPLEMENTATIONS.items():
        value = element.get(f"{{{CAMUNDA_NS}}}{attribute}")
        if value:
            raise DiagramError(f"{what} is implemented by {described} ({value}); {_INSTEAD_OF_SERVICE}", *where)
    if element.get(f"{{{CAMUNDA_NS}}}type") == "external":
        topic = element.get(f"{{{CAMUNDA_NS}}}topic") or "no topic"
        raise DiagramError(f"{what} is an external task (topic '{topic}'), and this app has no external task "
                           f"workers; {_INSTEAD_OF_SERVICE}", *where)
    extensions = element.find("bpmn:extensionElements", NS)
    if extensions is not None:
        for child in extensions:
            if isinstance(child.tag, str) and etree.QName(child).localname in {"connector", "taskDefinition"}:
                kind = ("a Camunda connector" if etree.QName(child).localname == "connector"
                        else "a Camunda 8 (Zeebe) job type")
                raise DiagramError(f"{what} is implemented by {kind}; {_INSTEAD_OF_SERVICE}", *where)
    if tag == "serviceTask":
        raise DiagramError(f"service task has no implementation the engine can run and would stop every "
                           f"escalation that reaches it; {_INSTEAD_OF_SERVICE}", *where)


def _check_script_task(element: etree._Element, where: tuple) -> None:
    language = (element.get("scriptFormat") or "").strip().lower()
    if element.get(f"{{{CAMUNDA_NS}}}resource"):
        raise DiagramError(f"script task loads its script from a resource ({element.get(f'{{{CAMUNDA_NS}}}resource')}), "
                           "which the engine cannot read: write the Python script inline in the task", *where)
    if language not in PYTHON_LANGUAGES:
        raise DiagramError(f"script task is written in {element.get('scriptFormat')}; the engine runs Python only: "
                           "rewrite the script in Python and set the script format to 'python'", *where)
    script = element.find("bpmn:script", NS)
    if script is None or not (script.text or "").strip():
        raise DiagramError("script task has no script: write the Python it should run (or use a plain task)",
                           *where)


def _check_condition_language(element: etree._Element, where: tuple) -> None:
    language = (element.get("language") or "").strip().lower()
    text = (element.text or "").strip()
    if element.get(f"{{{CAMUNDA_NS}}}resource"):
        raise DiagramError("condition is loaded from a resource the engine cannot read: write it inline as a "
                           "Python expression", *where)
    if language not in PYTHON_LANGUAGES:
        raise DiagramError(f"condition is written in {element.get('language')}; the engine reads Python "
                           "expressions only (e.g. approved == True)", *where)
    foreign = foreign_expression(text)
    if foreign:
        raise DiagramError(f"condition '{text}' is {foreign}", *where)


def foreign_expression(text: str) -> str | None:
    """What is wrong with an expression written in Camunda's languages, or None for anything else."""
    juel = _JUEL.match(text)
    if juel:
        inner = juel.group("inner").strip()
        return (f"a Camunda (Java EL) expression; the engine reads Python expressions over the process data: "
                f"write it without the {text.strip()[:2]} }} wrapper, in Python (e.g. '{_juel_to_python(inner)}')")
    if _FEEL.match(text):
        return (f"a Camunda 8 (FEEL) expression; the engine reads Python expressions over the process data: "
                f"write it without the leading '=', in Python (e.g. '{text.strip()[1:].strip()}')")
    return None


def _juel_to_python(inner: str) -> str:
    """A hint only: the common JUEL operators written the Python way."""
    hint = re.sub(r"!(?!=)", "not ", inner)
    for juel, python in ((r"&&", " and "), (r"\|\|", " or "), (r"\beq\b", "=="), (r"\bne\b", "!="),
                         (r"\btrue\b", "True"), (r"\bfalse\b", "False"), (r"\bnull\b", "None")):
        hint = re.sub(juel, python, hint)
    return " ".join(hint.split())


_WAITING_DEFINITIONS = {"messageEventDefinition": "a message", "signalEventDefinition": "a signal",
                        "conditionalEventDefinition": "a condition"}


def _check_waits(document: etree._Element, filename: str, processes: list[etree._Element]) -> None:
    """A wait for a message or signal that no element of the deployment sends would never end: the app has no
    way to deliver messages from outside. (Boundary events and event subprocesses only add optional paths.)"""
    thrown = set()
    for process in processes:
        for element in process.iter():
            if not isinstance(element.tag, str):
                continue
            tag = etree.QName(element).localname
            if tag in {"intermediateThrowEvent", "endEvent"}:
                for definition in element:
                    if isinstance(definition.tag, str):
                        thrown.add(definition.get("messageRef") or definition.get("signalRef"))
            elif tag == "sendTask":
                thrown.add(element.get("messageRef"))
    thrown.discard(None)
    for process in processes:
        gateways_with_timer = _event_gateways_with_timers(process)
        for element in process.iter(f"{{{BPMN_NS}}}intermediateCatchEvent", f"{{{BPMN_NS}}}receiveTask",
                                    f"{{{BPMN_NS}}}startEvent"):
            if etree.QName(element).localname == "startEvent" and element.getparent() is not process:
                continue  # the start of an event subprocess: an optional path
            waits = _waits_for(element)
            if waits is None:
                continue
            what, ref = waits
            if what != "a condition" and ref in thrown:
                continue
            incoming = {(f.text or "").strip() for f in element.findall("bpmn:incoming", NS)}
            if incoming & gateways_with_timer:
                continue  # one branch of an event-based gateway that also has a timer
            kind = etree.QName(element).localname
            if kind == "startEvent":
                raise DiagramError(f"the process starts on {what}, which nothing in this app sends: an escalation "
                                   "starts from its start form, so use a plain start event", filename,
                                   element.sourceline, element.get("id"))
            raise DiagramError(f"waits for {what} that nothing in this deployment sends, so every escalation would "
                               "stop here: use a user task (a person records what arrived), a timer, or throw it "
                               "from another path of the process", filename, element.sourceline, element.get("id"))


def _waits_for(element: etree._Element) -> tuple[str, str | None] | None:
    if etree.QName(element).localname == "receiveTask":
        return "a message", element.get("messageRef")
    for definition in element:
        if isinstance(definition.tag, str) and etree.QName(definition).localname in _WAITING_DEFINITIONS:
            what = _WAITING_DEFINITIONS[etree.QName(definition).localname]
            return what, definition.get("messageRef") or definition.get("signalRef")
    return None


def _event_gateways_with_timers(process: etree._Element) -> set[str]:
    """Ids of the sequence flows leaving an event-based gateway that has a timer among its branches."""
    nodes = {el.get("id"): el for el in process.iter() if isinstance(el.tag, str) and el.get("id")}
    flows = list(process.iter(f"{{{BPMN_NS}}}sequenceFlow"))
    found = set()
    for gateway in process.iter(f"{{{BPMN_NS}}}eventBasedGateway"):
        leaving = [f for f in flows if f.get("sourceRef") == gateway.get("id")]
        targets = [nodes.get(f.get("targetRef")) for f in leaving]
        if any(t is not None and t.find("bpmn:timerEventDefinition", NS) is not None for t in targets):
            found |= {f.get("id") for f in leaving}
    return found


def line_of(document: etree._Element, element_id: str | None) -> int | None:
    """The line of the element with this id (for errors that name an element but not its line)."""
    if not element_id:
        return None
    for element in document.iter():
        if isinstance(element.tag, str) and element.get("id") == element_id:
            return element.sourceline
    return None


def line_of_reference(document: etree._Element, reference: str) -> tuple[int | None, str | None]:
    """(line, element id) of the first element that refers to ``reference`` (in an attribute or its text)."""
    for element in document.iter():
        if not isinstance(element.tag, str):
            continue
        if (element.text or "").strip() == reference or reference in element.attrib.values():
            return element.sourceline, _owner_id(element)
    return None, None


# Camunda settings a policy team can enter in the modeller's properties panel that this engine does not act on,
# with what the engine does instead. Listed on the deployment review so nobody relies on them unknowingly.
_IGNORED_ATTRIBUTES = {
    "asyncBefore": "each step runs as soon as the step before it finishes; there is no job executor",
    "asyncAfter": "each step runs as soon as the step before it finishes; there is no job executor",
    "exclusive": "each step runs as soon as the step before it finishes; there is no job executor",
    "jobPriority": "there is no job executor",
    "taskPriority": "there is no job executor",
    "assignee": "tasks go to people by their lane (role) and the party rules (see docs/diagram-conventions.md)",
    "candidateUsers": "tasks go to people by their lane (role) and the party rules",
    "candidateGroups": "tasks go to people by their lane (role) and the party rules",
    "dueDate": "deadlines are timer boundary events on the task",
    "followUpDate": "reminders are timer boundary events on the task",
    "priority": "the inbox orders tasks by deadline",
    "historyTimeToLive": "how long records are kept is the protocol's retention period",
    "isStartableInTasklist": "who may raise an escalation follows the start event's lane",
}
_IGNORED_ELEMENTS = {
    "executionListener": "listeners are not run: draw a script task where the work must happen",
    "taskListener": "listeners are not run: draw a script task where the work must happen",
    "inputOutput": "input/output mappings are not applied: every task sees the escalation's data",
    "in": "every variable is passed to the called process and back",
    "out": "every variable is passed to the called process and back",
    "failedJobRetryTimeCycle": "there is no job executor to retry; a failed step stops the escalation with its error",
}


@dataclass(frozen=True)
class IgnoredSetting:
    """A setting in the file that the engine will not act on (shown before deploying, not refused)."""
    line: int | None
    element_id: str
    setting: str
    instead: str

    def describe(self) -> str:
        return f"line {self.line}, element '{self.element_id}': camunda:{self.setting} is not used — {self.instead}"


def ignored_settings(bpmn_text: str, filename: str) -> list[IgnoredSetting]:
    """Every Camunda setting in the diagram that this engine ignores, in file order."""
    root = _parse_xml(bpmn_text, filename)
    found: list[IgnoredSetting] = []
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        for attribute, instead in _IGNORED_ATTRIBUTES.items():
            if element.get(f"{{{CAMUNDA_NS}}}{attribute}") is not None:
                found.append(IgnoredSetting(element.sourceline, element.get("id", "?"), attribute, instead))
        name = etree.QName(element)
        if name.namespace == CAMUNDA_NS and name.localname in _IGNORED_ELEMENTS:
            owner = next((a for a in element.iterancestors() if a.get("id")), None)
            found.append(IgnoredSetting(element.sourceline, owner.get("id") if owner is not None else "?",
                                        name.localname, _IGNORED_ELEMENTS[name.localname]))
    return found
