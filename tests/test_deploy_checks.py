"""Issue 13, finding 3: every piece of Python in a diagram is checked at deploy, with file, line and element.

Script task scripts, sequence-flow conditions, timer expressions with their arguments and DMN cells are
compiled under the sandbox's rules when deployed; code the sandbox would refuse never reaches a real
escalation.
"""
from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from workflow_app.cli import deploy_repository_diagrams
from workflow_app.engine import DiagramError, parse_bundle
from workflow_app.extensions import db
from workflow_app.persistence.models import Deployment
from workflow_app.services.errors import DeploymentFailed

ROOT = Path(__file__).resolve().parents[1]
SOURCE = (ROOT / "bpmn" / "partnership_escalation.bpmn").read_text()
# The repository's tables are FEEL; these checks are about the sandbox, which guards tables declaring Python.
ROUTING = (ROOT / "dmn" / "partnership_routing.dmn").read_text().replace(
    "<definitions ", '<definitions expressionLanguage="python" ', 1)
BPMN_FILE, DMN_FILE = "partnership_escalation.bpmn", "partnership_routing.dmn"

PAYLOADS = {
    "import": ("import os", "Python cannot read it"),
    "dunder walk": ("().__class__.__base__.__subclasses__()", "__class__"),
    "format trick": ("'{0.__class__}'.format(1)", ".format"),
    "function the engine does not offer": ("open('/etc/passwd').read()", "calls open"),
    "builtin passed along": ("working_days(getattr)", "uses getattr"),
    "syntax error": ("stage ==", "Python cannot read it"),
}
SCRIPT_PAYLOADS = {**PAYLOADS, "import": ("import os", "Imports are not allowed")}

SCRIPT_END = "management_level = 1</bpmn:script>"  # the end of open_stage_1's two-line script
CONDITION = ">support_needed</bpmn:conditionExpression>"  # flow_support_needed_gateway_to_notify_support
TIMER = ">working_days(5)</bpmn:timeDate>"  # stage2_deadline
DMN_INPUT_ENTRY = "<text>1</text>"  # stage_1_in0
DMN_OUTPUT_ENTRY = '<text>"Professional"</text>'  # stage_1_out0
DMN_INPUT_EXPRESSION = "<text>stage</text>"  # input_stage_expr


def line_of(text: str, needle: str) -> int:
    return text[:text.index(needle)].count("\n") + 1


def refusal(bpmn: str = SOURCE, dmn: str = ROUTING) -> DiagramError:
    with pytest.raises(DiagramError) as failure:
        parse_bundle(bpmn, BPMN_FILE, {DMN_FILE: dmn})
    return failure.value


@pytest.mark.parametrize("name", list(SCRIPT_PAYLOADS))
def test_a_script_task_script_is_checked(name):
    payload, clue = SCRIPT_PAYLOADS[name]
    text = SOURCE.replace(SCRIPT_END, f"management_level = 1\n{escape(payload)}</bpmn:script>", 1)
    error = refusal(bpmn=text)
    assert (error.file, error.element_id) == (BPMN_FILE, "open_stage_1")
    assert error.line == line_of(text, escape(payload)), "the line of the offending statement inside the script"
    assert clue in error.message and "script" in error.message


@pytest.mark.parametrize("name", list(PAYLOADS))
def test_a_sequence_flow_condition_is_checked(name):
    payload, clue = PAYLOADS[name]
    text = SOURCE.replace(CONDITION, f">{escape(payload)}</bpmn:conditionExpression>", 1)
    error = refusal(bpmn=text)
    assert (error.file, error.element_id) == (BPMN_FILE, "flow_support_needed_gateway_to_notify_support")
    assert error.line == line_of(text, escape(payload))
    assert clue in error.message and "condition" in error.message


