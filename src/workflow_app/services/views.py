"""Read models for the pages and the API: inboxes, deadlines, forms and labels, the diagram with the path taken,
stage timings. Queries only: the commands that change an escalation are in services/instances.py."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from workflow_app import clock
from workflow_app.extensions import db
from workflow_app.persistence.models import Deployment, ProcessInstance, TaskRecord, User, role_key_of
from workflow_app.services import access
from workflow_app.services.deployments import bundle_for, calendar_of, load_engine
from workflow_app.services.errors import InvalidInput


INBOX_VIEWS = ("mine", "available", "team")


def inbox(user: User, view: str = "mine", role: str | None = None) -> list[TaskRecord]:
    """Ready tasks in one inbox view (see :func:`access.inbox_query`), soonest deadline first."""
    if view not in INBOX_VIEWS:
        raise InvalidInput({"view": f"Use one of: {', '.join(INBOX_VIEWS)}"}, "Unknown inbox view")
    query = access.inbox_query(user, view).options(
        joinedload(TaskRecord.instance).joinedload(ProcessInstance.deployment), joinedload(TaskRecord.assigned_to))
    if role:
        query = query.where(TaskRecord.role_key == role_key_of(role))
    query = query.order_by(TaskRecord.due_at.is_(None), TaskRecord.due_at, TaskRecord.created_at)
    return list(db.session.scalars(query))


def inbox_counts(user: User, views=INBOX_VIEWS) -> dict[str, int]:
    """How many ready tasks each inbox view holds: one count query per view, no rows loaded."""
    return {view: db.session.scalar(select(func.count()).select_from(access.inbox_query(user, view).subquery()))
            for view in views}


def with_role(records: list[TaskRecord], role: str | None) -> list[TaskRecord]:
    """The records of ``role`` (any case), or all of them when no role is given: the inbox's role filter
    applied to a view already loaded."""
    if not role:
        return records
    return [r for r in records if r.role_key == role_key_of(role)]


@dataclass
class TaskDeadline:
    due_at: datetime | None
    overdue: bool
    working_days_left: int | None


def deadline_of(record: TaskRecord) -> TaskDeadline:
    if record.due_at is None:
        return TaskDeadline(None, False, None)
    now = clock.now()
    calendar = calendar_of(record.instance.deployment)
    return TaskDeadline(record.due_at, record.state == "ready" and now > record.due_at,
                        calendar.working_days_between(now, record.due_at))


def task_form(record: TaskRecord):
    return bundle_for(record.instance.deployment).forms.get(record.element_id)


def start_form(deployment: Deployment):
    return bundle_for(deployment).start_form


def task_documentation(record: TaskRecord) -> str:
    return bundle_for(record.instance.deployment).element_docs.get(record.element_id, "")


def local_time(deployment: Deployment, value: datetime | None) -> datetime | None:
    """A stored UTC time in the deployment's timezone, for display."""
    return value.astimezone(calendar_of(deployment).zone) if value else None


def case_details(instance: ProcessInstance) -> list[tuple[str, Any]]:
    """The start form's fields with their labels and this instance's values, for display."""
    form = start_form(instance.deployment)
    if form is None:
        return []
    return [(f.name, f.label, dict(f.choices).get(instance.data.get(f.name), instance.data.get(f.name))
             if f.choices else instance.data.get(f.name))
            for f in form.fields if instance.data.get(f.name) not in (None, "", [])]


def readable_data(deployment: Deployment, element_id: str | None, data: dict[str, Any]) -> list[tuple[str, Any]]:
    """History data with form labels (and choice labels) instead of field names, where the form knows them."""
    bundle = bundle_for(deployment)
    form = bundle.forms.get(element_id) if element_id else bundle.start_form
    rows = []
    for key, value in data.items():
        field = form.field_named(key) if form else None
        if field is None:
            rows.append((key.replace("_", " ").capitalize(), value))
        else:
            rows.append((field.label, dict(field.choices).get(value, value) if field.choices else value))
    return rows


def diagram_view(instance: ProcessInstance) -> dict[str, Any]:
    """The instance's own deployed diagram with the elements it completed, is at, and breached."""
    states = load_engine(instance).element_states()
    breached = {h.element_id for h in instance.history if h.kind == "deadline_breached" and h.element_id}
    return {"protocol": instance.protocol_key, "version": instance.deployment.version,
            "xml": instance.deployment.bpmn_xml, "completed": sorted(states["completed"]),
            "active": sorted(states["active"]), "breached": sorted(breached)}


@dataclass
class StageTiming:
    task: TaskRecord
    working_days_taken: int | None
    deadline_kept: bool | None  # None: no deadline, or still open and not yet due


def stage_timings(instance: ProcessInstance) -> list[StageTiming]:
    """Each task's deadline against the working days it actually took (or has taken so far)."""
    calendar = calendar_of(instance.deployment)
    now = clock.now()
    timings = []
    for record in instance.tasks:
        end = record.completed_at or now
        taken = calendar.working_days_between(record.created_at, end)
        kept = None
        if record.due_at is not None:
            if record.breached_at is not None or end > record.due_at:
                kept = False
            elif record.state != "ready":
                kept = True
        timings.append(StageTiming(record, taken, kept))
    return timings


# Records that a message reached its receiver: many per stage, and not something that happened to the dispute.
# Failures stay in the timeline (someone was not told); successes are a click away (and in the delivery log).
DELIVERED_KINDS = frozenset({"notification_delivered", "webhook_delivered"})


def timeline(instance: ProcessInstance, *, with_deliveries: bool = False) -> tuple[list[Any], int]:
    """The history entries an instance page lists, and how many delivery records it left out."""
    if with_deliveries:
        return list(instance.history), 0
    shown = [h for h in instance.history if h.kind not in DELIVERED_KINDS]
    return shown, len(instance.history) - len(shown)
