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
ROUTING = (ROOT / "dmn" / "partnership_routing.dmn").read_text()
BPMN_FILE, DMN_FILE = "partnership_escalation.bpmn", "partnership_routing.dmn"

PAYLOADS = {
    "import": ("import os", "not valid Python"),
    "dunder walk": ("().__class__.__base__.__subclasses__()", "__class__"),
    "format trick": ("'{0.__class__}'.format(1)", ".format"),
    "function the engine does not offer": ("open('/etc/passwd').read()", "calls open"),
    "builtin passed along": ("working_days(getattr)", "uses getattr"),
    "syntax error": ("stage ==", "not valid Python"),
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
        clue = "not valid Python"
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
    assert f"{BPMN_FILE}, line 349, element 'open_stage_1'" in failure.value.message
    assert "Imports are not allowed" in failure.value.message