@pytest.mark.parametrize("argument,clue", [
    ("'{0.__class__}'.format(1)", "__class__"),
    ("'{0}'.format(5)", ".format"),
    ("getattr", "uses getattr"),
    ("open('/etc/passwd')", "calls open"),
])
def test_a_timer_expression_argument_is_checked(argument, clue):
    text = SOURCE.replace(TIMER, f">working_days({escape(argument)})</bpmn:timeDate>", 1)
    error = refusal(bpmn=text)
    assert (error.file, error.element_id) == (BPMN_FILE, "stage2_deadline")
    assert error.line == line_of(text, f"working_days({escape(argument)})")
    assert clue in error.message


DMN_CELLS = {
    "input entry": (DMN_INPUT_ENTRY, "stage_1_in0"),
    "output entry": (DMN_OUTPUT_ENTRY, "stage_1_out0"),
    "input expression": (DMN_INPUT_EXPRESSION, "input_stage_expr"),
}


@pytest.mark.parametrize("cell", list(DMN_CELLS))
@pytest.mark.parametrize("name", ["dunder walk", "format trick", "function the engine does not offer",
                                  "syntax error"])
def test_a_decision_table_cell_is_checked(cell, name):
    payload, clue = PAYLOADS[name]
    needle, element_id = DMN_CELLS[cell]
    if name == "syntax error":
        payload = "stage == (1"  # a unary test like '== 1' is a valid input entry
        clue = "Python cannot read it"
    dmn = ROUTING.replace(needle, f"<text>{escape(payload)}</text>", 1)
    error = refusal(dmn=dmn)
    assert (error.file, error.element_id) == (DMN_FILE, element_id)
    assert error.line == line_of(dmn, escape(payload))
    assert clue in error.message and f"decision {cell}" in error.message


@pytest.mark.parametrize("entry", ["? in (1, 2)", "> 3", "<= 2", "-", "", "1", "[1, 2]", "stage == 1"])
def test_decision_input_entries_the_engine_understands_are_accepted(entry):
    parse_bundle(SOURCE, BPMN_FILE, {DMN_FILE: ROUTING.replace(DMN_INPUT_ENTRY, f"<text>{escape(entry)}</text>", 1)})


@pytest.mark.parametrize("script", ["def twice(n):\n    return n * 2\nstage = twice(stage)",
                                    "levels = [working_days(n) for n in range(3)]",
                                    "label = str(stage) + 'x'.ljust(3) + f'{stage:>3}'"])
def test_ordinary_scripts_are_accepted(script):
    parse_bundle(SOURCE.replace(SCRIPT_END, f"management_level = 1\n{escape(script)}</bpmn:script>", 1),
                 BPMN_FILE, {DMN_FILE: ROUTING})


@pytest.mark.parametrize("bpmn", sorted((ROOT / "bpmn").glob("*.bpmn")), ids=lambda p: p.stem)
def test_every_repository_diagram_passes_the_checks(bpmn):
    dmn_files = {p.name: p.read_text() for p in (ROOT / "dmn").glob("*.dmn")}
    parse_bundle(bpmn.read_text(), bpmn.name, dmn_files)


@pytest.fixture
def diagram_dirs(tmp_path):
    bpmn_dir, dmn_dir = tmp_path / "bpmn", tmp_path / "dmn"
    bpmn_dir.mkdir()
    dmn_dir.mkdir()
    (bpmn_dir / BPMN_FILE).write_text(SOURCE.replace(SCRIPT_END, "management_level = 1\nimport os</bpmn:script>", 1))
    (dmn_dir / DMN_FILE).write_text(ROUTING)
    return bpmn_dir, dmn_dir


def test_deploy_refuses_the_diagram_and_deploys_nothing(app_factory, clock, diagram_dirs):
    bpmn_dir, dmn_dir = diagram_dirs
    app = app_factory(deploy=False, BPMN_DIR=bpmn_dir, DMN_DIR=dmn_dir)
    with app.app_context():
        with pytest.raises(DeploymentFailed) as failure:
            deploy_repository_diagrams()
        assert db.session.query(Deployment).count() == 0
    assert f"{BPMN_FILE}, line 350, element 'open_stage_1'" in failure.value.message
    assert "Imports are not allowed" in failure.value.message


