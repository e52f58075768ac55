"""History at scale: 100,000 escalations (about 1,000,000 history rows), then median times for the
instance page, a filtered list page and the protocol report, as a process owner sees them.

Rows are bulk-inserted (the engine would take an hour to walk 100,000 instances); a sample of real
instances made through the service sits among them, and it is their pages that are timed.

    .venv/bin/python bench/history.py [--instances 100000] [--runs 7]
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sqlalchemy import insert  # noqa: E402

from workflow_app import create_app  # noqa: E402
from workflow_app.cli import deploy_repository_diagrams  # noqa: E402
from workflow_app.extensions import db  # noqa: E402
from workflow_app.persistence.models import HistoryEntry, ProcessInstance, TaskRecord  # noqa: E402
from workflow_app.services import instances, people  # noqa: E402
from workflow_app.services.deployments import latest_deployment  # noqa: E402

PROTOCOL = "partnership_escalation"
START = {"case_reference": "REAL", "raising_professional": "A", "raising_agency": "Northfield Academy",
         "other_professional": "B", "other_agency": "Children's Social Care", "disagreement": "x",
         "desired_outcome": "y"}
STAGES = [("stage1_discussion", "Stage 1 – Direct professional to professional discussion", "Professional", "1"),
          ("stage2_discussion", "Stage 2 – Direct manager to manager discussion", "Line Manager", "2"),
          ("stage3_discussion", "Stage 3 – Senior manager to senior manager discussion", "Senior Manager", "3")]


def fill(count: int, template_state: str, deployment_id: int, owner_id: int) -> None:
    rng = random.Random(7)
    base = datetime(2024, 1, 1, 9, tzinfo=timezone.utc)
    batch_i, batch_t, batch_h = [], [], []
    task_seq = 0
    for n in range(count):
        started = base + timedelta(minutes=17 * n)
        reached = rng.choice([1, 1, 1, 2, 2, 3])
        status = rng.choice(["resolved", "resolved", "running", "closed", "cancelled"])
        instance_id = n + 1_000_000
        batch_i.append(dict(id=instance_id, deployment_id=deployment_id, protocol_key=PROTOCOL, status=status,
                            case_reference=f"BULK-{n:06d}", current_stage=None, stage_reached=STAGES[reached - 1][1],
                            state=template_state, data={}, started_at=started, started_by="bulk",
                            started_by_id=owner_id, updated_at=started, lock_version=1,
                            next_timer_at=started + timedelta(days=2) if status == "running" else None))
        at = started
        batch_h.append(dict(instance_id=instance_id, at=at, kind="started", actor="bulk", data=START))
        for stage in range(reached):
            element, title, role, number = STAGES[stage]
            taken = rng.randint(0, 7)
            done = at + timedelta(days=taken)
            open_task = status == "running" and stage == reached - 1
            task_seq += 1
            batch_t.append(dict(id=f"bulk-{task_seq:010d}", instance_id=instance_id, element_id=element, title=title,
                                role=role, counterpart_role="counterpart", state="ready" if open_task else "completed",
                                due_at=at + timedelta(days=3), breached_at=done if taken > 3 else None, stage=number,
                                working_days_taken=None if open_task else taken, created_at=at,
                                completed_at=None if open_task else done, completed_by=None if open_task else "bulk"))
            batch_h.append(dict(instance_id=instance_id, at=at, kind="routed", task="Route", data={"stage_role": role}))
            batch_h.append(dict(instance_id=instance_id, at=at, kind="task_claimed", actor="bulk", task=title,
                                data={"assigned_to": "bulk", "previously": None}))
            if taken > 3:
                batch_h.append(dict(instance_id=instance_id, at=at + timedelta(days=3), kind="timer_fired",
                                    task="deadline", data={"due_at": (at + timedelta(days=3)).isoformat()}))
                batch_h.append(dict(instance_id=instance_id, at=at + timedelta(days=3), kind="deadline_breached",
                                    task=title, data={"due_at": (at + timedelta(days=3)).isoformat()}))
            if not open_task:
                batch_h.append(dict(instance_id=instance_id, at=done, kind="task_completed", actor="bulk", task=title,
                                    data={"outcome": "unresolved", "action_plan": "plan", "participants": "A, B"}))
                batch_h.append(dict(instance_id=instance_id, at=done, kind="escalated", task="Escalate", data={"stage": stage + 2}))
            at = done
        if status != "running":
            batch_h.append(dict(instance_id=instance_id, at=at, kind="ended", data={"status": status}))
        if len(batch_i) >= 5000:
            _flush(batch_i, batch_t, batch_h)
            print(f"  {n + 1}/{count} instances", file=sys.stderr, flush=True)
    _flush(batch_i, batch_t, batch_h)


HISTORY_DEFAULTS = {"actor": None, "task": None, "task_id": None, "element_id": None}


def _flush(batch_i, batch_t, batch_h) -> None:
    if not batch_i:
        return
    batch_h[:] = [{**HISTORY_DEFAULTS, **row} for row in batch_h]
    db.session.execute(insert(ProcessInstance.__table__), batch_i)
    db.session.execute(insert(TaskRecord.__table__), batch_t)
    db.session.execute(insert(HistoryEntry.__table__), batch_h)
    db.session.commit()
    batch_i.clear(), batch_t.clear(), batch_h.clear()


def median_ms(client, url: str, runs: int) -> float:
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp(prefix='wf-history-')}/history.db"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TIMER_SWEEP_SECONDS": 0, "SECRET_KEY": "bench",
                      "WTF_CSRF_ENABLED": False, "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    with app.app_context():
        db.drop_all()
        db.create_all()
        deploy_repository_diagrams()
        for agency in ("Northfield Academy", "Children's Social Care"):
            people.get_or_create_agency(agency)
        owner = people.create_user("owner", "bench-password", roles=[people.PROCESS_OWNER, "Professional"],
                                   agency="Children's Social Care", protocols=[PROTOCOL])
        db.session.commit()
        real = [instances.start_instance(PROTOCOL, {**START, "case_reference": f"REAL-{n}"}, user=owner)
                for n in range(5)]
        deployment = latest_deployment(PROTOCOL)
        began = time.perf_counter()
        fill(args.instances, real[0].state, deployment.id, owner.id)
        history_rows = db.session.query(HistoryEntry).count()
        print(f"filled {args.instances} instances, {history_rows} history rows in {time.perf_counter() - began:.0f}s")
        client = app.test_client()
        client.post("/login", data={"username": "owner", "password": "bench-password"})
        pages = [
            ("instance page (history, stage timings)", f"/instances/{real[2].id}"),
            ("instance page of a bulk instance", f"/instances/{1_000_000 + args.instances // 2}"),
            ("filtered list: running, overdue, page 1", f"/instances?protocol={PROTOCOL}&status=running&overdue=1"),
            ("filtered list: case reference prefix", "/instances?case=BULK-0999"),
            ("filtered list: protocol + stage reached + dates",
             f"/instances?protocol={PROTOCOL}&stage=Stage 2 – Direct manager to manager discussion"
             "&from=2025-01-01&to=2025-03-31"),
            ("filtered list: dates only, all my protocols", "/instances?from=2025-01-01&to=2025-03-31"),
            ("protocol report (all figures)", f"/reports/{PROTOCOL}"),
            ("history CSV of one instance", f"/instances/{real[2].id}/history.csv"),
        ]
        print(f"{'page':<46} {'median ms':>10} {'runs':>5}")
        for label, path in pages:
            print(f"{label:<46} {median_ms(client, path, args.runs):>10.1f} {args.runs:>5}")


if __name__ == "__main__":
    main()
