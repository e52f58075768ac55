"""Turn a protocol's BPMN and DMN files into an executable bundle, with errors a policy editor can act on.

Every error names the file, the line and (where known) the element id, whatever layer found it:
the XML parser, SpiffWorkflow's validation, or our own checks of what the engine relies on.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.exceptions import SpiffWorkflowException

from workflow_app.engine.forms import CAMUNDA_NS, FormDefinitionError, FormSpec, read_form

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
DMN_NAMESPACES = ("https://www.omg.org/spec/DMN/20191111/MODEL/", "http://www.omg.org/spec/DMN/20180521/MODEL/",
                  "http://www.omg.org/spec/DMN/20151101/dmn.xsd")
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
                 check_code: bool = True) -> ProcessBundle:
    """Parse one BPMN file (one executable process) and the DMN files it uses."""
    root = _parse_xml(bpmn_text, bpmn_filename)
    processes = [p for p in root.iter(f"{{{BPMN_NS}}}process") if p.get("isExecutable", "true") != "false"]
    if len(processes) != 1:
        raise DiagramError(f"expected exactly one executable process, found {len(processes)}", bpmn_filename)
    process = processes[0]
    process_id = process.get("id")
    _check_ids(root, bpmn_filename)
    _check_decision_refs(root, bpmn_filename, dmn_files)
    if check_code:  # at deploy; a version deployed under older rules still loads for its running escalations
        check_diagram_code(process, bpmn_filename, dmn_files)

    parser = CamundaParser()
    for dmn_name, dmn_text in dmn_files.items():
        _parse_xml(dmn_text, dmn_name)
        try:
            parser.add_dmn_str(dmn_text.encode("utf-8"), filename=dmn_name)
        except ValidationException as exc:
            raise _from_validation(exc, dmn_name) from None
        except Exception as exc:  # noqa: BLE001 - the DMN parser raises assorted errors
            raise DiagramError(f"invalid decision table: {exc}", dmn_name) from None
    try:
        parser.add_bpmn_str(bpmn_text.encode("utf-8"), filename=bpmn_filename)
        spec = parser.get_spec(process_id)
        subprocess_specs = parser.get_subprocess_specs(process_id)
    except ValidationException as exc:
        raise _from_validation(exc, bpmn_filename) from None
    except SpiffWorkflowException as exc:
        raise DiagramError(str(exc), bpmn_filename) from None
    except (KeyError, AttributeError, TypeError, ValueError) as exc:
        raise DiagramError(f"the engine could not read the diagram ({type(exc).__name__}: {exc})",
                           bpmn_filename) from None

    bundle = ProcessBundle(
        process_id=process_id,
        name=process.get("name") or process_id,
        documentation=_documentation(process),
        properties=_properties(process),
        spec=spec,
        subprocess_specs=subprocess_specs,
        start_form=None,
    )
    _collect_elements(process, bundle, bpmn_filename)
    _check_user_tasks_have_forms(process, bundle, bpmn_filename)
    _check_reachable(process, bpmn_filename)
    _check_timer_expressions(process, bpmn_filename)
    return bundle


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


def _collect_elements(process: etree._Element, bundle: ProcessBundle, filename: str) -> None:
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
                form = read_form(element)
            except FormDefinitionError as exc:
                raise DiagramError(str(exc), filename, exc.line, exc.element_id) from None
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
    return DiagramError(message, exc.file_name or filename, exc.line_number or None, exc.id or None)


FLOW_NODE_TAGS = {"startEvent", "endEvent", "userTask", "scriptTask", "businessRuleTask", "serviceTask", "sendTask",
                  "receiveTask", "manualTask", "task", "exclusiveGateway", "parallelGateway", "inclusiveGateway",
                  "eventBasedGateway", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
                  "subProcess", "callActivity"}
# Functions the engine offers to timer expressions (see services/expressions.py and engine/runtime.py).
TIMER_FUNCTIONS = {"working_days", "working_hours", "end_of_working_day", "working_day_cycle", "protocol_setting",
                   "int", "str", "float", "min", "max"}


def _flow_nodes(process: etree._Element) -> dict[str, etree._Element]:
    return {el.get("id"): el for el in process if isinstance(el.tag, str)
            and etree.QName(el).localname in FLOW_NODE_TAGS and el.get("id")}


def _check_user_tasks_have_forms(process: etree._Element, bundle: ProcessBundle, filename: str) -> None:
    for task in process.findall("bpmn:userTask", NS):
        if task.get("id") not in bundle.forms:
            raise DiagramError("user task has no form (camunda:formData): people would have nothing to fill in",
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
    todo = [node_id for node_id, node in nodes.items() if etree.QName(node).localname == "startEvent"]
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
    """A timer expression must be valid diagram Python that calls only functions the engine offers."""
    from workflow_app.engine.scripting import SandboxViolation, check_expression
    for timer in process.iter(f"{{{BPMN_NS}}}timerEventDefinition"):
        event = timer.getparent()
        for expression in timer:
            if not isinstance(expression.tag, str):
                continue
            text = (expression.text or "").strip()
            try:
                called = check_expression(text)
            except SandboxViolation as exc:
                raise DiagramError(f"timer expression '{text}' is not valid: {exc}", filename, expression.sourceline,
                                   event.get("id")) from None
            unknown = sorted(called - TIMER_FUNCTIONS)
            if unknown:
                raise DiagramError(f"timer expression '{text}' calls {', '.join(unknown)}, which the engine does not "
                                   f"offer; use one of {', '.join(sorted(TIMER_FUNCTIONS))}",
                                   filename, expression.sourceline, event.get("id"))


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
                _check_code(expression.text or "", "eval", TIMER_FUNCTIONS, "timer expression", filename,
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
    import re
    for table in root.iter():
        if not isinstance(table.tag, str) or etree.QName(table).localname != "decisionTable":
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