# -- issue 14, item 4: what the engine cannot run is refused at deploy, saying what to do instead --------------

UNSUPPORTED = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:message id="Message_reply" name="reply"/>
  <bpmn:process id="unsupported_check" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    {element}
    <bpmn:exclusiveGateway id="choice" default="f3"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing><bpmn:outgoing>f4</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="step"/>
    <bpmn:sequenceFlow id="f2" sourceRef="step" targetRef="choice"/>
    <bpmn:sequenceFlow id="f3" sourceRef="choice" targetRef="end"/>
    <bpmn:sequenceFlow id="f4" sourceRef="choice" targetRef="end"><bpmn:conditionExpression>{condition}</bpmn:conditionExpression></bpmn:sequenceFlow>
  </bpmn:process>
</bpmn:definitions>"""
SCRIPT_STEP = '<bpmn:scriptTask id="step" scriptFormat="python"><bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>'


@pytest.mark.parametrize("element,condition,element_id,clue", [
    ('<bpmn:serviceTask id="step" camunda:delegateExpression="${checker}"/>', "x == 1", "step",
     "Java delegate expression"),
    ('<bpmn:serviceTask id="step" camunda:type="external" camunda:topic="score"/>', "x == 1", "step",
     "no external task workers"),
    ('<bpmn:serviceTask id="step"/>', "x == 1", "step", "would stop every escalation"),
    ('<bpmn:scriptTask id="step" scriptFormat="groovy"><bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>', "x == 1",
     "step", "written in groovy"),
    ('<bpmn:scriptTask id="step" scriptFormat="python" camunda:resource="deployment://x.py"/>', "x == 1", "step",
     "from a resource"),
    ('<bpmn:receiveTask id="step" messageRef="Message_reply"/>', "x == 1", "step", "waits for a message"),
    (SCRIPT_STEP, "${x == 1}", "f4", "Camunda (Java EL) expression"),
    (SCRIPT_STEP, "#{!approved &amp;&amp; x eq 1}", "f4", "'not approved and x == 1'"),
    (SCRIPT_STEP, "=x = 1", "f4", "Camunda 8 (FEEL) expression"),
])
def test_what_the_engine_cannot_run_is_refused_with_line_element_and_advice(element, condition, element_id, clue):
    text = UNSUPPORTED.format(element=element, condition=condition)
    with pytest.raises(DiagramError) as failure:
        parse_bundle(text, "unsupported.bpmn", {})
    error = failure.value
    assert (error.file, error.element_id) == ("unsupported.bpmn", element_id)
    assert error.line == line_of(text, f'id="{element_id}"')
    assert clue in error.message, error.message
    assert "invalid syntax" not in error.message


def test_a_data_store_is_refused_with_its_line():
    text = UNSUPPORTED.format(element=SCRIPT_STEP, condition="x == 1").replace(
        '<bpmn:endEvent id="end">', '<bpmn:dataStoreReference id="store" dataStoreRef="Bank"/><bpmn:endEvent id="end">')
    with pytest.raises(DiagramError) as failure:
        parse_bundle(text, "unsupported.bpmn", {})
    assert failure.value.element_id == "store" and "data stores are not supported" in failure.value.message


def test_an_engine_message_shows_no_python_object():
    """SpiffWorkflow writes XML elements into some messages (``<Element {...}targetRef at 0x7f...>``)."""
    text = UNSUPPORTED.format(element=SCRIPT_STEP.replace(
        "</bpmn:scriptTask>", '<bpmn:dataOutputAssociation id="out"><bpmn:targetRef>missing</bpmn:targetRef>'
                              '</bpmn:dataOutputAssociation></bpmn:scriptTask>'), condition="x == 1")
    with pytest.raises(DiagramError) as failure:
        parse_bundle(text, "unsupported.bpmn", {})
    error = failure.value
    assert " at 0x" not in error.message and "<Element" not in error.message
    assert error.line and error.element_id
