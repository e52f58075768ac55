"""Rectification: correcting a value someone submitted on a form (the start form or a task's).

A data protection officer names the history entry, the field, the new value and the reason. The correction is
a new ``rectified`` history entry (field, new value, reason, which entry it supersedes — never the old value);
the superseded entry (and every later entry that copied the value, e.g. a notification's), the escalation's
data and the engine's state then hold the new value, so every page,
export and API answer shows it. The old value is kept only in ``rectifications``, which only the data
protection role reads (:func:`rectifications_of`).
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from workflow_app import clock
from workflow_app.extensions import db
from workflow_app.persistence.models import HistoryEntry, Rectification, User
from workflow_app.services import deployments, events, history, instances
from workflow_app.services.errors import InvalidInput, NotFound
from workflow_app.services.retention import require_officer

CORRECTABLE_KINDS = ("started", "task_completed")


def rectify(instance_id: int, history_id: int, field: str, value: Any, reason: str, *, user: User) -> Rectification:
    require_officer(user, "rectify", f"instance {instance_id}")
    instance = instances.get_instance(instance_id)
    entry = db.session.get(HistoryEntry, history_id)
    if entry is None or entry.instance_id != instance.id or entry.kind not in CORRECTABLE_KINDS:
        raise NotFound(f"Escalation {instance_id} has no submitted form numbered {history_id}")
    errors = {}
    if field not in (entry.data or {}):
        errors["field"] = f"The form submitted in entry {history_id} has no field '{field}'"
    if not (reason or "").strip():
        errors["reason"] = "Say why the value is corrected (e.g. who asked, what was wrong)"
    if not errors and entry.data[field] == value:
        errors["value"] = "The new value is the same as the recorded one"
    if errors:
        raise InvalidInput(errors, "Nothing was corrected")
    old = entry.data[field]
    for copy in instance.history:  # the submission and the copies later steps recorded (e.g. a notification)
        if copy.data and field in copy.data and copy.data[field] == old:
            copy.data = {**copy.data, field: value}  # a new dict: the JSON column sees the change
    _correct_instance(instance, field, old, value)
    superseding = events.publish(instance, "rectified", actor=user.username, task=entry.task, task_id=entry.task_id,
                                 element_id=entry.element_id, party=entry.party,
                                 data={"field": field, "value": value, "reason": reason.strip(), "supersedes": entry.id})
    history.write_pending(with_ids=True)  # the correction names the entry that supersedes the old one
    correction = Rectification(instance_id=instance.id, history_id=entry.id, superseded_by_id=superseding.entry.id,
                               field=field, old_value=old, new_value=value, reason=reason.strip(), by=user.username,
                               at=clock.now())
    db.session.add(correction)
    db.session.flush()
    return correction


def _correct_instance(instance, field: str, old: Any, new: Any) -> None:
    """The escalation's data and engine state carry the new value too (else the next step would bring the old
    one back from the engine)."""
    if instance.state:
        engine = deployments.load_engine(instance)  # noqa: SLF001 - the one place a stored state is rewritten
        engine.correct_data(field, old, new)
        instance.state = engine.dumps()
        instance.data = engine.data
    elif (instance.data or {}).get(field) == old:
        instance.data = {**instance.data, field: new}
    if field == "case_reference" and instance.case_reference == old:
        instance.case_reference = new


def rectifications_of(instance_id: int) -> list[Rectification]:
    """Every correction with the superseded value: for the data protection role only."""
    return list(db.session.scalars(select(Rectification).where(Rectification.instance_id == instance_id)
                                   .order_by(Rectification.id)))


def correctable_entries(instance) -> list[HistoryEntry]:
    return [h for h in instance.history if h.kind in CORRECTABLE_KINDS and h.data]
