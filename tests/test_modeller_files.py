"""Issue 14, items 3 and 4: files as Camunda Modeler 5 (Platform 7) saves them deploy and run, or are refused
at deploy with file, line, element and what to do instead — never accepted and then stuck at run time.

The diagrams in tests/diagrams/modeller/ were written for these tests in the style Camunda Modeler 5 saves
(namespaces, ``xsi:type="bpmn:tFormalExpression"``, unquoted ISO 8601 timers, diagram interchange).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import london
from workflow_app.engine import DiagramError, parse_bundle
from workflow_app.extensions import db
from workflow_app.services import deployments, instances, people, timers, views
from workflow_app.services.errors import DeploymentFailed

FOLDER = Path(__file__).resolve().parent / "diagrams" / "modeller"


def text(name: str) -> str:
    return (FOLDER / name).read_text(encoding="utf-8")


def line_of(name: str, needle: str) -> int:
    source = text(name)
    return source[:source.index(needle)].count("\n") + 1


@pytest.fixture
def admin(app_factory, clock):
    app = app_factory(deploy=False)
    with app.app_context():
        user = people.create_user("modeller.admin", "correct horse battery", roles=[people.ADMINISTRATOR])
        db.session.commit()
        yield user


def deploy(name: str, **others: str):
    result = deployments.deploy_upload(name, text(name), {n: text(n) for n in others.values()}, actor="test",
                                       create_roles=True)
    db.session.commit()
    return result.deployment


def refusal(name: str, **others: str) -> dict:
    with pytest.raises(DeploymentFailed) as failure:
        deploy(name, **others)
    db.session.rollback()
    problem = failure.value.problems[0]
    assert problem["file"] and problem["line"] and problem["element_id"], problem
    for raw in ("<Element", " at 0x", "Error:", "Exception", "invalid syntax"):
        assert raw not in failure.value.message
    return problem


def kinds(instance) -> list[str]:
    return [entry.kind for entry in instance.history]


def test_an_unquoted_p7d_and_an_r3_cycle_deploy_and_fire(admin, clock):
    deployment = deploy("modeller_timers.bpmn")
    instance = instances.start_instance(deployment.protocol_key, {}, user=admin)
    assert instance.status == "running"
    (task,) = [t for t in instance.tasks if t.state == "ready"]
    assert task.title == "Review the case"
    assert instance.next_timer_at == london(2026, 12, 1, 9, 10), "the first of three reminders, 10 minutes on"

    for _ in range(3):
        clock.shift(minutes=10, seconds=1)
        timers.run_once()
    db.session.refresh(instance)
    assert kinds(instance).count("reminder") == 3
    assert instance.status == "running", "a reminder cycle does not end the task"
    assert "deadline_breached" not in kinds(instance)

    clock.move_to(london(2026, 12, 8, 9, 0, 1))  # P7D: seven calendar days after the task opened
    timers.run_once()
    db.session.refresh(instance)
    assert "deadline_breached" in kinds(instance)
    assert instance.status == "running" and [t.title for t in instance.tasks if t.state == "ready"] == [
        "Review the case"], "a non-interrupting deadline leaves the task open"


def test_a_cron_cycle_is_refused_at_deploy_saying_so(admin):
    problem = refusal("modeller_cron.bpmn")
    assert problem["element_id"] == "Event_reminder"
    assert problem["line"] == line_of("modeller_cron.bpmn", "0 0 9 * * ?")
    assert "cron" in problem["message"] and "R/P1D" in problem["message"]


def test_a_java_delegate_service_task_is_refused_with_line_and_element(admin):
    problem = refusal("modeller_java_delegate.bpmn")
    assert problem["element_id"] == "Activity_check"
    assert problem["line"] == line_of("modeller_java_delegate.bpmn", 'id="Activity_check"')
    assert "Java class (org.example.eligibility.CheckEligibilityDelegate)" in problem["message"]
    assert "script task" in problem["message"] and "user task" in problem["message"], "says what to do instead"


def test_a_transaction_and_an_event_subprocess_are_accepted_and_run(admin, clock):
    deployment = deploy("modeller_event_subprocess.bpmn")
    instance = instances.start_instance(deployment.protocol_key, {}, user=admin)
    assert instance.status == "running"
    assert [t.title for t in instance.tasks if t.state == "ready"] == ["Confirm the referral"]
    assert instance.data.get("registered") is True, "the transaction's script ran"
    assert instance.next_timer_at == london(2026, 12, 3, 9, 0), "the event subprocess's P2D timer waits"

    clock.shift(days=2, seconds=1)
    timers.run_once()
    db.session.refresh(instance)
    assert instance.status == "running"
    assert [t.title for t in instance.tasks if t.state == "ready"] == ["Confirm the referral"]


def test_a_call_activity_runs_the_process_uploaded_with_it(admin):
    deployment = deploy("modeller_call_parent.bpmn", child="modeller_call_child.bpmn")
    assert set(deployment.dmn_files) == {"modeller_call_child.bpmn"}, "the called file is kept with the version"
    instance = instances.start_instance(deployment.protocol_key, {}, user=admin)
    assert [t.title for t in instance.tasks if t.state == "ready"] == ["Assess the case"]

    (task,) = [t for t in instance.tasks if t.state == "ready"]
    assert [f.name for f in views.task_form(task).fields] == ["notes"], "the called task's form is known"

    deployments.clear_bundle_cache()  # a restart: the stored version parses again with its called process
    assert deployments.bundle_for(deployment).element_names["Activity_assess_case"] == "Assess the case"


def test_a_call_activity_without_its_process_is_refused(admin):
    problem = refusal("modeller_call_parent.bpmn")
    assert problem["element_id"] == "Activity_assess"
    assert "modeller_call_child" in problem["message"] and "upload" in problem["message"]


def test_a_collaboration_with_one_executable_pool_deploys_that_pool(admin):
    deployment = deploy("modeller_collaboration.bpmn")
    assert deployment.protocol_key == "modeller_collaboration"
    instance = instances.start_instance(deployment.protocol_key, {}, user=admin)
    assert [t.title for t in instance.tasks if t.state == "ready"] == ["Write to the partner"]


def test_a_shared_decision_already_deployed_need_not_be_uploaded_again(admin):
    root = Path(__file__).resolve().parents[1]
    routing = (root / "dmn" / "partnership_routing.dmn").read_text()
    source = (root / "bpmn" / "partnership_escalation.bpmn").read_text()
    first = deployments.deploy("partnership_escalation.bpmn", source, {"partnership_routing.dmn": routing},
                               actor="test", create_roles=True)
    db.session.commit()
    changed = source.replace("working_days(2)", "working_days(3)", 1)
    second = deployments.deploy("partnership_escalation.bpmn", changed, {}, actor="test", create_roles=True)
    db.session.commit()
    assert second.created and second.deployment.version == first.deployment.version + 1
    assert second.deployment.dmn_files == {"partnership_routing.dmn": routing}


# -- timer expressions: a timer that cannot produce a time is a deploy error ------------------------------------

TIMER_PROCESS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="timer_kinds_check" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:intermediateCatchEvent id="wait"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:{kind} xsi:type="bpmn:tFormalExpression">{expression}</bpmn:{kind}>
      </bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>"""


