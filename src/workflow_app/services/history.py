"""History: the append-only timeline of an instance, written as a consumer of the domain events
(services/events.py). Only ``record`` writes it; nothing edits or deletes.

An entry is written straight to its table when the change commits, with the change's other entries in one
statement, after the commit-time consumers have noted what they did on it (a notification adds who it went to):
each entry is inserted once, complete, instead of being tracked by the ORM, inserted row by row and updated.
Until then it is a plain (transient) ``HistoryEntry``; ``write_pending`` writes the waiting entries at once
when a caller needs their ids before the commit."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import event as sa_event, inspect as sa_inspect
from sqlalchemy.orm import Session

from workflow_app import clock
from workflow_app.extensions import db
from workflow_app.persistence.models import HistoryEntry, ProcessInstance
from workflow_app.services import events

PENDING_KEY = "workflow_app.pending_history"
COLUMNS = ("at", "kind", "actor", "task", "task_id", "element_id", "data", "party")

KINDS = ("started", "task_completed", "routed", "timer_fired", "deadline_breached", "escalated",
         "task_cancelled", "task_assigned", "ended", "error", "suspended", "resumed", "retried", "migrated",
         "rectified", "moved_back")


def record(instance: ProcessInstance, kind: str, *, actor: str | None = None, task: str | None = None,
           task_id: str | None = None, element_id: str | None = None, data: dict[str, Any] | None = None,
           at: datetime | None = None, party: str | None = None) -> HistoryEntry:
    entry = HistoryEntry(at=at or clock.now(), kind=kind, actor=actor, task=task, task_id=task_id,
                         element_id=element_id, data=data or {}, party=party)
    db.session.info.setdefault(PENDING_KEY, []).append((instance, entry))
    return entry


def write_pending(session: Session | None = None, *, with_ids: bool = False) -> None:
    """Insert the entries waiting for the commit, in the order they happened (one statement; one per entry when
    ``with_ids``, which gives each entry its id). The escalations they belong to are written first."""
    session = session or db.session()
    pending = session.info.pop(PENDING_KEY, None)
    if not pending:
        return
    if any(instance.id is None for instance, _ in pending):
        session.flush()  # a new escalation: its id first
    table = HistoryEntry.__table__
    rows = [{"instance_id": instance.id, **{name: getattr(entry, name) for name in COLUMNS}}
            for instance, entry in pending]
    connection = session.connection()
    if with_ids:
        for (_, entry), row in zip(pending, rows):
            entry.id = connection.execute(table.insert().returning(table.c.id), row).scalar_one()
            entry.instance_id = row["instance_id"]
    else:
        connection.execute(table.insert(), rows)
    for instance in {id(i): i for i, _ in pending}.values():
        # an escalation whose history was read before the change reads it again, new entries included
        if "history" not in sa_inspect(instance).unloaded:
            session.expire(instance, ["history"])


events.at_commit_end(write_pending)


@sa_event.listens_for(Session, "after_soft_rollback")
def _forget_pending(session: Session, _previous_transaction) -> None:
    session.info.pop(PENDING_KEY, None)


# Events that are not timeline entries of their own (a new task's assignment is its entry).
NOT_RECORDED = frozenset({"task_created"})


@events.subscribe
def record_event(happened: events.DomainEvent) -> None:
    if happened.kind in NOT_RECORDED:
        return
    happened.entry = record(happened.instance, happened.kind, actor=happened.actor, task=happened.task,
                            task_id=happened.task_id, element_id=happened.element_id, data=happened.data,
                            at=happened.at, party=happened.party)


def to_dict(entry: HistoryEntry) -> dict[str, Any]:
    return {"at": entry.at.isoformat(), "kind": entry.kind, "actor": entry.actor, "task": entry.task,
            "task_id": entry.task_id, "element_id": entry.element_id, "data": entry.data, "party": entry.party}
