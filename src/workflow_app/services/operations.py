"""Operating a running escalation: suspend and resume it, see why it stopped, retry it after an error.

Suspended: the instance keeps its status (``running``) and gains ``suspended_at``; while it is set no task can
be completed (409) and the timer sweep passes it by. On resume the process owner chooses what happens to the
deadlines that fell due during the suspension: ``fire`` them now (breaches recorded as of the resume), or
``extend`` them by the working days the escalation was suspended (each keeps its time of day).

Retry: an escalation in ``error`` (a decision table with no matching rule, a failing expression) runs again from
the step that failed, usually after it was moved to a fixed version (services/version_migration.py).
Move back: an escalation that is running or stopped by an error goes back to a person's task it has already
passed (engine/rewind.py), e.g. from Stage 2 back to Stage 1. The tasks open now are withdrawn; the earlier task
opens again, assigned as the protocol routes it (to whoever held that role on this escalation before, as for any
new task: the operator's own roles play no part), and its deadlines are counted afresh from the moment of the
move (the old due dates belonged to a task that was completed; a task reopened days later would otherwise be
overdue at once). History records who, why, from where and to where.

Every operation writes a history entry with who and why.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from workflow_app import clock
from workflow_app.engine import EngineError
from workflow_app.engine import migration as engine_migration
from workflow_app.engine import rewind
from workflow_app.persistence.models import ProcessInstance, User
from workflow_app.services import access, deployments, events, instances
from workflow_app.services.deployments import bundle_for
from workflow_app.services.errors import Conflict, InvalidInput

DEADLINE_CHOICES = ("fire", "extend")


def can_operate(user: User, instance: ProcessInstance) -> bool:
    """Suspend, resume and migrate: the protocol's process owners and administrators."""
    return access.owns_protocol(user, instance.protocol_key) or access.is_admin(user)


def _require_operator(user: User, instance: ProcessInstance, action: str) -> None:
    access.require_see_instance(user, instance)
    if not can_operate(user, instance):
        access.refuse(user, action, f"instance {instance.id}",
                      f"Only a process owner of this protocol or an administrator can {action} an escalation.")


