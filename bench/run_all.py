"""One table per database: the app's core operations next to the raw SpiffWorkflow floor measured in the same
loop, with the ratio; then the stored bytes per instance. SQLite always; PostgreSQL too when it answers.

    .venv/bin/python bench/run_all.py [--instances 300] [--repeat 100] [--pg URL | --no-pg]

The partnership escalation is a two-party ladder; every figure is taken over HTTP (Flask's test client, JSON
API, bearer tokens), each as the person the task is assigned to (two agencies' chains; see common.py):
- "start": the raising professional raises an escalation (routing, both sides' Stage 1 tasks assigned);
- "raising side, Stage 1": the raising professional's discussion record; the stage stays open;
- "other side, closes Stage 1 -> 2": the other professional's acknowledgement, which joins both sides, decides,
  escalates, routes Stage 2 (DMN), notifies both line managers and opens both sides' Stage 2 tasks;
- "due timer fired by the sweep": one sweep round firing one escalation whose Stage 1 deadlines passed (both
  sides' breaches recorded, the other side's task closed as "no response", both sides told).

"floor" = the same engine work with SpiffWorkflow alone, on the same stored state: load the state the app
stored before that operation (the workflow with the deployment's parsed spec, as the app loads it), do the
same step with the same validated data (start: a new workflow from the spec run to its first wait; complete:
the same task; timer: refresh timers), run the engine to its next wait, and serialize it as the app stores it.
No database, no HTTP, no task projection, assignment, history or notifications. The floor checks it reached
the same ready tasks as the app. The ratio shows what all of those add on top.

Two more rows measure what any change through this stack pays before doing any work of its own (same run, same
database): "no-op API request" is an authenticated request to a route that answers ``{}`` (Flask, the token
check, JSON), and "durable write" reads the instance's stored state and writes it back with one history INSERT, committed
(SQLAlchemy Core, no ORM). "lowest ratio reachable" is (floor + both) / floor (the sweep makes no request: floor +
write): the best ratio an operation could show if the app did nothing beyond the engine step, one authenticated
request and one durable write.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import time_machine

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow  # noqa: E402
from SpiffWorkflow.util.task import TaskState  # noqa: E402
from flask import jsonify  # noqa: E402
from sqlalchemy import LargeBinary, func, insert, select, type_coerce, update  # noqa: E402

from workflow_app import create_app  # noqa: E402
from workflow_app.cli import deploy_repository_diagrams  # noqa: E402
from workflow_app.engine.scripting import make_script_engine  # noqa: E402
from workflow_app.engine.serialization import dumps_workflow, loads_workflow  # noqa: E402
from workflow_app.engine.task_ids import new_workflow  # noqa: E402
from workflow_app.extensions import db  # noqa: E402
from workflow_app.persistence.models import HistoryEntry, ProcessInstance  # noqa: E402
from workflow_app.services import deployments, instances, people, timers  # noqa: E402
from workflow_app.services.deployments import bundle_for, latest_deployment  # noqa: E402
from workflow_app.services.expressions import diagram_functions  # noqa: E402
from workflow_app.services.form_validation import validate_submission  # noqa: E402

from common import (FAST_HASHING, OTHER_PROFESSIONAL, PASSWORD, PROTOCOL, RAISER, STAGE2_HOLDERS,  # noqa: E402
                    START, bench_people, ensure_postgres_database, other_form, raising_form)

RAISING_DATA, OTHER_DATA = raising_form("unresolved"), other_form("resolved")
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)  # a Tuesday; Stage 1 deadlines fall on Thursday
AFTER_DEADLINES = T0 + timedelta(days=7)
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/wf_bench"


def ms(fn) -> float:
    began = time.perf_counter()
    fn()
    return (time.perf_counter() - began) * 1000


def ready_elements(workflow) -> list[str]:
    return sorted(t.task_spec.bpmn_id for t in workflow.get_tasks(state=TaskState.READY, manual=True))


class Floor:
    """SpiffWorkflow alone, on the deployment's parsed spec and the diagram's own script engine and functions."""

    def __init__(self, bundle, script_engine):
        self.bundle, self.script_engine = bundle, script_engine

    def _load(self, state: str) -> BpmnWorkflow:
        workflow = loads_workflow(state, self.bundle.spec, self.bundle.subprocess_specs)
        workflow.script_engine = self.script_engine
        return workflow

    def _finish(self, workflow: BpmnWorkflow, expect: list[str]) -> None:
        workflow.do_engine_steps()
        dumps_workflow(workflow)
        assert ready_elements(workflow) == expect, ("the floor did not reach what the app reached",
                                                    ready_elements(workflow), expect)

    def start(self, data: dict, expect: list[str]) -> float:
        def once():
            workflow = new_workflow(self.bundle.spec, self.bundle.subprocess_specs)  # as the app makes one
            workflow.script_engine = self.script_engine
            for task in workflow.get_tasks(state=TaskState.READY):
                task.set_data(**data)
            self._finish(workflow, expect)
        return ms(once)

    def complete(self, state: str, element_id: str, data: dict, expect: list[str]) -> float:
        def once():
            workflow = self._load(state)
            task = next(t for t in workflow.get_tasks(state=TaskState.READY, manual=True)
                        if t.task_spec.bpmn_id == element_id)
            task.set_data(**data)
            task.run()
            self._finish(workflow, expect)
        return ms(once)

    def fire(self, state: str, expect: list[str]) -> float:
        def once():
            workflow = self._load(state)
            workflow.refresh_timers()
            self._finish(workflow, expect)
        return ms(once)


def measure(url: str, count: int, repeat: int) -> tuple[list[tuple[str, float, float | None]], dict]:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TIMER_SWEEP_SECONDS": 0, "SECRET_KEY": "bench",
                      "WTF_CSRF_ENABLED": False, **FAST_HASHING})
    app.add_url_rule("/api/bench-no-op", "bench_no_op", lambda: jsonify({}))  # the framework's own cost
    with app.app_context(), time_machine.travel(T0, tick=True) as traveller:
        db.drop_all()
        db.create_all()
        deploy_repository_diagrams()
        bench_people()
        tokens = {name: people.issue_token(people.get_user(name), label="bench")[1]
                  for name in (RAISER, OTHER_PROFESSIONAL)}
        db.session.commit()
        client = app.test_client()

        def api(name: str, method: str, path: str, body: dict | None = None, expect: int = 200) -> dict:
            response = client.open(path, method=method, json=body, headers={"Authorization": f"Bearer {tokens[name]}"})
            assert response.status_code == expect, (path, response.status_code, response.get_json())
            return response.get_json()

        deployment = latest_deployment(PROTOCOL)
        bundle = bundle_for(deployment)
        floor = Floor(bundle, make_script_engine({
            "protocol_setting": lambda name, default=None: bundle.properties.get(name, default),
            **diagram_functions(deployments.calendar_of(deployment))}))
        choices = instances.dynamic_choices()
        clean_start = validate_submission(bundle.start_form, {**START, "case_reference": "FLOOR"},
                                          dynamic_choices=choices)
        clean = {element: validate_submission(bundle.forms[element], data, dynamic_choices=choices)
                 for element, data in (("stage1_discussion", RAISING_DATA), ("stage1_acknowledge", OTHER_DATA))}
        stage1 = ["stage1_acknowledge", "stage1_discussion"]
        stage2 = ["stage2_acknowledge", "stage2_discussion"]

        def stored_state(instance_id: int) -> str:
            return db.session.scalar(select(ProcessInstance.state).where(ProcessInstance.id == instance_id))

        app_ms: dict[str, list[float]] = {k: [] for k in ("start", "raising", "closing", "timer")}
        floor_ms: dict[str, list[float]] = {k: [] for k in app_ms}
        started: list[dict] = []
        for n in range(count):
            app_ms["start"].append(ms(lambda: started.append(api(
                RAISER, "POST", "/api/instances", {"protocol": PROTOCOL,
                                                   "data": {**START, "case_reference": f"A-{n}"}}, 201))))
            if n < repeat:
                floor_ms["start"].append(floor.start(clean_start, stage1))
        for body in started[:repeat]:
            ready = {t["name"]: t["id"] for t in body["ready_tasks"]}
            before = stored_state(body["id"])
            app_ms["raising"].append(ms(lambda: api(RAISER, "POST", f"/api/tasks/{ready['stage1_discussion']}/complete",
                                                    {"data": RAISING_DATA})))
            floor_ms["raising"].append(floor.complete(before, "stage1_discussion", clean["stage1_discussion"],
                                                      ["stage1_acknowledge"]))
            before = stored_state(body["id"])
            result = {}
            app_ms["closing"].append(ms(lambda: result.update(api(
                OTHER_PROFESSIONAL, "POST", f"/api/tasks/{ready['stage1_acknowledge']}/complete", {"data": OTHER_DATA}))))
            floor_ms["closing"].append(floor.complete(before, "stage1_acknowledge", clean["stage1_acknowledge"], stage2))
            holders = sorted((t["name"], t["assigned_to"]) for t in result["ready_tasks"])
            assert holders == sorted(zip(("stage2_discussion", "stage2_acknowledge"), STAGE2_HOLDERS)), holders
        # The escalations left at Stage 1 pass their deadlines; each sweep round fires one of them.
        waiting = [body["id"] for body in started[repeat:]]
        traveller.move_to(AFTER_DEADLINES)
        for instance_id in waiting[:repeat]:
            before = stored_state(instance_id)
            swept = {}
            app_ms["timer"].append(ms(lambda: swept.update(fired=timers.run_once(limit=1).fired)))
            assert swept["fired"] == [instance_id], (swept, instance_id)
            floor_ms["timer"].append(floor.fire(before, ["stage1_discussion"]))
        client.post("/login", data={"username": RAISER, "password": PASSWORD})
        page_ms = [ms(lambda: client.get(f"/instances/{started[0]['id']}")) for _ in range(repeat)]
        no_op_ms = [ms(lambda: api(RAISER, "GET", "/api/bench-no-op")) for _ in range(repeat)]
        write_ms = [ms(lambda: durable_write(started[0]["id"])) for _ in range(repeat)]
        # What the database holds (both columns are stored encrypted, as bytes): their lengths as stored.
        sizes = db.session.execute(select(func.length(type_coerce(ProcessInstance.state, LargeBinary)),
                                          func.length(type_coerce(ProcessInstance.data, LargeBinary)))).all()
        stored = statistics.median(state + data for state, data in sizes)
        by_stage = stored_by_stage(instances.start_instance(
            PROTOCOL, {**START, "case_reference": "CLIMB"}, user=people.get_user(RAISER)).id)
        db.session.remove()
        db.engine.dispose()
    median = statistics.median
    rows = [("start an escalation", median(app_ms["start"]), median(floor_ms["start"])),
            ("complete task over HTTP: raising side, Stage 1", median(app_ms["raising"]), median(floor_ms["raising"])),
            ("complete task over HTTP: other side, closes Stage 1 -> 2", median(app_ms["closing"]),
             median(floor_ms["closing"]))]
    if app_ms["timer"]:
        rows.append(("due timer fired by the sweep (one escalation)", median(app_ms["timer"]),
                     median(floor_ms["timer"])))
    rows.append(("instance page (history, at Stage 2)", median(page_ms), None))
    framework = {"no_op": median(no_op_ms), "write": median(write_ms)}
    return rows, {"stored": stored, "timers": len(app_ms["timer"]), "by_stage": by_stage, "framework": framework}


def durable_write(instance_id: int) -> None:
    """The least a change must write: the instance's new state and one history row, in one committed
    transaction (Core statements; the state is the instance's own, written back re-encrypted)."""
    state = db.session.scalar(select(ProcessInstance.state).where(ProcessInstance.id == instance_id))
    db.session.execute(update(ProcessInstance).where(ProcessInstance.id == instance_id).values(state=state))
    db.session.execute(insert(HistoryEntry).values(instance_id=instance_id, at=T0, kind="bench_write",
                                                   data={"bench": True}))
    db.session.commit()


def stored_bytes(instance_id: int) -> int:
    state, data = db.session.execute(select(func.length(type_coerce(ProcessInstance.state, LargeBinary)),
                                            func.length(type_coerce(ProcessInstance.data, LargeBinary)))
                                     .where(ProcessInstance.id == instance_id)).one()
    return state + data


def stored_by_stage(instance_id: int) -> list[tuple[str, int]]:
    """Not timed: one escalation referred up rung by rung (each task by the person holding it), with its stored
    bytes at each stage: the state keeps every task the escalation has run, so it grows as it climbs."""
    sizes = []
    for _ in range(6):
        db.session.expire_all()
        instance = instances.get_instance(instance_id)
        ready = sorted((t for t in instance.tasks if t.state == "ready"), key=lambda t: t.party != "raising")
        sizes.append(((ready[0].stage or ready[0].title) if ready else instance.status, stored_bytes(instance_id)))
        if len(ready) != 2 or any(t.assigned_to is None for t in ready):
            break  # the ladder's two-party stages are over (Stage 5 is the partnership's own)
        for record in ready:
            form = RAISING_DATA if record.party == "raising" else OTHER_DATA
            instances.complete_task(record.id, form, user=record.assigned_to)
    return sizes


def print_table(name: str, rows, extra: dict, count: int, repeat: int) -> None:
    print(f"\n== {name}: {count} escalations, medians of {repeat} (timer: {extra['timers']})")
    print(f"{'operation':<58} {'app ms':>8} {'floor ms':>9} {'ratio':>7}")
    for label, app_value, floor_value in rows:
        if floor_value is None:
            print(f"{label:<58} {app_value:>8.2f} {'-':>9} {'-':>7}")
        else:
            print(f"{label:<58} {app_value:>8.2f} {floor_value:>9.2f} {app_value / floor_value:>6.2f}x")
    framework = extra["framework"]
    print(f"{'no-op API request (token check, JSON answer)':<58} {framework['no_op']:>8.2f}")
    print(f"{'durable write (state + one history row, committed)':<58} {framework['write']:>8.2f}")
    reachable = []
    for label, _, floor_value in rows:
        if floor_value:  # the sweep is no HTTP request: it pays only the write
            fixed = framework["write"] + (0 if "sweep" in label else framework["no_op"])
            reachable.append(f"{label.split(':')[-1].split('(')[0].strip()} {(floor_value + fixed) / floor_value:.2f}x")
    print(f"  lowest ratio reachable, (floor + request + write) / floor: {', '.join(reachable)}")
    print(f"{'stored bytes per instance (state + data, history aside)':<58} {extra['stored']:>8.0f}")
    print("  one escalation as it climbs: " + ", ".join(f"Stage {stage}: {size:,}" for stage, size in extra["by_stage"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL URL (its database is created when missing)")
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    args = parser.parse_args()
    count = max(args.instances, 2 * args.repeat)  # half complete Stage 1, the rest wait for their deadlines
    targets = [("SQLite", f"sqlite:///{tempfile.mkdtemp(prefix='wf-all-')}/bench.db")]
    if not args.no_pg:
        if ensure_postgres_database(args.pg):
            targets.append(("PostgreSQL", args.pg))
        else:
            print(f"PostgreSQL at {args.pg.split('@')[-1]} does not answer: SQLite only")
    for name, url in targets:
        rows, extra = measure(url, count, args.repeat)
        print_table(name, rows, extra, count, args.repeat)


if __name__ == "__main__":
    main()
