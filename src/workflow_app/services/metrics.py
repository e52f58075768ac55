"""Figures for monitoring, read from the database when Prometheus scrapes ``/metrics``.

The escalation, task, timer and outbox gauges are computed at scrape time from the database, so every web
process reports the same values whatever process changed them. Request counts and latencies are per process
(see web/metrics.py); under gunicorn set ``PROMETHEUS_MULTIPROC_DIR`` so they are summed across workers.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from workflow_app import clock
from workflow_app.extensions import db
from workflow_app.persistence.models import OutboxMessage, ProcessInstance, TaskRecord, WorkerHeartbeat


@dataclass(frozen=True)
class Figures:
    escalations: dict[tuple[str, str], int]  # (protocol, status) -> count
    open_tasks: dict[str, int]  # protocol -> ready tasks
    overdue_tasks: dict[str, int]  # protocol -> ready tasks past their deadline
    sweep_lag_seconds: float  # how long the most overdue timer has been waiting to fire (0: none waiting)
    last_sweep_age_seconds: float | None  # since a worker last finished a sweep (None: never)
    outbox_backlog: dict[str, int]  # channel -> messages waiting to be sent
    outbox_failed: dict[str, int]  # channel -> messages given up on


def current() -> Figures:
    """One read of everything the gauges show (a handful of grouped counts, no per-row work)."""
    now = clock.now()
    escalations = dict(((p, s), n) for p, s, n in db.session.execute(
        select(ProcessInstance.protocol_key, ProcessInstance.status, func.count())
        .group_by(ProcessInstance.protocol_key, ProcessInstance.status)))
    ready = select(ProcessInstance.protocol_key, func.count()).join(TaskRecord.instance).where(
        TaskRecord.state == "ready").group_by(ProcessInstance.protocol_key)
    open_tasks = dict(db.session.execute(ready).all())
    overdue = dict(db.session.execute(ready.where(TaskRecord.due_at < now)).all())
    oldest_due = db.session.scalar(select(func.min(ProcessInstance.next_timer_at)).where(
        ProcessInstance.status == "running", ProcessInstance.next_timer_at <= now))
    last_sweep = db.session.scalar(select(func.max(WorkerHeartbeat.last_sweep_at)))
    waiting = OutboxMessage.status.in_(("pending", "sending"))
    backlog = dict(db.session.execute(select(OutboxMessage.kind, func.count()).where(waiting)
                                      .group_by(OutboxMessage.kind)).all())
    failed = dict(db.session.execute(select(OutboxMessage.kind, func.count()).where(
        OutboxMessage.status == "failed").group_by(OutboxMessage.kind)).all())
    db.session.rollback()  # a read: end the transaction, write nothing
    return Figures(
        escalations=escalations, open_tasks=open_tasks, overdue_tasks=overdue,
        sweep_lag_seconds=max(0.0, (now - clock.as_utc(oldest_due)).total_seconds()) if oldest_due else 0.0,
        last_sweep_age_seconds=(now - clock.as_utc(last_sweep)).total_seconds() if last_sweep else None,
        outbox_backlog=backlog, outbox_failed=failed)
