"""History at scale: 1,000 and 100,000 escalations (about 1,400,000 history rows), then median times for the
inbox, the escalations list (page 1 and filtered pages), the instance page and the protocol report.

The partnership escalation is a two-party ladder: at every stage both agencies have a task, each assigned to
one person found by climbing that agency's management chain, and history labels each entry with its side.
The bulk rows are therefore not written by hand: a set of *template* escalations is first walked through the
engine, as the people they are assigned to (two agencies' chains, every role a different person; see
common.py), under a moving clock — reaching Stage 1, 2 or 3, resolved there, still running or cancelled,
with each stage on time or with the raising side's deadline breached. Every bulk escalation is a copy of one
template's rows (instance, both parties, agencies, tasks, history), shifted to its own start time. Copying
takes seconds where the engine would take an hour to walk 100,000 instances; the templates are real
instances made through the service and sit among the copies, and their pages are timed too.

    .venv/bin/python bench/history.py [--instances 1000 100000] [--runs 7] [--pg [URL]]

SQLite by default (a new file per scale); ``--pg`` runs on PostgreSQL, in database wf_history on
127.0.0.1:5432 unless a URL is given (created when missing, its tables dropped and rebuilt for each scale).

Each scale is built in its own database; the table prints every page's median at each scale and the ratio of
the largest to the smallest (a cost that follows the page, not the table, stays near 1x).
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

import time_machine

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sqlalchemy import insert, select, text  # noqa: E402

from workflow_app import create_app  # noqa: E402
from workflow_app.cli import deploy_repository_diagrams  # noqa: E402
from workflow_app.extensions import db  # noqa: E402
from workflow_app.persistence.models import (EscalationParty, HistoryEntry, ProcessInstance, TaskRecord,  # noqa: E402
                                             instance_agencies)
from workflow_app.services import instances, people, report_facts  # noqa: E402
from workflow_app.services.deployments import bundle_for, latest_deployment  # noqa: E402

from common import (FAST_HASHING, OTHER_AGENCY, PASSWORD, PROTOCOL, RAISER, START, bench_people,  # noqa: E402
                    ensure_postgres_database, other_form, raising_form)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)  # a Tuesday: templates start here, one a week apart
STATUSES = ("resolved", "running", "cancelled")
DAYS = ("2024-01-02", "2024-01-05")  # the date filters' range: the bulk copies' second to fifth day
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/wf_history"
BULK_HOLDER = "bulk.holder"
# How often a bulk escalation copies each kind of template: most stop at Stage 1, as in the earlier hand-written
# mix (which also had "closed" ones: in this diagram an escalation is closed unresolved only after Stage 5).
REACHED_WEIGHTS, STATUS_WEIGHTS, LATE_WEIGHTS = [3, 2, 1], [2, 1, 1], [2, 1]


def walk(reached: int, status: str, late: bool, clock: time_machine.Traveller, n: int) -> int:
    """One template escalation through the engine: refer up (raising side 'unresolved' with evidence, other
    side 'resolved') until Stage ``reached``, then both resolve there / leave it open / withdraw it. A late
    stage: the other side answers the next day, the raising side only after its deadline (breach recorded;
    at an open last stage the timer sweep records it and the raising side's task stays open, overdue)."""
    raiser = people.get_user(RAISER)
    instance = instances.start_instance(PROTOCOL, {**START, "case_reference": f"REAL-{n}"}, user=raiser)
    for stage in range(1, reached + 1):
        ready = {t.element_id: t for t in instances.get_instance(instance.id).tasks if t.state == "ready"}
        mine, theirs = ready[f"stage{stage}_discussion"], ready[f"stage{stage}_acknowledge"]
        if stage == reached and status != "resolved":
            if late:  # the other side answered; the raising side's deadline passed and the sweep recorded it
                clock.shift(timedelta(days=1))
                instances.complete_task(theirs.id, other_form("resolved"), user=theirs.assigned_to)
                clock.move_to(mine.due_at + timedelta(minutes=1))
                instances.fire_due_timers(instance.id)  # what the sweep does, for this escalation only
            break
        outcome = "resolved" if stage == reached else "unresolved"
        clock.shift(timedelta(days=1))
        instances.complete_task(theirs.id, other_form("resolved"), user=theirs.assigned_to)
        if late:
            clock.move_to(mine.due_at + timedelta(days=1))
        instances.complete_task(mine.id, raising_form(outcome), user=mine.assigned_to)
        db.session.expire_all()
    if status == "cancelled":
        clock.shift(timedelta(days=2))
        instances.cancel_instance(instance.id, "Superseded by a strategy meeting", user=raiser)
    instance = instances.get_instance(instance.id)
    assert instance.status == status, (instance.status, reached, status, late)
    return instance.id


def make_templates() -> dict[tuple[int, str, bool], int]:
    templates = {}
    with time_machine.travel(T0, tick=False) as traveller:
        for n, key in enumerate((r, s, late) for r in (1, 2, 3) for s in STATUSES for late in (False, True)):
            traveller.move_to(T0 + timedelta(weeks=n))
            templates[key] = walk(*key, traveller, n)
    return templates


def rows_of(model_or_table, where) -> list[dict]:
    table = getattr(model_or_table, "__table__", model_or_table)
    return [dict(row._mapping) for row in db.session.execute(select(table).where(where))]


def snapshot(instance_id: int) -> dict[str, list[dict]]:
    """Every row that makes up one escalation, as plain dicts."""
    return {"instance": rows_of(ProcessInstance, ProcessInstance.id == instance_id),
            "parties": rows_of(EscalationParty, EscalationParty.instance_id == instance_id),
            "agencies": rows_of(instance_agencies, instance_agencies.c.instance_id == instance_id),
            "tasks": rows_of(TaskRecord, TaskRecord.instance_id == instance_id),
            "history": rows_of(HistoryEntry, HistoryEntry.instance_id == instance_id)}


def shifted(row: dict, delta: timedelta, **changes) -> dict:
    out = {k: (v + delta if isinstance(v, datetime) else v) for k, v in row.items()}
    out.update(changes)
    return out


def fill(count: int, templates: dict[tuple[int, str, bool], int]) -> None:
    """Copy the templates ``count`` times. The copies' tasks are held by one stand-in person ("bulk.holder"),
    so the bench people's inboxes keep only the templates' tasks: an inbox shows its owner's own tasks, and
    those do not grow with the escalations everyone else has."""
    rng = random.Random(7)
    stand_in = people.get_user(BULK_HOLDER).id
    snaps = {key: snapshot(i) for key, i in templates.items()}
    base = datetime(2024, 1, 1, 9, tzinfo=timezone.utc)
    batches: dict[str, list[dict]] = {"instance": [], "parties": [], "agencies": [], "tasks": [], "history": []}
    task_seq = 0
    for n in range(count):
        key = (rng.choices((1, 2, 3), REACHED_WEIGHTS)[0], rng.choices(STATUSES, STATUS_WEIGHTS)[0],
               rng.choices((False, True), LATE_WEIGHTS)[0])
        snap = snaps[key]
        template = snap["instance"][0]
        delta = base + timedelta(minutes=17 * n) - template["started_at"]
        instance_id = n + 1_000_000
        batches["instance"].append(shifted(template, delta, id=instance_id, case_reference=f"BULK-{n:06d}"))
        batches["parties"] += [shifted(p, delta, id=None, instance_id=instance_id) for p in snap["parties"]]
        batches["agencies"] += [dict(a, instance_id=instance_id) for a in snap["agencies"]]
        task_ids = {}
        for task in snap["tasks"]:
            task_seq += 1
            task_ids[task["id"]] = f"bulk-{task_seq:010d}"
            held = {k: stand_in for k in ("assigned_to_id", "completed_by_id") if task[k] is not None}
            batches["tasks"].append(shifted(task, delta, id=task_ids[task["id"]], instance_id=instance_id, **held))
        batches["history"] += [shifted(h, delta, id=None, instance_id=instance_id,
                                       task_id=task_ids.get(h["task_id"], h["task_id"])) for h in snap["history"]]
        if len(batches["instance"]) >= 5000:
            _flush(batches)
            print(f"  {n + 1}/{count} instances", file=sys.stderr, flush=True)
    _flush(batches)


def _flush(batches: dict[str, list[dict]]) -> None:
    if not batches["instance"]:
        return
    for rows in (batches["parties"], batches["history"]):
        for row in rows:
            row.pop("id")  # let the database number them
    db.session.execute(insert(ProcessInstance.__table__), batches["instance"])
    db.session.execute(insert(EscalationParty.__table__), batches["parties"])
    db.session.execute(insert(instance_agencies), batches["agencies"])
    db.session.execute(insert(TaskRecord.__table__), batches["tasks"])
    db.session.execute(insert(HistoryEntry.__table__), batches["history"])
    db.session.commit()
    for rows in batches.values():
        rows.clear()


def median_ms(client, url: str, runs: int) -> float:
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(samples)


def build(count: int) -> tuple[object, dict, dict]:
    """A fresh database with ``count`` bulk escalations (and the templates among them); returns the app, the
    templates and the element names of the protocol."""
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp(prefix='wf-history-')}/history.db"
    if url.startswith("postgresql"):
        if not ensure_postgres_database(url):
            raise SystemExit(f"PostgreSQL at {url.split('@')[-1]} does not answer")
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TIMER_SWEEP_SECONDS": 0, "SECRET_KEY": "bench",
                      "WTF_CSRF_ENABLED": False, **FAST_HASHING})
    with app.app_context():
        db.drop_all()
        db.create_all()
        deploy_repository_diagrams()
        bench_people()
        people.create_user("owner", PASSWORD, roles=[people.PROCESS_OWNER], agency=OTHER_AGENCY, protocols=[PROTOCOL])
        people.create_user(BULK_HOLDER, PASSWORD, roles=[], agency=OTHER_AGENCY)
        db.session.commit()
        began = time.perf_counter()
        templates = make_templates()
        print(f"walked {len(templates)} template escalations through the engine in {time.perf_counter() - began:.0f}s")
        names = bundle_for(latest_deployment(PROTOCOL)).element_names
        began = time.perf_counter()
        fill(count, templates)
        report_facts.rebuild(db.session.connection())  # the bulk inserts bypassed the flush that keeps them
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            # What autovacuum does for a live database (it may be off on a bench server, as on the project
            # machine): planner statistics, and a visibility map so index-only scans need not visit the rows.
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("VACUUM ANALYZE"))
        history_rows = db.session.query(HistoryEntry).count()
        print(f"filled {count} instances, {history_rows} history rows in {time.perf_counter() - began:.0f}s")
        db.session.remove()
    return app, templates, names


