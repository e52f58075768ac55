"""Signed, expiring, single-use links for a professional who has no account (another agency not yet on the system).

The link names one task and nothing else: its token is an ``itsdangerous`` signature over the link row's id and
a random nonce. It is refused when altered (bad signature), expired (signature age or ``expires_at``), already
used (``used_at``), or when the task is no longer open. Only the task's form and the dispute's summary are
reachable through it.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app, render_template
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from workflow_app import clock
from workflow_app.extensions import db
from workflow_app.persistence.models import ExternalLink, OutboxMessage, TaskRecord
from workflow_app.services.errors import ServiceError

SALT = "workflow-app.external-task-link"


class LinkRefused(ServiceError):
    """The link cannot be used; ``str()`` says why in plain words."""

    status_code = 410


@dataclass
class LinkRequest:
    link: ExternalLink
    record: TaskRecord


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def lifetime() -> timedelta:
    return timedelta(days=int(current_app.config.get("EXTERNAL_LINK_DAYS", 14)))


def issue(record: TaskRecord, name: str, email: str) -> str:
    """Create the link for ``record`` and queue the e-mail that carries it (same transaction). Returns the token."""
    now = clock.now()
    db.session.flush()  # a new escalation and its task need their ids before the link can name them
    link = ExternalLink(task=record, instance_id=record.instance.id, nonce=secrets.token_urlsafe(24),
                        contact_name=name, contact_email=email, created_at=now, expires_at=now + lifetime())
    db.session.add(link)
    db.session.flush()
    token = token_for(link)
    url = f"{current_app.config['BASE_URL'].rstrip('/')}/respond/{token}"
    instance = record.instance
    subject = f"Please respond: {record.title} – escalation #{instance.id}"
    body = render_template("email/external_task.txt", name=name, record=record, instance=instance, url=url,
                           expires_at=link.expires_at)
    db.session.add(OutboxMessage(instance_id=instance.id, user_id=None, kind="external_task", recipient_email=email,
                                 subject=subject[:300], body=body, status="pending", attempts=0, next_attempt_at=now,
                                 created_at=now))
    return token


def token_for(link: ExternalLink) -> str:
    """The token of an existing link (the demo data answers as the contact would, through the same path)."""
    return _serializer().dumps({"l": link.id, "n": link.nonce})


def open_link(token: str) -> LinkRequest:
    """The link and its task, or LinkRefused saying why (nothing is changed by a refused link)."""
    try:
        payload = _serializer().loads(token, max_age=int(lifetime().total_seconds()))
    except SignatureExpired:
        raise LinkRefused("This link has expired. Ask the person who raised the escalation to send a new one.") from None
    except BadSignature:
        raise LinkRefused("This link is not valid: it may have been copied incompletely or changed.") from None
    link = db.session.get(ExternalLink, payload.get("l")) if isinstance(payload, dict) else None
    if link is None or not secrets.compare_digest(link.nonce, str(payload.get("n", ""))):
        raise LinkRefused("This link is not valid: it may have been copied incompletely or changed.")
    if link.used_at is not None:
        raise LinkRefused("This link has already been used: your response was recorded and the link cannot be "
                          "used again.")
    if clock.now() > link.expires_at:
        raise LinkRefused("This link has expired. Ask the person who raised the escalation to send a new one.")
    record = link.task
    if record.state != "ready" or record.instance.status != "running":
        raise LinkRefused("This task is no longer waiting for a response, so the link cannot be used.")
    return LinkRequest(link, record)


def withdraw_open_links(record: TaskRecord) -> None:
    """End every unused link of a task (when a new one is sent): an older e-mail's link then says it expired."""
    now = clock.now()
    for link in db.session.query(ExternalLink).filter(ExternalLink.task_id == record.id, ExternalLink.used_at.is_(None),
                                                      ExternalLink.expires_at > now):
        link.expires_at = now


def spend(link: ExternalLink) -> None:
    link.used_at = clock.now()
