"""Diagram Python runs in a sandbox: escape attempts fail with a clear error and change nothing."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Api
from workflow_app.engine.scripting import SandboxViolation, make_script_engine

ATTACKS = {
    "import": ("__import__('os').system('touch /tmp/pwned')", "__import__"),
    "dunder walk": ("().__class__.__base__.__subclasses__()", "__class__"),
    "open": ("open('/etc/passwd').read()", "open"),
    "getattr walk": ("getattr((), '__class__')", "getattr"),
    "eval": ("eval('1')", "Eval calls are not allowed"),
    "format walk": ("'{0.__class__}'.format(1)", "format"),
    "huge power": ("10 ** 10 ** 10", "** operator is not allowed"),
    "huge string": ("'a' * 1000000000", "limited to 100000"),
    "huge range": ("sum(range(10 * 1000 * 1000 * 1000))", "limited to 100000"),
}


@pytest.fixture
def environment():
    return make_script_engine({"working_days": lambda n: "2026-12-03T09:00:00+00:00"}).environment


@pytest.mark.parametrize("name", list(ATTACKS))
def test_escape_attempts_fail_with_a_clear_error(environment, name):
    expression, clue = ATTACKS[name]
    with pytest.raises((SandboxViolation, NameError, NotImplementedError)) as failure:
        environment.evaluate(expression, {})
    assert clue in str(failure.value)
    assert not Path("/tmp/pwned").exists()


def test_endless_loop_is_stopped(environment):
    with pytest.raises(SandboxViolation, match="ran longer than"):
        environment.execute("n = 0\nwhile True:\n    n = n + 1\n", {})


def test_ordinary_diagram_python_still_works(environment):
    context = {"stage": 2, "outcome": "unresolved"}
    assert environment.evaluate('outcome == "unresolved" and stage < 5', context) is True
    environment.execute("stage = stage + 1\nlevels = [s * 2 for s in range(3)]\ntotal = sum(levels)", context)
    assert (context["stage"], context["levels"], context["total"]) == (3, [0, 2, 4], 6)
    assert "_getattr_" not in context and "working_days" not in context
    assert environment.evaluate("working_days(2)", {}) == "2026-12-03T09:00:00+00:00"


ESCAPING_DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:di="http://www.omg.org/spec/DD/20100524/DI" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="x">
  <bpmn:process id="escape_attempt" name="Escape attempt" isExecutable="true">
    <bpmn:laneSet id="ls"><bpmn:lane id="l" name="Professional"><bpmn:flowNodeRef>go</bpmn:flowNodeRef><bpmn:flowNodeRef>attack</bpmn:flowNodeRef><bpmn:flowNodeRef>done</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="go"><bpmn:extensionElements><camunda:formData><camunda:formField id="case_reference" label="Case" type="string" /></camunda:formData></bpmn:extensionElements><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="attack" name="Attack" scriptFormat="python"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing><bpmn:script>secrets = open('/etc/passwd').read()</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="done"><bpmn:extensionElements><camunda:properties><camunda:property name="status" value="resolved" /></camunda:properties></bpmn:extensionElements><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="go" targetRef="attack" />
    <bpmn:sequenceFlow id="f2" sourceRef="attack" targetRef="done" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="di"><bpmndi:BPMNPlane id="plane" bpmnElement="escape_attempt">
    <bpmndi:BPMNShape id="l_di" bpmnElement="l" isHorizontal="true"><dc:Bounds x="100" y="40" width="500" height="160" /></bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="go_di" bpmnElement="go"><dc:Bounds x="160" y="100" width="36" height="36" /></bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="attack_di" bpmnElement="attack"><dc:Bounds x="260" y="78" width="100" height="80" /></bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="done_di" bpmnElement="done"><dc:Bounds x="420" y="100" width="36" height="36" /></bpmndi:BPMNShape>
    <bpmndi:BPMNEdge id="f1_di" bpmnElement="f1"><di:waypoint x="196" y="118" /><di:waypoint x="260" y="118" /></bpmndi:BPMNEdge>
    <bpmndi:BPMNEdge id="f2_di" bpmnElement="f2"><di:waypoint x="360" y="118" /><di:waypoint x="420" y="118" /></bpmndi:BPMNEdge>
  </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def test_a_script_task_that_tries_to_read_a_file_stops_the_instance_visibly(app_factory, clock, tmp_path):
    (tmp_path / "bpmn").mkdir()
    (tmp_path / "dmn").mkdir()
    (tmp_path / "bpmn" / "escape_attempt.bpmn").write_text(ESCAPING_DIAGRAM)
    app = app_factory(BPMN_DIR=tmp_path / "bpmn", DMN_DIR=tmp_path / "dmn")
    with app.app_context():
        api = Api(app.test_client())
        result = api.start("escape_attempt", {"case_reference": "X"})
        assert result["status"] == "error"
        assert "open" in result["error"]
        assert "secrets" not in result["data"] and "root:" not in str(result)
        assert [h["kind"] for h in result["history"]] == ["started", "error"]