def parse_timer(kind: str, expression: str):
    return parse_bundle(TIMER_PROCESS.format(kind=kind, expression=expression), "timers.bpmn", {})


@pytest.mark.parametrize("kind,expression", [
    ("timeDuration", "P7D"), ("timeDuration", '"P7D"'), ("timeDuration", "PT10M"), ("timeDuration", "P1DT2H"),
    ("timeDate", "2026-12-24T09:00:00Z"), ("timeDate", "'2026-12-24T09:00:00+00:00'"), ("timeDate", "working_days(5)"),
    ("timeDate", "end_of_working_day(2)"), ("timeCycle", "R3/PT10M"), ("timeCycle", "R/P1D"),
    ("timeCycle", "working_day_cycle(5, 3)"), ("timeDate", "follow_up_date"),
])
def test_timers_modellers_write_are_accepted(kind, expression):
    bundle = parse_timer(kind, expression)
    assert bundle.timer_expressions["wait"] == expression


@pytest.mark.parametrize("kind,expression,clue", [
    ("timeDuration", "P7X", "not a valid ISO 8601 duration"),
    ("timeDuration", "working_days(5)", "make it a date timer"),
    ("timeDate", "P7D", "is a duration, but the timer is a date"),
    ("timeDate", "working_day_cycle(5)", "make it a cycle timer"),
    ("timeCycle", "0 0/5 * * * ?", "cron expression"),
    ("timeCycle", "R3/PT10X", "not a valid ISO 8601 cycle"),
    ("timeDuration", "${reviewPeriod}", "Camunda (Java EL) expression"),
    ("timeDate", "= now() + duration(\"P1D\")", "Camunda 8 (FEEL) expression"),
    ("timeDuration", "", "empty duration"),
    ("timeDate", "next_tuesday()", "calls next_tuesday"),
])
def test_a_timer_that_cannot_produce_a_time_is_refused_at_deploy(kind, expression, clue):
    with pytest.raises(DiagramError) as failure:
        parse_timer(kind, expression)
    error = failure.value
    assert (error.file, error.element_id) == ("timers.bpmn", "wait")
    assert error.line == TIMER_PROCESS.split("\n").index(next(l for l in TIMER_PROCESS.split("\n") if "{kind}" in l)) + 1
    assert clue in error.message
    assert "invalid syntax" not in error.message and "Error" not in error.message


def test_an_unquoted_duration_reaches_the_engine_as_text():
    """``P7D`` as Camunda writes it would otherwise be read as a variable named P7D when the timer starts."""
    bundle = parse_timer("timeDuration", "P7D")
    definition = bundle.spec.task_specs["wait"].event_definition
    assert definition.expression == "'P7D'"


@pytest.mark.slow
def test_the_corpus_script_sorts_every_file_into_ran_or_refused():
    """bench/modeller_corpus.py over this folder: no file lands in 'other' (crash, hang, stuck, unclear refusal)."""
    import subprocess
    import sys
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "bench/modeller_corpus.py", str(FOLDER)], cwd=root, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    lines = {line.split()[1].rsplit("/", 1)[-1].rstrip(":"): line.split()[0]
             for line in result.stdout.splitlines() if line.startswith(("ran ", "refused ", "other "))}
    assert lines["modeller_java_delegate.bpmn"] == "refused" and lines["modeller_cron.bpmn"] == "refused"
    assert lines["modeller_timers.bpmn"] == "ran" and lines["modeller_call_parent.bpmn"] == "ran"
    assert "other 0" in result.stdout.splitlines()[-1]
