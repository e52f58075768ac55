"""One table: the app's core operations next to the raw SpiffWorkflow floor for the same instance.

    .venv/bin/python bench/run_all.py [--instances 300] [--repeat 100]

The partnership escalation is a two-party ladder; two completions are timed, each as the person the task is
assigned to (two agencies' chains, every role a different person; see common.py):
- "raising side, Stage 1": the raising professional's discussion record; the stage stays open;
- "other side, closes Stage 1": the other professional's acknowledgement, which joins both sides, takes the
  "Plan agreed by both sides?" decision, escalates, routes Stage 2 (DMN), notifies both line managers and
  opens both sides' Stage 2 tasks, each assigned by climbing that agency's management chain.

"raw floor" = for each of the two, deserialize the same serialized workflow the app completed (the state
before that completion, taken from the database), complete the same task with the same form data, run the
engine to its next wait and serialize it again with SpiffWorkflow alone (the diagram's own script engine and
functions, and the app's one-function ParallelGateway fix, so it is the same engine work; no database, no
HTTP, no task projection, assignment, history or notifications): the least any engine-backed completion can
cost. The floor checks it reached the same ready tasks as the app. The ratios show what persistence, the
task projection, assignment up the chains, history, notifications and the sandbox add on top.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer  # noqa: E402
from SpiffWorkflow.camunda.serializer import DEFAULT_CONFIG  # noqa: E402
from SpiffWorkflow.util.task import TaskState  # noqa: E402

from workflow_app import create_app  # noqa: E402
from workflow_app.cli import deploy_repository_diagrams  # noqa: E402
from workflow_app.engine.scripting import make_script_engine  # noqa: E402
from workflow_app.extensions import db  # noqa: E402
from workflow_app.services import instances, timers  # noqa: E402
from workflow_app.services.deployments import bundle_for  # noqa: E402
from workflow_app.services.expressions import diagram_functions  # noqa: E402
from workflow_app.services.form_validation import validate_submission  # noqa: E402

from common import (FAST_HASHING, OTHER_PROFESSIONAL, PASSWORD, PROTOCOL, RAISER, STAGE2_HOLDERS,  # noqa: E402
                    START, bench_people, other_form, raising_form, stage1_tasks)

RAISING_DATA, OTHER_DATA = raising_form("unresolved"), other_form("resolved")


def ms(fn) -> float:
    began = time.perf_counter()
    fn()
    return (time.perf_counter() - began) * 1000


def ready_elements(workflow) -> list[str]:
    return sorted(t.task_spec.bpmn_id for t in workflow.get_tasks(state=TaskState.READY, manual=True))


def raw_floor(state: str, element_id: str, data: dict, script_engine, repeat: int, expect: list[str]) -> list[float]:
    """Load ``state``, complete the ready task of ``element_id`` with ``data``, run to the next wait, save."""
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(DEFAULT_CONFIG))
    samples, reached = [], []
    for _ in range(repeat):
        def once():
            workflow = serializer.deserialize_json(state)
            workflow.script_engine = script_engine
            task = next(t for t in workflow.get_tasks(state=TaskState.READY, manual=True)
                        if t.task_spec.bpmn_id == element_id)
            task.set_data(**data)
            task.run()
            workflow.do_engine_steps()
            serializer.serialize_json(workflow)
            reached.append(workflow)
        samples.append(ms(once))
        assert ready_elements(reached.pop()) == expect, "the floor did not reach what the app reached"
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=100)
    args = parser.parse_args()
    url = f"sqlite:///{tempfile.mkdtemp(prefix='wf-all-')}/bench.db"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TIMER_SWEEP_SECONDS": 0, "SECRET_KEY": "bench",
                      "WTF_CSRF_ENABLED": False, **FAST_HASHING})
    with app.app_context():
        db.create_all()
        deploy_repository_diagrams()
        users = bench_people()
        raiser, other = users[RAISER], users[OTHER_PROFESSIONAL]
        created = []
        start = [ms(lambda: created.append(instances.start_instance(
            PROTOCOL, {**START, "case_reference": f"A-{n}"}, user=raiser)))
            for n in range(args.instances)]
        ids = [i.id for i in created]
        db.session.expire_all()
        first = instances.get_instance(ids[0])
        state_at_start = first.state
        bundle = bundle_for(first.deployment)
        properties = bundle.properties
        engine = make_script_engine({"protocol_setting": lambda name, default=None: properties.get(name, default),
                                     **diagram_functions(instances.calendar_of(first.deployment))})
        complete_raising, complete_closing, state_waiting_for_other = [], [], None
        for instance_id in ids[: args.repeat]:
            mine, theirs = (t.id for t in stage1_tasks(instances.get_instance(instance_id)))
            complete_raising.append(ms(lambda: instances.complete_task(mine, RAISING_DATA, user=raiser)))
            db.session.expire_all()
            if state_waiting_for_other is None:
                state_waiting_for_other = instances.get_instance(instance_id).state
            complete_closing.append(ms(lambda: instances.complete_task(theirs, OTHER_DATA, user=other)))
            db.session.expire_all()
        opened = sorted((t.element_id, t.assigned_to.username) for t in instances.get_instance(ids[0]).tasks
                        if t.state == "ready")
        assert opened == sorted(zip(("stage2_discussion", "stage2_acknowledge"), STAGE2_HOLDERS)), opened
        sweep = [ms(timers.run_once) for _ in range(args.repeat)]
        client = app.test_client()
        client.post("/login", data={"username": RAISER, "password": PASSWORD})
        shown = client.get(f"/instances/{ids[0]}")
        assert shown.status_code == 200 and b"Stage 2" in shown.data and b"Jo Reed" in shown.data, shown.status_code
        page = [ms(lambda: client.get(f"/instances/{ids[0]}")) for _ in range(args.repeat)]
        # The engine receives the validated form (every field of the form, blanks as None), as in the app.
        choices = instances.dynamic_choices()
        cleaned = {element: validate_submission(bundle.forms[element], data, dynamic_choices=choices)
                   for element, data in (("stage1_discussion", RAISING_DATA), ("stage1_acknowledge", OTHER_DATA))}
        floor_raising = raw_floor(state_at_start, "stage1_discussion", cleaned["stage1_discussion"], engine,
                                  args.repeat, ["stage1_acknowledge"])
        floor_closing = raw_floor(state_waiting_for_other, "stage1_acknowledge", cleaned["stage1_acknowledge"],
                                  engine, args.repeat, ["stage2_acknowledge", "stage2_discussion"])
    median = statistics.median
    rows = [("start instance", median(start)),
            ("complete task: raising side, Stage 1", median(complete_raising)),
            ("complete task: other side, closes Stage 1 -> 2", median(complete_closing)),
            (f"timer sweep, {len(ids)} open, none due", median(sweep)),
            ("instance page (history, at Stage 2)", median(page)),
            ("raw SpiffWorkflow floor: raising side, Stage 1", median(floor_raising)),
            ("raw SpiffWorkflow floor: other side, Stage 1 -> 2", median(floor_closing))]
    print(f"{'operation':<52} {'median ms':>10}")
    for label, value in rows:
        print(f"{label:<52} {value:>10.2f}")
    print(f"{'complete task / raw floor: raising side, Stage 1':<52} "
          f"{median(complete_raising) / median(floor_raising):>9.1f}x")
    print(f"{'complete task / raw floor: other side, Stage 1 -> 2':<52} "
          f"{median(complete_closing) / median(floor_closing):>9.1f}x")


if __name__ == "__main__":
    main()
