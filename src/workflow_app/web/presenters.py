"""Turn domain objects into what pages and API responses show."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask

from workflow_app import clock
from workflow_app.persistence.models import Deployment, ProcessInstance, TaskRecord
from workflow_app.services import history, instances, parties

STATUS_LABELS = {"running": "Running", "resolved": "Resolved", "closed": "Closed", "cancelled": "Cancelled",
                 "error": "Needs attention (error)"}
KIND_LABELS = {
    "started": "Escalation raised", "task_completed": "Task completed", "routed": "Counterpart routed",
    "timer_fired": "Timer fired", "deadline_breached": "Deadline breached", "escalated": "Escalated",
    "task_cancelled": "Task closed by the process", "ended": "Escalation ended", "error": "Error",
    "notification_sent": "Notification", "notification_delivered": "E-mail delivered",
    "notification_failed": "E-mail could not be delivered", "reminder": "Reminder", "violation_reported": "Violation reported",
    "task_claimed": "Task taken", "task_released": "Task released", "task_reassigned": "Task reassigned",
    "task_assigned": "Task assigned", "link_resent": "New link e-mailed",
}


def protocol_dict(deployment: Deployment) -> dict[str, Any]:
    return {"key": deployment.protocol_key, "name": deployment.name, "version": deployment.version}


def task_dict(record: TaskRecord, *, with_form: bool = True) -> dict[str, Any]:
    deadline = instances.deadline_of(record)
    result = {
        "id": record.id,
        "instance_id": record.instance_id,
        "name": record.element_id,
        "title": record.title,
        "role": record.role,
        "counterpart_role": record.counterpart_role,
        "state": record.state,
        "protocol": record.instance.protocol_key,
        "case_reference": record.instance.case_reference,
        "due_at": _iso(instances.local_time(record.instance.deployment, record.due_at)),
        "overdue": deadline.overdue,
        "working_days_left": deadline.working_days_left,
        "breached_at": _iso(record.breached_at),
        "completed_at": _iso(record.completed_at),
        "completed_by": record.completed_by,
        "party": record.party,
        "agency": record.agency.name if record.agency else None,
        "assigned_to": record.assigned_to.username if record.assigned_to else None,
        "external_contact": ({"name": record.contact_name, "email": record.contact_email}
                             if record.contact_email else None),
    }
    if with_form:
        form = instances.task_form(record)
        result["form"] = {"fields": [f.to_dict() for f in form.fields]} if form else {"fields": []}
    return result


def instance_dict(instance: ProcessInstance) -> dict[str, Any]:
    return {
        "id": instance.id,
        "protocol": instance.protocol_key,
        "version": instance.deployment.version,
        "status": instance.status,
        "case_reference": instance.case_reference,
        "current_stage": instance.current_stage,
        "started_at": _iso(instance.started_at),
        "started_by": instance.started_by,
        "ended_at": _iso(instance.ended_at),
        "end_reason": instance.end_reason,
        "error": instance.error_message,
        "next_deadline_at": _iso(instance.next_timer_at),
        "data": instance.data,
        "ready_tasks": [task_dict(t) for t in instance.tasks if t.state == "ready"],
        "parties": {p.party: {"agency": p.agency.name if p.agency else None,
                              "named_person": p.person.username if p.person else None,
                              "contact": ({"name": p.contact_name, "email": p.contact_email}
                                          if p.contact_email else None)} for p in instance.parties},
        "history": [history.to_dict(h) for h in instance.history],
    }


def summary_dict(instance: ProcessInstance) -> dict[str, Any]:
    """An instance in a list: no data, history or task forms (one query per page, not per row)."""
    return {
        "id": instance.id, "protocol": instance.protocol_key, "version": instance.deployment.version,
        "status": instance.status, "case_reference": instance.case_reference,
        "current_stage": instance.current_stage, "stage_reached": instance.stage_reached,
        "agencies": [a.name for a in instance.agencies], "started_at": _iso(instance.started_at),
        "ended_at": _iso(instance.ended_at), "end_reason": instance.end_reason,
        "next_deadline_at": _iso(instance.next_timer_at),
    }


def report_dict(report) -> dict[str, Any]:
    return {
        "protocol": report.protocol, "total": report.total, "generated_at": _iso(report.generated_at),
        "by_status": dict(report.by_status), "by_stage_reached": dict(report.by_stage_reached),
        "stages": [{"element_id": s.element_id, "title": s.title, "stage": s.stage, "closed": s.closed,
                    "open": s.open, "median_working_days": s.median_days, "p90_working_days": s.p90_days,
                    "breaches": s.breaches, "breach_rate": s.breach_rate} for s in report.stages],
        "counterparts": [{"role": role, "tasks": count} for role, count in report.counterparts],
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def register_template_helpers(app: Flask) -> None:
    @app.template_filter("when")
    def when(value: datetime | None, deployment: Deployment | None = None) -> str:
        if value is None:
            return "—"
        if deployment is not None:
            value = instances.local_time(deployment, value)
        return value.strftime("%a %d %b %Y, %H:%M %Z")

    @app.template_filter("display_value")
    def display_value(value: Any) -> Any:
        """Booleans as Yes/No and table rows as 'a — b' lines; everything else as it is."""
        if isinstance(value, bool):
            return "Yes" if value else "No"
        if isinstance(value, list) and value and all(isinstance(row, dict) for row in value):
            return "\n".join(" — ".join(str(v) for v in row.values()) for row in value)
        if isinstance(value, list):  # e.g. who a notice was sent to
            return ", ".join(str(v) for v in value) or "—"
        return value

    @app.context_processor
    def helpers() -> dict[str, Any]:
        return {"status_label": lambda s: STATUS_LABELS.get(s, s), "kind_label": lambda k: KIND_LABELS.get(k, k),
                "deadline_of": instances.deadline_of, "now": clock.now, "case_details": instances.case_details,
                "readable_data": _readable_history_data, "unread_notices": _unread_notices,
                "party_label": parties.label}


def _unread_notices() -> int:
    from flask_login import current_user
    from workflow_app.services import notifications
    return notifications.unread_count(current_user) if current_user.is_authenticated else 0


def _readable_history_data(instance: ProcessInstance, entry) -> list[tuple[str, Any]]:
    # Only form submissions are labelled from a form; engine events keep their own keys.
    if entry.kind == "started":
        return instances.readable_data(instance.deployment, None, entry.data)
    if entry.kind == "task_completed":
        return instances.readable_data(instance.deployment, entry.element_id, entry.data)
    return [(key.replace("_", " ").capitalize(), value) for key, value in entry.data.items()]
