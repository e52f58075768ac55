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
             .where(ProcessInstance.status == instances.RUNNING, ProcessInstance.next_timer_at <= now,
                    ProcessInstance.suspended_at.is_(None))  # a suspended escalation's timers wait for resume
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


# -- the worker loop: survives database and SMTP errors, writes a heartbeat ------------------------------

BACKOFF_FIRST = 1.0   # seconds to wait after a failed round; doubles with each failure in a row
BACKOFF_MAX = 60.0


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:1000]


def _reset_session() -> None:
    """Drop whatever the failed round left in the session (its connection may be dead)."""
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - a dead connection cannot roll back; removing the session is enough
        pass
    try:
        db.session.remove()
    except Exception:  # noqa: BLE001
        pass


class Worker:
    """One timer/mail worker: each round sweeps due timers, delivers due mail and records a heartbeat.

    A round that raises (the database restarting, the SMTP server misbehaving, anything else) is logged and
    retried after a back-off of ``BACKOFF_FIRST`` seconds doubling to ``BACKOFF_MAX``; a good round resets it.
    The loop itself never ends because of an error.
    """

    def __init__(self, app, interval: float, limit: int = 500, name: str | None = None, echo=None):
        from workflow_app.services import heartbeat
        self.app = app
        self.interval = interval
        self.limit = limit
        self.name = name or heartbeat.worker_name()
        self.echo = echo
        self.started_at = clock.now()
        self.failures = 0  # failed rounds in a row
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None

    def backoff(self) -> float:
        return min(BACKOFF_FIRST * 2 ** (self.failures - 1), BACKOFF_MAX) if self.failures else 0.0

    def run_round(self) -> float:
        """Do one round; return how many seconds to wait before the next one."""
        from workflow_app.services import heartbeat, notifications
        errors: list[str] = []
        swept = False
        with self.app.app_context():
            try:
                result = run_once(limit=self.limit)
                swept = True
                if result.fired:
                    log.info("timer sweep fired timers on instances %s", result.fired)
                    self._say(f"fired timers on {len(result.fired)} instance(s)")
            except Exception as exc:  # noqa: BLE001 - the worker must outlive any error
                log.exception("timer sweep failed; retrying")
                errors.append(f"timer sweep: {_describe(exc)}")
                _reset_session()
            try:
                delivered = notifications.deliver_pending()
                if delivered.sent or delivered.retrying:
                    self._say(f"mail: sent {len(delivered.sent)}, retrying {len(delivered.retrying)}")
            except Exception as exc:  # noqa: BLE001
                log.exception("mail delivery failed; retrying")
                errors.append(f"mail delivery: {_describe(exc)}")
                _reset_session()
            try:  # migration batches started in the UI/API carry on here (services/version_migration.py)
                from workflow_app.services import version_migration
                if moved := version_migration.run_pending_batches().handled:
                    self._say(f"migration batches: {moved} escalation(s) handled")
            except Exception as exc:  # noqa: BLE001
                log.exception("migration batches failed; retrying")
                errors.append(f"migration batches: {_describe(exc)}")
                _reset_session()
            if errors:
                self.last_error, self.last_error_at = "; ".join(errors), clock.now()
            try:
                heartbeat.beat(self.name, self.interval, self.started_at, swept,
                               error=self.last_error if errors else None, error_at=self.last_error_at)
            except Exception as exc:  # noqa: BLE001
                if not errors:  # a database that is down already said so above
                    log.exception("could not record the worker heartbeat; retrying")
                errors.append(f"heartbeat: {_describe(exc)}")
            _reset_session()
        if errors:
            self.failures += 1
            delay = self.backoff()
            log.warning("worker round failed (%s in a row); next try in %g s", self.failures, delay)
            self._say(f"worker round failed ({'; '.join(errors)}); next try in {delay:g}s")
            return delay
        if self.failures:
            log.info("worker recovered after %s failed round(s)", self.failures)
            self._say(f"worker recovered after {self.failures} failed round(s)")
        self.failures = 0
        return self.interval

    def run(self, stop: threading.Event, max_rounds: int = 0) -> int:
        """Run rounds until ``stop`` is set (or ``max_rounds`` are done); returns the rounds run."""
        rounds = 0
        while not stop.is_set():
            delay = self.run_round()
            rounds += 1
            if max_rounds and rounds >= max_rounds:
                break
            stop.wait(delay)
        return rounds

    def _say(self, text: str) -> None:
        if self.echo:
            self.echo(text)


def start_background_loop(app, interval_seconds: float) -> threading.Thread:
    """Sweep timers and deliver queued mail every ``interval_seconds`` in a daemon thread of the served app.

    The served app then expects a worker: ``/api/health`` fails when this loop stops sweeping (unless
    ``WORKFLOW_EXPECT_WORKER=0``).
    """
    from workflow_app.services import heartbeat
    if app.config.get("EXPECT_WORKER") is None:
        app.config["EXPECT_WORKER"] = True
    stop = threading.Event()
    worker = Worker(app, interval_seconds, name=heartbeat.worker_name(":serve"))

    def loop() -> None:
        delay = 0.0  # the first sweep at once, so the heartbeat shows the loop is alive
        while not stop.wait(delay):
            try:
                delay = worker.run_round()
            except Exception:  # noqa: BLE001 - run_round catches everything; this is the last line of defence
                log.exception("timer sweep or mail delivery failed")
                delay = interval_seconds

    thread = threading.Thread(target=loop, name="timer-sweep", daemon=True)
    thread.stop = stop  # type: ignore[attr-defined]
    thread.worker = worker  # type: ignore[attr-defined]
    thread.start()
    return thread