def _reason(reason: str | None, what: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput({"reason": f"Say why the escalation is {what}"}, f"Say why the escalation is {what}")
    return reason


@instances.concurrency_safe
def suspend(instance_id: int, reason: str, *, user: User) -> ProcessInstance:
    instance = instances.get_instance(instance_id)
    _require_operator(user, instance, "suspend")
    if instance.suspended_at is not None:
        raise Conflict(f"This escalation is already suspended (since {_when(instance.suspended_at)} by "
                       f"{instance.suspended_by}); nothing was changed.")
    if instance.status != instances.RUNNING:
        raise Conflict(f"This escalation is {instance.status}; only a running escalation can be suspended.")
    reason = _reason(reason, "suspended")
    now = clock.now()
    instance.suspended_at, instance.suspended_by, instance.suspend_reason = now, user.username, reason
    instance.updated_at = now
    events.publish(instance, "suspended", actor=user.username, data={"reason": reason}, at=now)
    instances._commit()
    return instance


@instances.concurrency_safe
def resume(instance_id: int, deadlines: str, *, user: User, reason: str = "") -> ProcessInstance:
    """Lift a suspension. ``deadlines``: ``fire`` (what fell due during the suspension fires now) or
    ``extend`` (it moves on by the working days suspended)."""
    instance = instances.get_instance(instance_id)
    _require_operator(user, instance, "resume")
    if instance.suspended_at is None:
        raise Conflict("This escalation is not suspended; nothing was changed.")
    if deadlines not in DEADLINE_CHOICES:
        raise InvalidInput({"deadlines": "Choose 'fire' (deadlines that passed fire now) or 'extend' (they move "
                                         "on by the working days suspended)"}, "Choose what happens to deadlines")
    now = clock.now()
    since = instance.suspended_at
    calendar = deployments.calendar_of(instance.deployment)
    days = max(calendar.working_days_between(since, now), 0)
    engine = deployments.load_engine(instance)
    moved = []
    if deadlines == "extend" and days:
        moved = engine_migration.reschedule_timers(
            engine, lambda due: calendar.add_working_days(due, days) if since < due <= now else None)
    instance.suspended_at = instance.suspended_by = instance.suspend_reason = None
    instance.updated_at = now
    events.publish(instance, "resumed", actor=user.username, at=now,
                   data={"deadlines": deadlines, "suspended_since": since.isoformat(), "working_days_suspended": days,
                         "reason": (reason or "").strip(),
                         "moved": [{"element_id": e, "from": old.isoformat(), "to": new.isoformat()}
                                   for e, old, new in moved]})
    error = None
    try:
        engine.fire_due_timers()
    except EngineError as exc:
        error = exc
    instances._apply(instance, engine, error=error, actor=user)
    instances._commit()
    return instance


@instances.concurrency_safe
def retry(instance_id: int, reason: str, *, user: User) -> ProcessInstance:
    """Run an escalation in ``error`` again from the step that failed (administrators). If it fails again it
    stays in ``error`` with the new message (a Conflict says so; the attempt is in its history)."""
    instance = instances.get_instance(instance_id)
    access.require_see_instance(user, instance)
    if not access.is_admin(user):
        access.refuse(user, "retry", f"instance {instance.id}", "Only an administrator can retry an escalation.")
    if instance.status != "error":
        raise Conflict(f"This escalation is {instance.status}, not stopped by an error; there is nothing to retry.")
    reason = _reason(reason, "retried")
    engine = deployments.load_engine(instance)
    now = clock.now()
    events.publish(instance, "retried", actor=user.username, at=now,
                   data={"reason": reason, "version": instance.deployment.version,
                         "previous_error": instance.error_message})
    instance.status, instance.error_message = instances.RUNNING, None
    error = None
    try:
        engine_migration.carry_on(engine)
    except EngineError as exc:
        error = exc
    instances._apply(instance, engine, error=error, actor=user)
    instances._commit()
    if error is not None:
        raise Conflict(f"The escalation stopped again: {error}. Its history records the attempt.")
    return instance


def earlier_tasks(instance: ProcessInstance) -> list[rewind.EarlierTask]:
    """The person's tasks an open escalation can be moved back to (none once it has ended)."""
    if instance.status not in (instances.RUNNING, "error"):
        return []
    return rewind.earlier_tasks(deployments.load_engine(instance))


@instances.concurrency_safe
def move_back(instance_id: int, element_id: str, reason: str, *, user: User) -> ProcessInstance:
    """Move a running or errored escalation back to the task ``element_id`` it has already passed."""
    instance = instances.get_instance(instance_id)
    _require_operator(user, instance, "move back")
    if instance.status not in (instances.RUNNING, "error"):
        raise Conflict(f"This escalation is {instance.status}; only a running escalation or one stopped by an "
                       "error can be moved back.")
    if instance.suspended_at is not None:
        raise Conflict("This escalation is suspended; resume it before moving it back.")
    reason = _reason(reason, "moved back")
    engine = deployments.load_engine(instance)
    names = engine.bundle.element_names
    choices = rewind.earlier_tasks(engine)
    choice = next((c for c in choices if element_id in c.element_ids), None)
    if choice is None:
        offered = ", ".join(f"{c.element_id} ('{c.title}')" for c in choices) or "none"
        raise InvalidInput({"to": f"Choose a task this escalation has already passed: {offered}"},
                           f"This escalation has not passed a task '{element_id}' it could go back to")
    now = clock.now()
    error = None
    try:
        moved = rewind.move_back(engine, element_id)
    except EngineError as exc:
        moved, error = rewind.MoveBack(to_elements=choice.element_ids), exc
    events.publish(instance, "moved_back", actor=user.username, at=now, element_id=element_id, task=choice.title,
                   data={"reason": reason, "to": element_id, "to_title": choice.title,
                         "reopened": [{"element_id": e, "title": names.get(e, e)} for e in moved.to_elements],
                         "from": [{"element_id": e, "title": names.get(e, e)} for e in moved.from_elements],
                         "previous_error": instance.error_message if instance.status == "error" else None})
    instance.status, instance.error_message = instances.RUNNING, None
    instances._apply(instance, engine, error=error)  # no actor: the reopened task is routed by the protocol
    instances._commit()
    if error is not None:
        raise Conflict(f"The escalation stopped again: {error}. Its history records the attempt.")
    return instance


# -- what an operator sees -------------------------------------------------------------------------

@dataclass
class ErrorDetails:
    message: str
    element_id: str | None
    element: str | None  # the element's name in the diagram
    at: datetime | None
    data: dict[str, Any]  # what the process knew when it stopped


def error_details(instance: ProcessInstance) -> ErrorDetails | None:
    """What failed, where, and with what data: None unless the escalation is in ``error``."""
    if instance.status != "error":
        return None
    entry = next((h for h in reversed(instance.history) if h.kind == "error"), None)
    element_id = entry.element_id if entry else None
    names = bundle_for(instance.deployment).element_names
    return ErrorDetails(message=instance.error_message or (entry.data.get("message", "") if entry else ""),
                        element_id=element_id, element=names.get(element_id or "", element_id),
                        at=entry.at if entry else None, data=dict(instance.data or {}))


def state_dict(instance: ProcessInstance) -> dict[str, Any]:
    """An escalation's operational state for the API: version, suspension, error."""
    from workflow_app.services.deployments import latest_deployment
    latest = latest_deployment(instance.protocol_key)
    details = error_details(instance)
    return {
        "id": instance.id, "protocol": instance.protocol_key, "status": instance.status,
        "version": instance.deployment.version, "latest_version": latest.version if latest else None,
        "suspended": None if instance.suspended_at is None else {
            "at": instance.suspended_at.isoformat(), "by": instance.suspended_by, "reason": instance.suspend_reason},
        "error": None if details is None else {
            "message": details.message, "element_id": details.element_id, "element": details.element,
            "at": details.at.isoformat() if details.at else None, "data": details.data},
        "next_deadline_at": instance.next_timer_at.isoformat() if instance.next_timer_at else None,
    }


def _when(value: datetime) -> str:
    return value.strftime("%d %b %Y %H:%M UTC")
