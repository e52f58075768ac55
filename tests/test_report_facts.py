"""The report's figures are kept as facts as tasks open and close; they always equal a full recomputation.

Runs on SQLite and, with TEST_DATABASE_URL, on PostgreSQL (where two completions at once are also tried).
"""
from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import select

from test_partnership_escalation import PROTOCOL, START, complete, other, people, raising, ready  # noqa: F401
from test_reports import ACK1, STAGE1, STAGE2, dataset  # noqa: F401
from workflow_app.extensions import db
from workflow_app.services import report_facts, reports


def _facts_then_recomputed() -> tuple[dict, dict]:
    with db.engine.connect() as connection:
        kept = report_facts.snapshot(connection)
        report_facts.rebuild(connection)
        recomputed = report_facts.snapshot(connection)
        connection.rollback()
    return kept, recomputed


def _stage(report: reports.ProtocolReport, element_id: str) -> reports.StageFigures:
    return next(s for s in report.stages if s.element_id == element_id)


def test_facts_equal_a_full_recomputation_after_breaches_escalations_and_a_cancellation(app, dataset):
    kept, recomputed = _facts_then_recomputed()
    assert kept == recomputed
    with app.app_context():
        report = reports.protocol_report(PROTOCOL)
    # The scenario exercised every kind of fact, so the equality above is not between two empty sets.
    assert dict(report.by_status)["cancelled"] == 1 and dict(report.by_status)["running"] >= 1
    assert _stage(report, ACK1).breaches == 1 and _stage(report, STAGE2).open >= 1
    assert _stage(report, STAGE1).median_days is not None
    assert report.counterparts


def test_a_completion_moves_a_task_from_open_to_closed_in_the_report(app, api, clock, people):
    instance_id = api.as_user("sam.patel").start(PROTOCOL, {**START, "case_reference": "FACTS-1"})["id"]
    with app.app_context():
        before = _stage(reports.protocol_report(PROTOCOL), STAGE1)
    assert (before.open, before.closed) == (1, 0)
    complete(api, ready(api, instance_id)[STAGE1], raising("unresolved"))
    with app.app_context():
        after = reports.protocol_report(PROTOCOL)
    assert (_stage(after, STAGE1).open, _stage(after, STAGE1).closed) == (0, 1)
    assert _stage(after, STAGE1).median_days == 0.0
    assert _facts_then_recomputed()[0] == _facts_then_recomputed()[1]


def test_rebuild_repairs_facts_that_drifted(app, dataset):
    with app.app_context():
        right = reports.protocol_report(PROTOCOL)
        db.session.execute(report_facts.stage_facts.update().values(open_count=99))
        db.session.execute(report_facts.protocol_facts.delete())
        assert reports.protocol_report(PROTOCOL).total == 0
        report_facts.rebuild(db.session.connection())
        db.session.commit()
        repaired = reports.protocol_report(PROTOCOL)
    assert (repaired.by_status, repaired.stages, repaired.counterparts) == (right.by_status, right.stages,
                                                                            right.counterparts)


def test_two_completions_at_once_both_count(app, dataset):
    """Each transaction adds its +1 without reading the count first, so the second waits for the first and
    neither is lost (a read-modify-write would have written the same total twice)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one writer at a time; the row-lock race exists on PostgreSQL")
    key = ("stage", PROTOCOL, STAGE2, "closed_count")
    closed = report_facts.stage_facts.c.closed_count
    where = (report_facts.stage_facts.c.protocol_key == PROTOCOL) & (report_facts.stage_facts.c.element_id == STAGE2)
    with db.engine.connect() as first, db.engine.connect() as second:
        start = first.scalar(select(closed).where(where))
        first.commit()
        report_facts.apply(first, Counter({key: 1}), {})  # holds the row lock until it commits
        waiting_pid = second.scalar(select(db.func.pg_backend_pid()))
        second_done = threading.Thread(target=lambda: (report_facts.apply(second, Counter({key: 1}), {}),
                                                       second.commit()))
        second_done.start()
        with db.engine.connect() as watcher:  # wait until the second really is blocked on the first's lock
            while not watcher.scalar(db.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid "
                                             "AND wait_event_type = 'Lock'"), {"pid": waiting_pid}):
                watcher.rollback()
        first.commit()
        second_done.join()
        assert first.scalar(select(closed).where(where)) == start + 2


def test_a_transaction_locks_no_fact_row_until_it_commits(app, api, people, clock):
    """A change that flushes before it commits (a query's autoflush) must not hold the fact rows while it goes
    on working: two such changes, each waiting for a row the other had locked, deadlocked under load and one
    failed with a 500 (bench/load.py, 32 users). Now a transaction writes all its counts once, at commit."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one writer at a time; row locks exist on PostgreSQL")
    from sqlalchemy.orm import Session

    from test_partnership_escalation import start
    from workflow_app.persistence.models import TaskRecord
    first_id, second_id = start(api), start(api)
    breaches = report_facts.stage_facts.c.breaches
    where = (report_facts.stage_facts.c.protocol_key == PROTOCOL) & (report_facts.stage_facts.c.element_id == STAGE1)
    before = db.session.scalar(select(breaches).where(where))
    db.session.commit()
    with Session(db.engine) as one, Session(db.engine) as two:
        for session, instance_id in ((one, first_id), (two, second_id)):
            session.execute(db.text("SET LOCAL lock_timeout = '2s'"))  # waiting for the other's lock: an error
            task = session.scalar(select(TaskRecord).where(TaskRecord.instance_id == instance_id,
                                                           TaskRecord.element_id == STAGE1))
            task.breached_at = task.created_at
        one.flush()
        two.flush()
        two.commit()
        one.commit()
    assert db.session.scalar(select(breaches).where(where)) == before + 2
