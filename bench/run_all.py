"""One table: the app's core operations next to the raw SpiffWorkflow floor for the same instance.

    .venv/bin/python bench/run_all.py [--instances 300] [--repeat 100]

"raw floor" = deserialize the same serialized workflow, complete the same Stage 1 task and serialize it
again with SpiffWorkflow alone (no database, no HTTP, no history): the least any engine-backed
completion can cost. The ratio shows what persistence, the task projection, history, notifications and
the sandbox add on top.
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
from workflow_app.extensions import db  # noqa: E402
from workflow_app.services import instances, timers  # noqa: E402

from common import FAST_HASHING, START, bench_user  # noqa: E402

UNRESOLVED = {"date_held": "2026-12-01", "participants": "A, B", "outcome": "unresolved",
              "action_plan": "escalate", "evidence_explored": "meetings"}


def ms(fn) -> float:
    began = time.perf_counter()
    fn()
    return (time.perf_counter() - began) * 1000


def raw_floor(state: str, functions_engine, repeat: int) -> list[float]:
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(DEFAULT_CONFIG))
    samples = []
    for _ in range(repeat):
        def once():
            workflow = serializer.deserialize_json(state)
            workflow.script_engine = functions_engine
            task = workflow.get_tasks(state=TaskState.READY, manual=True)[0]
            task.set_data(**UNRESOLVED)
            task.run()
            workflow.do_engine_steps()
            serializer.serialize_json(workflow)
        samples.append(ms(once))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=100)
    args = parser.parse_args()
    url = f"sqlite:///{tempfile.mkdtemp(prefix='wf-all-')}/bench.db"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TIMER_SWEEP_SECONDS": 0, "SECRET_KEY": "bench",
                      "WTF_CSRF_ENABLED": False, **FAST_HASHING})
    rows = []
    with app.app_context():
        db.create_all()
        deploy_repository_diagrams()
        user = bench_user()
        created = []
        start = [ms(lambda: created.append(instances.start_instance(
            "partnership_escalation", {**START, "case_reference": f"A-{n}"}, user=user)))
            for n in range(args.instances)]
        ids = [i.id for i in created]
        db.session.expire_all()
        first = instances.get_instance(ids[0])
        state = first.state
        from workflow_app.engine.scripting import make_script_engine
        from workflow_app.services.expressions import diagram_functions
        engine = make_script_engine(diagram_functions(instances.calendar_of(first.deployment)))
        complete = []
        for instance_id in ids[: args.repeat]:
            task_id = next(t.id for t in instances.get_instance(instance_id).tasks if t.state == "ready")
            complete.append(ms(lambda: instances.complete_task(task_id, UNRESOLVED, user=user)))
            db.session.expire_all()
        sweep = [ms(timers.run_once) for _ in range(args.repeat)]
        client = app.test_client()
        client.post("/login", data={"username": "bench", "password": "bench-password"})
        page = [ms(lambda: client.get(f"/instances/{ids[-1]}")) for _ in range(args.repeat)]
        floor = raw_floor(state, engine, args.repeat)
    median = statistics.median
    rows = [("start instance", median(start)), ("complete task (Stage 1 -> 2)", median(complete)),
            (f"timer sweep, {len(ids)} open, none due", median(sweep)), ("instance page (history)", median(page)),
            ("raw SpiffWorkflow floor: load + complete + save", median(floor))]
    print(f"{'operation':<50} {'median ms':>10}")
    for label, value in rows:
        print(f"{label:<50} {value:>10.2f}")
    print(f"{'complete task / raw floor':<50} {median(complete) / median(floor):>9.1f}x")


if __name__ == "__main__":
    main()
