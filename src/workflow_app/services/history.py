"""History: the append-only timeline of an instance, written as a consumer of the domain events
(services/events.py). Only ``record`` writes it; nothing edits or deletes."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from workflow_app import clock
from workflow_app.extensions import db
from workflow_app.persistence.models import HistoryEntry, ProcessInstance
from workflow_app.services import events

KINDS = ("started", "task_completed", "routed", "timer_fired", "deadline_breached", "escalated",
         "task_cancelled", "task_assigned", "ended", "error", "suspended", "resumed", "retried", "migrated",
         "rectified", "moved_back")


def record(instance: ProcessInstance, kind: str, *, actor: str | None = None, task: str | None = None,
           task_id: str | None = None, element_id: str | None = None, data: dict[str, Any] | None = None,
           at: datetime | None = None, party: str | None = None) -> HistoryEntry:
    entry = HistoryEntry(instance=instance, at=at or clock.now(), kind=kind, actor=actor, task=task,
                         task_id=task_id, element_id=element_id, data=data or {}, party=party)
    db.session.add(entry)
    return entry


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
