"""Diagram Python runs in a sandbox: escape attempts fail with a clear error and change nothing."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Api
from workflow_app.engine.scripting import MAX_DATA_BYTES, SandboxViolation, make_script_engine

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


def test_a_script_task_that_tries_to_read_a_file_is_refused_at_deploy(app_factory, clock, tmp_path):
    """Since issue 13 such a script never reaches an escalation: deploying it fails, naming the element."""
    from workflow_app.cli import deploy_repository_diagrams
    from workflow_app.services.errors import DeploymentFailed
    (tmp_path / "bpmn").mkdir()
    (tmp_path / "dmn").mkdir()
    (tmp_path / "bpmn" / "escape_attempt.bpmn").write_text(ESCAPING_DIAGRAM)
    app = app_factory(deploy=False, BPMN_DIR=tmp_path / "bpmn", DMN_DIR=tmp_path / "dmn")
    with app.app_context(), pytest.raises(DeploymentFailed) as failure:
        deploy_repository_diagrams()
    assert "element 'attack'" in failure.value.message and "open" in failure.value.message


def _deploy_script(app_factory, tmp_path, script: str):
    (tmp_path / "bpmn").mkdir()
    (tmp_path / "dmn").mkdir()
    (tmp_path / "bpmn" / "escape_attempt.bpmn").write_text(
        ESCAPING_DIAGRAM.replace("secrets = open('/etc/passwd').read()", script))
    return app_factory(BPMN_DIR=tmp_path / "bpmn", DMN_DIR=tmp_path / "dmn")


@pytest.mark.parametrize("script,clue", [
    ("secrets = ''.ljust(1500000000)", "ljust() is limited"),
    ("secrets = ['x' * 100000] * 20", f"larger than {MAX_DATA_BYTES:,} bytes"),
])
def test_a_script_task_that_builds_too_much_stops_the_instance_visibly(app_factory, clock, tmp_path, script, clue):
    """Code that passes the deploy checks but builds too much at run time stops the instance, naming the
    element, and leaves nothing oversized in its data."""
    app = _deploy_script(app_factory, tmp_path, script)
    with app.app_context():
        api = Api(app.test_client())
        result = api.start("escape_attempt", {"case_reference": "X"})
        assert result["status"] == "error"
        assert clue in result["error"]
        assert "secrets" not in result["data"]
        assert [h["kind"] for h in result["history"]] == ["started", "error"]
        assert "attack" in str(result["history"][-1])


# Issue 13, finding 2: single C-level calls that built huge objects inside one line, past the time limit.
SIZE_ATTACKS = {
    "ljust": ("''.ljust(1500000000)", "ljust() is limited"),
    "rjust": ("'a'.rjust(1500000000)", "rjust() is limited"),
    "center": ("'a'.center(1500000000)", "center() is limited"),
    "zfill": ("'1'.zfill(1500000000)", "zfill() is limited"),
    "expandtabs": ("('\\t' * 100000).expandtabs(100000)", "expandtabs() is limited"),
    "unbound ljust": ("str.ljust('', 1500000000)", "not on a type"),
    "percent width": ("'%1500000000s' % 'a'", "width or precision is limited"),
    "percent precision": ("'%.1500000000f' % 1.0", "width or precision is limited"),
    "percent star": ("'%*s' % (1500000000, 'a')", "widths given as * are not allowed"),
    "replace": ("('x' * 100000).replace('x', 'y' * 100000)", "replace() is limited"),
    "replace empty": ("('x' * 100000).replace('', 'y' * 100000)", "replace() is limited"),
    "shift": ("1 << 8000000000", "shifted with << is limited"),
    "big product": ("(1 << 16000) * (1 << 16000)", "integer product is limited"),
    "product of shifts": ("(1 << 640000000) * (1 << 640000000)", "is limited"),
    "format method": ("'{:1500000000}'.format('a')", "format() method of strings is not allowed"),
    "format_map": ("'{a:1500000000}'.format_map({'a': 1})", "format_map() method of strings is not allowed"),
    "f-string width": ("f\"{'a':1500000000}\"", "width or precision in an f-string is limited"),
    "f-string computed width": ("f\"{'a':{1500000000}}\"", "must be written out"),
    "f-string of a huge list": ("f\"{['x' * 100000] * 100000}\"", "f-string is limited"),
    "str of a huge list": ("str(['x' * 100000] * 100000)", "str() is limited"),
    "join": ("''.join(['x' * 100000] * 100000)", "join() is limited"),
    "translate": ("('a' * 100000).translate({97: 'b' * 100000})", "translate() method of strings is not allowed"),
    "sum of lists": ("sum([[1] * 100000] * 100000, [])", "limited to 100000 items"),
    "bytes": ("bytes(1500000000)", "bytes"),
    "bytearray": ("bytearray(1500000000)", "bytearray"),
    "bytes ljust": ("b''.ljust(1500000000)", "ljust() is limited"),
    "bytes repeat": ("b'a' * 1500000000", "limited to 100000"),
    "pow": ("pow(10, 10000000)", "pow"),
    "pow three arguments": ("pow(2, 8000000000, 7)", "pow"),
}


@pytest.mark.parametrize("name", list(SIZE_ATTACKS))
def test_c_level_calls_cannot_build_huge_values(environment, name):
    expression, clue = SIZE_ATTACKS[name]
    with pytest.raises((SandboxViolation, NameError, NotImplementedError)) as failure:
        environment.evaluate(expression, {})
    assert clue in str(failure.value)


SIZE_SCRIPTS = {
    "x += x (text)": ("x = 'ab'\nfor i in range(100):\n    x += x", "limited to 1000000 characters"),
    "x = x + x (text)": ("x = 'ab'\nfor i in range(100):\n    x = x + x", "limited to 1000000 characters"),
    "x += x (list)": ("x = [1]\nfor i in range(100):\n    x += x", "limited to 100000 items"),
    "x *= x (int)": ("x = 3\nfor i in range(100):\n    x *= x", "integer product is limited"),
    "x <<= n": ("x = 1\nx <<= 8000000000", "shifted with << is limited"),
    "x %= width": ("x = '%1500000000s'\nx %= 'a'", "width or precision is limited"),
    "extend itself": ("l = [1]\nfor i in range(100):\n    l.extend(l)", "extend() is limited"),
    "slice assignment": ("l = [1]\nfor i in range(100):\n    l[len(l):] = l", "slice of a list is limited"),
    "data left behind": ("big = ['x' * 100000] * 100", f"larger than {MAX_DATA_BYTES:,} bytes"),
    "deep nesting": ("l = []\nfor i in range(1000):\n    l = [l]", "nested more than"),
    "import": ("import os", "Imports are not allowed"),
}


@pytest.mark.parametrize("name", list(SIZE_SCRIPTS))
def test_scripts_cannot_build_huge_values(environment, name):
    script, clue = SIZE_SCRIPTS[name]
    data = {"stage": 1}
    with pytest.raises(SandboxViolation, match=clue.replace("(", r"\(").replace(")", r"\)")):
        environment.execute(script, data)
    assert data == {"stage": 1}, "a refused script leaves the data as it was"


def test_an_expression_value_larger_than_the_data_limit_is_refused(environment):
    with pytest.raises(SandboxViolation, match="larger than"):
        environment.evaluate("['x' * 100000] * 100", {})


def test_an_error_message_does_not_write_out_a_huge_value(environment):
    with pytest.raises(KeyError) as failure:
        environment.evaluate("{}[tuple(['x' * 100000] * 100000)]", {})
    assert len(str(failure.value)) < 200


def test_ordinary_formatting_and_building_still_work(environment):
    context = {"name": "Sam", "days": 3, "notes": ["a", "b"]}
    assert environment.evaluate(
        "'%s: %05.1f' % (name, 2.5) + ' ' + str(notes) + f' {days:>3}' + name.ljust(5, '.') + ','.join(notes)",
        context) == "Sam: 002.5 ['a', 'b']   3Sam..a,b"
    assert environment.evaluate("isinstance(name, str) and str(days) == '3' and 7 % 3 == 1 and (1 << 3) == 8",
                                context) is True
    assert environment.evaluate("sum([1, 2, 3]) + sum([[1], [2]], [])[1] + len(name.replace('a', 'aa'))", context) == 12
    environment.execute("notes.extend(['c'])\nnotes[1:2] = ['x', 'y']\nlabel = 'x' * 3 + 'y'\ntotal = days * 2",
                        context)
    assert (context["notes"], context["label"], context["total"]) == (["a", "x", "y", "c"], "xxxy", 6)


def test_growth_one_item_at_a_time_is_stopped_by_memory_not_by_the_machine(environment):
    """No single line builds anything big, so only the memory budget can stop this: it does, long before the
    time limit, and the process is left no more than about the budget larger."""
    from workflow_app.engine.scripting import MAX_MEMORY_GROWTH, resident_bytes
    before = resident_bytes()
    data = {"stage": 1}
    with pytest.raises(SandboxViolation, match="used more than 256 MB of memory"):
        environment.execute("items = []\nwhile True:\n    items.append(str(len(items)).ljust(900000))\n", data)
    assert data == {"stage": 1}
    assert resident_bytes() - before < MAX_MEMORY_GROWTH + 64 * 1024 * 1024


def test_the_operating_system_memory_limit_turns_a_runaway_script_into_a_clear_error(tmp_path):
    """WORKFLOW_MEMORY_LIMIT_MB: the kernel refuses the allocation; the sandbox reports it and the process lives."""
    import subprocess
    import sys
    program = (
        "from workflow_app import limit_memory\n"
        "from workflow_app.engine import scripting\n"
        "scripting.MAX_MEMORY_GROWTH = 10 ** 12  # only the operating system's limit is left\n"
        "limit_memory(scripting.resident_bytes() // 2 ** 20 + 150)\n"
        "env = scripting.make_script_engine({}).environment\n"
        "try:\n"
        "    env.execute('items = []\\nwhile True:\\n    items.append(str(len(items)).ljust(900000))\\n', {})\n"
        "except scripting.SandboxViolation as exc:\n"
        "    print('refused:', exc)\n"
        "print('alive:', env.evaluate('1 + 1', {}))\n")
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "refused: The expression used more than" in result.stdout and "alive: 2" in result.stdout
