"""Retention: how long an ended escalation's personal data is kept, and its disposal.

The period is the protocol's process property ``retention_years`` (in the diagram), else the installation's
``RETENTION_YEARS`` (environment ``WORKFLOW_RETENTION_YEARS``, default 7), counted from the escalation's end.
The daily job (:func:`list_due`, ``flask retention list-due``) lists escalations past it as *proposed*
disposals; a data protection officer approves each (:func:`approve`), which removes the personal data
(form data, history data, the parties and contacts, e-mails and notices about it, rectified values) and keeps
what the reports count: status, stage reached, each task's stage, deadline, working days and roles. The
disposal row records what was removed (counts), when, and who approved — never the data. A legal hold
(:func:`place_hold`) stops disposal of that escalation until it is released.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from workflow_app import clock
from workflow_app.extensions import db
from workflow_app.persistence.models import (Disposal, EscalationParty, ExternalLink, LegalHold, Notice, OutboxMessage,
                                             ProcessInstance, Rectification, User)
from workflow_app.services import access, people
from workflow_app.services.access_log import setting
from workflow_app.services.deployments import bundle_for
from workflow_app.services.errors import Conflict, InvalidInput, NotFound

DEFAULT_RETENTION_YEARS = 7
ENDED = ("resolved", "closed", "cancelled")


def retention_years(instance: ProcessInstance) -> int:
    """The protocol's ``retention_years`` process property, else the installation default."""
    declared = bundle_for(instance.deployment).properties.get("retention_years", "").strip()
    if declared.isdigit():
        return int(declared)
    return setting("RETENTION_YEARS", "WORKFLOW_RETENTION_YEARS", DEFAULT_RETENTION_YEARS)


def due_at(instance: ProcessInstance) -> datetime | None:
    if instance.ended_at is None:
        return None
    return _add_years(instance.ended_at, retention_years(instance))


def _add_years(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February in a year that has none
        return moment.replace(year=moment.year + years, day=28)


def require_officer(user: User, action: str, target: str) -> None:
    if not user.has_role(people.DATA_PROTECTION_OFFICER):
        access.refuse(user, action, target, "Only a data protection officer may do this.")


# -- the daily job ------------------------------------------------------------------------------------------

def list_due() -> list[Disposal]:
    """Propose every ended escalation past its retention period that is not already proposed or disposed,
    nor on legal hold (a hold placed after the listing makes the approval skip it)."""
    now = clock.now()
    already = select(Disposal.instance_id).where(Disposal.status.in_(("proposed", "disposed")))
    held = select(LegalHold.instance_id).where(LegalHold.released_at.is_(None))
    candidates = db.session.scalars(select(ProcessInstance).where(
        ProcessInstance.status.in_(ENDED), ProcessInstance.ended_at.is_not(None),
        ProcessInstance.id.not_in(already), ProcessInstance.id.not_in(held)).order_by(ProcessInstance.ended_at))
    proposed = []
    for instance in candidates:
        due = due_at(instance)
        if due is None or due > now:
            continue
        disposal = Disposal(instance_id=instance.id, protocol_key=instance.protocol_key, ended_at=instance.ended_at,
                            due_at=due, retention_years=retention_years(instance), listed_at=now, status="proposed",
                            removed={}, note="")
        db.session.add(disposal)
        proposed.append(disposal)
    db.session.flush()
    return proposed


def pending() -> list[Disposal]:
    return list(db.session.scalars(select(Disposal).where(Disposal.status == "proposed").order_by(Disposal.due_at)))


def recent(limit: int = 100) -> list[Disposal]:
    return list(db.session.scalars(select(Disposal).where(Disposal.status != "proposed")
                                   .order_by(Disposal.id.desc()).limit(limit)))


def disposal_of(instance_id: int) -> Disposal | None:
    return db.session.scalar(select(Disposal).where(Disposal.instance_id == instance_id,
                                                    Disposal.status == "disposed"))


def approve(disposal_id: int, *, user: User) -> Disposal:
    """The officer's approval: dispose of the escalation now, unless a legal hold is in place (then skipped)."""
    require_officer(user, "approve disposal", f"disposal {disposal_id}")
    disposal = db.session.get(Disposal, disposal_id)
    if disposal is None:
        raise NotFound(f"There is no disposal {disposal_id}")
    if disposal.status != "proposed":
        raise Conflict(f"Disposal {disposal_id} is already {disposal.status}.")
    now = clock.now()
    disposal.approved_by, disposal.approved_at = user.username, now
    hold = hold_of(disposal.instance_id)
    if hold is not None:
        disposal.status, disposal.note = "skipped", f"legal hold placed by {hold.placed_by} on {hold.placed_at:%d %B %Y}"
        return disposal
    disposal.removed = _dispose(db.session.get(ProcessInstance, disposal.instance_id))
    disposal.status = "disposed"
    return disposal


def _dispose(instance: ProcessInstance) -> dict[str, int]:
    """Remove the escalation's personal data; keep the anonymised figures the reports count."""
    removed = {"form_fields": len(instance.data or {}), "history_entries_cleared": 0}
    instance.data = {}
    instance.state = ""  # the engine state holds the same data; an ended escalation never runs again
    instance.case_reference = None
    instance.end_reason = None
    instance.error_message = None
    instance.started_by, instance.started_by_id = "", None
    for entry in instance.history:
        if entry.data or entry.actor:
            removed["history_entries_cleared"] += 1
        entry.data, entry.actor = {}, None
    for record in instance.tasks:
        record.contact_name = record.contact_email = None
        record.completed_by = None
        record.completer = None
        record.assigned_to = None
    for model, key in ((EscalationParty, "parties"), (ExternalLink, "external_links"),
                       (OutboxMessage, "emails"), (Notice, "notices"), (Rectification, "rectified_values")):
        result = db.session.execute(delete(model).where(model.instance_id == instance.id))
        removed[key] = result.rowcount or 0
    return removed


# -- legal hold ---------------------------------------------------------------------------------------------

def hold_of(instance_id: int) -> LegalHold | None:
    return db.session.scalar(select(LegalHold).where(LegalHold.instance_id == instance_id,
                                                     LegalHold.released_at.is_(None)))


def place_hold(instance_id: int, reason: str, *, user: User) -> LegalHold:
    require_officer(user, "place legal hold", f"instance {instance_id}")
    if not reason.strip():
        raise InvalidInput({"reason": "Say why the escalation must be kept (e.g. the proceedings it is needed for)"})
    if db.session.get(ProcessInstance, instance_id) is None:
        raise NotFound(f"There is no escalation number {instance_id}")
    hold = hold_of(instance_id)
    if hold is None:
        hold = LegalHold(instance_id=instance_id, reason=reason.strip(), placed_by=user.username, placed_at=clock.now())
        db.session.add(hold)
        db.session.flush()
    return hold


def release_hold(instance_id: int, *, user: User) -> LegalHold:
    require_officer(user, "release legal hold", f"instance {instance_id}")
    hold = hold_of(instance_id)
    if hold is None:
        raise NotFound(f"Escalation {instance_id} is not on legal hold")
    hold.released_by, hold.released_at = user.username, clock.now()
    return hold


def holds() -> list[LegalHold]:
    return list(db.session.scalars(select(LegalHold).where(LegalHold.released_at.is_(None)).order_by(LegalHold.id)))
