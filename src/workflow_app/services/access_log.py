"""Who looked at which escalation: one append-only row per view (page, API, export, printable record, diagram).

Views call :func:`record_view` once, after the permission check. The row is added to the request's session and
committed when the response is ready (``after_this_request``): a view whose row cannot be written is a 500,
never an unrecorded view, and the page's objects are not reloaded after a mid-request commit. Nothing in the
app updates or deletes a row (on PostgreSQL a trigger refuses it; see persistence/models.py).

When one person opens many escalations outside their own agency within a short window, every data protection
officer gets an in-app notice (``ACCESS_ALERT_THRESHOLD`` views of distinct escalations within
``ACCESS_ALERT_MINUTES``; environment ``WORKFLOW_ACCESS_ALERT_THRESHOLD``, ``WORKFLOW_ACCESS_ALERT_MINUTES``).
"""
from __future__ import annotations

import os
from datetime import timedelta

from flask import after_this_request, current_app, has_request_context, request
from sqlalchemy import func, select

from workflow_app import clock
from workflow_app.extensions import db
from workflow_app.persistence.models import AccessLogEntry, AuditEntry, Notice, ProcessInstance, User
from workflow_app.services import access, people
from workflow_app.services.errors import NotFound

VIEW_KINDS = {
    "page": "instance page", "api": "API (instance)", "diagram": "diagram (page)", "api_diagram": "API (diagram)",
    "history_csv": "history CSV", "history_json": "history JSON", "record": "printable record",
    "subject_access": "subject access export", "rectify_page": "rectification page",
}
DEFAULT_ALERT_THRESHOLD = 20
DEFAULT_ALERT_MINUTES = 60


def setting(name: str, env: str, default: int) -> int:
    """An app setting (tests override it in the app's config), else the environment, else the default."""
    value = current_app.config.get(name)
    if value is None:
        value = os.environ.get(env) or default
    return int(value)


def record_view(instance: ProcessInstance, what: str, user: User | None = None) -> None:
    """Log one view of ``instance`` by the signed-in user (call after the permission check).

    A disposed escalation has no personal data left to show: it answers 404 with the disposal's date."""
    if not instance.state:
        _refuse_disposed(instance)
    from flask_login import current_user
    viewer = user or current_user
    entry = AccessLogEntry(at=clock.now(), instance_id=instance.id, user_id=viewer.id, username=viewer.username,
                           what=what, client=_client_address(), outside_agency=_outside_agency(viewer, instance))
    db.session.add(entry)
    if entry.outside_agency:
        _alert_if_many(viewer)
    if has_request_context():
        @after_this_request
        def _commit(response):
            db.session.commit()
            return response


def _client_address() -> str:
    return (request.remote_addr or "")[:64] if has_request_context() else "command line"


def _outside_agency(user: User, instance: ProcessInstance) -> bool:
    """The viewer belongs to an agency and the escalation is between other agencies."""
    return user.agency_id is not None and bool(instance.agencies) and \
        user.agency_id not in {a.id for a in instance.agencies}


def _refuse_disposed(instance: ProcessInstance) -> None:
    from workflow_app.services import retention
    disposal = retention.disposal_of(instance.id)
    when = f" on {disposal.approved_at:%d %B %Y}" if disposal and disposal.approved_at else ""
    raise NotFound(f"Escalation {instance.id} was disposed of{when} under the retention schedule; "
                   "only its anonymised figures remain.")


def _alert_if_many(user: User) -> None:
    threshold = setting("ACCESS_ALERT_THRESHOLD", "WORKFLOW_ACCESS_ALERT_THRESHOLD", DEFAULT_ALERT_THRESHOLD)
    window = timedelta(minutes=setting("ACCESS_ALERT_MINUTES", "WORKFLOW_ACCESS_ALERT_MINUTES", DEFAULT_ALERT_MINUTES))
    since = clock.now() - window
    db.session.flush()
    opened = db.session.scalar(select(func.count(func.distinct(AccessLogEntry.instance_id))).where(
        AccessLogEntry.user_id == user.id, AccessLogEntry.outside_agency.is_(True), AccessLogEntry.at > since))
    if (opened or 0) < threshold or _alerted_since(user, since):
        return
    text = (f"{user.display_name} ({user.username}) opened {opened} escalations outside their own agency "
            f"within {int(window.total_seconds() // 60)} minutes.")
    db.session.add(AuditEntry(at=clock.now(), actor=user.username, action="access alert", target=user.username,
                              outcome="alerted", detail=text))
    for officer in data_protection_officers():
        db.session.add(Notice(user_id=officer.id, text=text, link=f"/governance/people/{user.username}/access",
                              created_at=clock.now()))


def _alerted_since(user: User, since) -> bool:
    return db.session.scalar(select(AuditEntry.id).where(
        AuditEntry.action == "access alert", AuditEntry.target == user.username, AuditEntry.at > since).limit(1)) is not None


def data_protection_officers() -> list[User]:
    return [u for u in people.list_users() if u.active and u.has_role(people.DATA_PROTECTION_OFFICER)]


# -- reading the log ------------------------------------------------------------------------------------------

def is_data_protection_officer(user: User) -> bool:
    return user.has_role(people.DATA_PROTECTION_OFFICER)


def can_read_log(user: User, instance: ProcessInstance) -> bool:
    """Data protection officers, and the protocol's process owners, see who looked at an escalation."""
    return is_data_protection_officer(user) or access.owns_protocol(user, instance.protocol_key)


def require_read_log(user: User, instance: ProcessInstance) -> None:
    if not can_read_log(user, instance):
        access.refuse(user, "read access log", f"instance {instance.id}",
                      "Only the protocol's process owners and data protection officers see who viewed an escalation.")


def views_of(instance_id: int) -> list[AccessLogEntry]:
    return list(db.session.scalars(select(AccessLogEntry).where(AccessLogEntry.instance_id == instance_id)
                                   .order_by(AccessLogEntry.at, AccessLogEntry.id)))


def views_by(username: str, limit: int = 500) -> list[AccessLogEntry]:
    return list(db.session.scalars(select(AccessLogEntry).where(AccessLogEntry.username == username)
                                   .order_by(AccessLogEntry.at.desc(), AccessLogEntry.id.desc()).limit(limit)))


def to_dict(entry: AccessLogEntry) -> dict:
    return {"at": entry.at.isoformat(), "instance": entry.instance_id, "user": entry.username,
            "what": VIEW_KINDS.get(entry.what, entry.what), "client": entry.client,
            "outside_agency": entry.outside_agency}
