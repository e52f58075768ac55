"""The timer sweep: fire every timer that is due, in proportion to what is due.

The due-timer index (``instances.next_timer_at``) is updated with each state change, so finding due
work is one indexed query however many instances are open. Each instance is fired in its own
transaction; optimistic locking makes a second worker that raced on the same instance back off, so
a timer's effects are applied exactly once.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from workflow_app import clock
from workflow_app.extensions import db
from workflow_app.persistence.models import ProcessInstance
from workflow_app.services import instances

log = logging.getLogger(__name__)


@dataclass
class SweepResult:
    fired: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)


def due_instance_ids(now: datetime, limit: int) -> list[int]:
    query = (select(ProcessInstance.id)
             .where(ProcessInstance.status == instances.RUNNING, ProcessInstance.next_timer_at <= now)
             .order_by(ProcessInstance.next_timer_at).limit(limit))
    return list(db.session.scalars(query))


def run_once(limit: int = 500) -> SweepResult:
    """Fire all due timers (up to ``limit`` instances) and return which instances changed."""
    result = SweepResult()
    for instance_id in due_instance_ids(clock.now(), limit):
        try:
            changed = instances.fire_due_timers(instance_id)
        except Exception:  # noqa: BLE001 - one broken instance must not stop the sweep
            db.session.rollback()
            log.exception("timer sweep failed for instance %s", instance_id)
            changed = False
        (result.fired if changed else result.skipped).append(instance_id)
    return result


def start_background_loop(app, interval_seconds: float) -> threading.Thread:
    """Sweep timers and deliver queued mail every ``interval_seconds`` in a daemon thread of the served app."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval_seconds):
            with app.app_context():
                try:
                    result = run_once()
                    if result.fired:
                        log.info("timer sweep fired timers on instances %s", result.fired)
                    from workflow_app.services import notifications
                    notifications.deliver_pending()
                except Exception:  # noqa: BLE001
                    log.exception("timer sweep or mail delivery failed")

    thread = threading.Thread(target=loop, name="timer-sweep", daemon=True)
    thread.stop = stop  # type: ignore[attr-defined]
    thread.start()
    return thread
