"""Worker heartbeats and the health report.

Every timer/mail worker (``flask timers worker``, or the loop inside ``flask serve``) writes one row of
``worker_heartbeats`` after each sweep: when it last finished one, and its last error. Any web process can then
say whether deadlines and mail are being handled: :func:`health_report` is what ``GET /api/health`` answers, and
it fails (HTTP 503) when a worker is expected and the newest heartbeat is stale, or mail that was due a while ago
is still waiting.
"""
from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, func, select

from workflow_app import clock
from workflow_app.extensions import db
from workflow_app.persistence.models import OutboxMessage, WorkerHeartbeat

DEFAULT_INTERVAL = 30.0
STALE_INTERVALS = 5          # a heartbeat is stale after this many sweep intervals (unless configured)
FORGET_AFTER = timedelta(days=7)  # rows of workers gone this long are removed


def worker_name(suffix: str = "") -> str:
    return f"{socket.gethostname()}:{os.getpid()}{suffix}"


def beat(name: str, interval: float, started_at: datetime, swept: bool,
         error: str | None = None, error_at: datetime | None = None) -> None:
    """Record a round of worker ``name`` (and commit): ``swept`` means the timer sweep finished now."""
    now = clock.now()
    row = db.session.scalar(select(WorkerHeartbeat).where(WorkerHeartbeat.name == name))
    if row is None:
        row = WorkerHeartbeat(name=name, started_at=started_at, interval_seconds=float(interval))
        db.session.add(row)
        db.session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.last_sweep_at < now - FORGET_AFTER))
    row.interval_seconds = float(interval)
    if swept:
        row.last_sweep_at = now
    if error is not None:
        row.last_error, row.last_error_at = error[:2000], error_at or now
    db.session.commit()


def expect_worker() -> bool:
    return bool(current_app.config.get("EXPECT_WORKER"))


def stale_after(interval: float | None) -> float:
    configured = current_app.config.get("HEALTH_STALE_SECONDS")
    if configured:
        return float(configured)
    interval = interval or current_app.config.get("TIMER_SWEEP_SECONDS") or DEFAULT_INTERVAL
    return STALE_INTERVALS * float(interval)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def health_report() -> tuple[dict, int]:
    """The body and status of ``GET /api/health``."""
    now = clock.now()
    problems: list[str] = []
    newest = db.session.scalar(select(WorkerHeartbeat).where(WorkerHeartbeat.last_sweep_at.is_not(None))
                               .order_by(WorkerHeartbeat.last_sweep_at.desc()).limit(1))
    latest_error = db.session.scalar(select(WorkerHeartbeat).where(WorkerHeartbeat.last_error_at.is_not(None))
                                     .order_by(WorkerHeartbeat.last_error_at.desc()).limit(1))
    threshold = stale_after(newest.interval_seconds if newest else None)
    age = (now - newest.last_sweep_at).total_seconds() if newest else None
    worker = {
        "expected": expect_worker(),
        "last_sweep_at": _iso(newest.last_sweep_at) if newest else None,
        "last_sweep_by": newest.name if newest else None,
        "seconds_since_last_sweep": round(age, 1) if age is not None else None,
        "stale_after_seconds": threshold,
        "last_error": latest_error.last_error if latest_error else None,
        "last_error_at": _iso(latest_error.last_error_at) if latest_error else None,
    }
    overdue_minutes = float(current_app.config.get("HEALTH_MAIL_OVERDUE_MINUTES") or 15)
    waiting = OutboxMessage.status.in_(("pending", "sending"))
    pending = db.session.scalar(select(func.count()).select_from(OutboxMessage).where(waiting)) or 0
    overdue = db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        waiting, OutboxMessage.next_attempt_at < now - timedelta(minutes=overdue_minutes))) or 0
    mail = {"pending": pending, "overdue": overdue, "overdue_after_minutes": overdue_minutes}
    if worker["expected"]:
        if newest is None:
            problems.append("no timer/mail worker has reported a sweep")
        elif age > threshold:
            problems.append(f"the last timer sweep finished {age:.0f} s ago (more than {threshold:g} s)")
        if overdue:
            problems.append(f"{overdue} e-mail(s) due more than {overdue_minutes:g} minutes ago are still waiting")
    body = {"status": "failing" if problems else "ok", "worker": worker, "mail": mail}
    if problems:
        body["problems"] = problems
    db.session.rollback()
    return body, 503 if problems else 200