def pages_of(count: int, templates: dict, names: dict) -> list[tuple[str, str, str]]:
    """(label, who looks, path): the raising professional's inbox, the owner's lists, pages and report."""
    stage3_late = templates[(3, "running", True)]
    return [
        ("inbox (raising professional, own tasks)", RAISER, "/inbox"),
        ("instance page (Stage 3, both sides, breaches)", "owner", f"/instances/{stage3_late}"),
        ("instance page of a bulk instance", "owner", f"/instances/{1_000_000 + count // 2}"),
        ("escalations list, page 1", "owner", "/instances"),
        ("filtered list: running, overdue, page 1", "owner", f"/instances?protocol={PROTOCOL}&status=running&overdue=1"),
        # Each filter below matches the same escalations at every scale (the bulk copies start 17 minutes apart
        # from 2024-01-01, so the first days and the first thousand case references exist at 1,000 as at
        # 100,000): the ratio then compares the same page, and only the table around it has grown. (A filter
        # matching nothing at 1,000 and a full page at 100,000 compares an empty page with a full one.)
        ("filtered list: case reference prefix", "owner", "/instances?case=BULK-0009"),  # 100 match
        ("filtered list: protocol + stage reached + dates", "owner",  # about 110 match
         f"/instances?protocol={PROTOCOL}&stage={names['stage2_discussion']}&from={DAYS[0]}&to={DAYS[1]}"),
        ("filtered list: dates only, all my protocols", "owner", f"/instances?from={DAYS[0]}&to={DAYS[1]}"),  # 339
        ("protocol report (all figures)", "owner", f"/reports/{PROTOCOL}"),
        ("history CSV of one instance", "owner", f"/instances/{stage3_late}/history.csv"),
    ]


