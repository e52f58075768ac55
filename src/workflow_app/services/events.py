"""One stream of domain events: what happened to an escalation, told once, consumed by every side effect.

A state change publishes events (``publish``: started, task_completed, routed, deadline_breached, escalated,
ended, suspended, ...) instead of calling history, notices, e-mail and webhooks itself. Consumers subscribe:

- the history (services/history.py) writes the escalation's timeline entry;
- webhooks (services/webhooks.py) queue a signed delivery for the kinds other systems are told about;
- notifications (services/notifications.py) queue in-app notices and e-mail for events that name recipients.

Every consumer writes into the same database session, so the events' effects commit (or roll back) in the state
change's own transaction: nothing is told about a change that did not happen, and nothing that happened goes
untold. A consumer that must see the finished state of the change — an e-mail links to the task the change
opened — subscribes ``at_commit``: it runs in the session's ``before_commit`` hook, after the service has
finished, still inside the transaction (the commit flushes what it adds). A rollback drops what was waiting.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from workflow_app import clock
from workflow_app.extensions import db
from workflow_app.persistence.models import HistoryEntry, ProcessInstance, User

PENDING_KEY = "workflow_app.pending_events"


@dataclass
class DomainEvent:
    """Something that happened to one escalation. ``webhook`` is what other systems are told (None: the
    default payload for the kind); ``by`` is the account whose action caused it (for ``@line_manager``);
    consumers may note what they did on the event (``entry``: the history row; ``holders``: who held each
    side of the dispute when it happened)."""
    instance: ProcessInstance
    kind: str
    at: datetime
    actor: str | None = None
    task: str | None = None
    task_id: str | None = None
    element_id: str | None = None
    party: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    webhook: dict[str, Any] | None = None
    by: User | None = None
    entry: HistoryEntry | None = None
    holders: dict[str, Any] | None = None


Handler = Callable[[DomainEvent], None]
_now_handlers: list[Handler] = []
_commit_handlers: list[Handler] = []
_commit_enders: list[Callable[[Session], None]] = []


def subscribe(handler: Handler, *, at_commit: bool = False) -> Handler:
    """Register a consumer (once; modules subscribe when imported). ``at_commit``: run just before the change's
    transaction commits, after the service finished its work."""
    handlers = _commit_handlers if at_commit else _now_handlers
    if handler not in handlers:
        handlers.append(handler)
    return handler


def at_commit_end(writer: Callable[[Session], None]) -> None:
    """Register ``writer`` to run once the commit-time consumers are done, still inside the transaction (the
    history writes its entries then, complete with what the consumers noted on them)."""
    if writer not in _commit_enders:
        _commit_enders.append(writer)


def publish(instance: ProcessInstance, kind: str, *, actor: str | None = None, task: str | None = None,
            task_id: str | None = None, element_id: str | None = None, data: dict[str, Any] | None = None,
            at: datetime | None = None, party: str | None = None, webhook: dict[str, Any] | None = None,
            by: User | None = None) -> DomainEvent:
    """Tell every consumer that ``kind`` happened to ``instance`` (inside the caller's transaction)."""
    _load_consumers()
    happened = DomainEvent(instance=instance, kind=kind, at=at or clock.now(), actor=actor, task=task,
                           task_id=task_id, element_id=element_id, party=party, data=dict(data or {}),
                           webhook=webhook, by=by)
    for handler in _now_handlers:
        handler(happened)
    if _commit_handlers:
        db.session.info.setdefault(PENDING_KEY, []).append(happened)
    return happened


_consumers_loaded = False


def _load_consumers() -> None:
    """Import the consuming modules so they have subscribed (they import this module, not the other way)."""
    global _consumers_loaded
    if not _consumers_loaded:
        from workflow_app.services import history, notifications, webhooks  # noqa: F401
        _consumers_loaded = True


@sa_event.listens_for(Session, "before_commit")
def _run_commit_handlers(session: Session) -> None:
    pending = session.info.pop(PENDING_KEY, None)
    if pending:
        # The change is written first (services run without autoflush), so its new rows have their ids and
        # foreign keys when a consumer reads them (a notice's link to the task the change just opened).
        session.flush()
    while pending:
        happened = pending.pop(0)
        for handler in _commit_handlers:
            handler(happened)
        pending.extend(session.info.pop(PENDING_KEY, ()))  # events a handler itself published
    for writer in _commit_enders:
        writer(session)


@sa_event.listens_for(Session, "after_soft_rollback")
def _forget_pending(session: Session, _previous_transaction) -> None:
    session.info.pop(PENDING_KEY, None)