def measure_scale(count: int, runs: int) -> dict[str, float]:
    app, templates, names = build(count)
    figures = {}
    with app.app_context():
        clients = {}
        for label, who, path in pages_of(count, templates, names):
            if who not in clients:
                clients[who] = app.test_client()
                clients[who].post("/login", data={"username": who, "password": PASSWORD})
            figures[label] = median_ms(clients[who], path, runs)
        db.session.remove()
        db.engine.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, nargs="+", default=[1_000, 100_000],
                        help="one or more scales (escalations); the last is compared with the first")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--pg", nargs="?", const=DEFAULT_PG, default=None, metavar="URL",
                        help=f"run on PostgreSQL (database created when missing; default {DEFAULT_PG}) instead of "
                             "SQLite; BENCH_DATABASE_URL names any database too")
    args = parser.parse_args()
    if args.pg:
        os.environ["BENCH_DATABASE_URL"] = args.pg
    scales = args.instances
    results = {count: measure_scale(count, args.runs) for count in scales}
    small, large = scales[0], scales[-1]
    header = "".join(f"{f'{c:,} ms':>14}" for c in scales)
    ratio_head = f"{'ratio':>8}" if len(scales) > 1 else ""
    print(f"\n{'page (median of ' + str(args.runs) + ' runs)':<50}{header}{ratio_head}")
    for label in results[small]:
        row = "".join(f"{results[c][label]:>14.1f}" for c in scales)
        ratio = f"{results[large][label] / results[small][label]:>7.2f}x" if len(scales) > 1 else ""
        print(f"{label:<50}{row}{ratio}")


if __name__ == "__main__":
    main()
