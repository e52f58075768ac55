"""Signed webhooks: an escalation's milestones told to other systems (e.g. an agency's case-management system).

Webhooks consume the domain events (services/events.py): for the kinds in ``EVENTS``, ``emit`` adds one outbox row
(kind ``webhook``) per receiving address in the state change's own transaction, so an event is never lost to a
crash or an outage.
The outbox worker (services/notifications.py) later POSTs each row with ``post``, retrying with the same
backoff as e-mail. Every delivery of one event carries the same event id (``X-Workflow-Event-Id`` and the
body's ``id``), so a receiver can drop the rare duplicate that at-least-once delivery allows.

Receivers: the addresses in ``WORKFLOW_WEBHOOK_URLS`` (every protocol) plus the diagram's process property
``webhook_urls`` (that protocol only), comma-separated. The body is signed with ``WORKFLOW_WEBHOOK_SECRET``:
``X-Workflow-Signature: sha256=<hex HMAC-SHA256 of the raw body>``.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import urllib.request
import uuid
from typing import Any
from urllib.parse import urlsplit

from flask import current_app

from workflow_app import clock
from workflow_app.extensions import db
from workflow_app.persistence.models import OutboxMessage, ProcessInstance, TaskRecord
from workflow_app.services import events
from workflow_app.services.deployments import bundle_for

log = logging.getLogger(__name__)
KIND = "webhook"  # the outbox rows' kind
EVENTS = ("escalation_started", "task_created", "task_completed", "deadline_breached", "escalated",
          "escalation_ended")
TIMEOUT_SECONDS = 10
MAX_URL_LENGTH = 200  # the outbox's address column
SIGNATURE_HEADER = "X-Workflow-Signature"
EVENT_ID_HEADER = "X-Workflow-Event-Id"


def receivers(instance: ProcessInstance) -> list[str]:
    """The global addresses, then the protocol's own (diagram property ``webhook_urls``), each once."""
    own = bundle_for(instance.deployment).properties.get("webhook_urls", "") if instance.deployment else ""
    urls = [*current_app.config.get("WEBHOOK_URLS", ()), *(u.strip() for u in own.split(","))]
    return list(dict.fromkeys(u for u in urls if u))


# The events' names for other systems, where they differ from the history's.
EVENT_NAMES = {"started": "escalation_started", "ended": "escalation_ended"}


@events.subscribe
def send_event(happened: events.DomainEvent) -> None:
    name = EVENT_NAMES.get(happened.kind, happened.kind)
    if name in EVENTS:
        emit(happened.instance, name, happened.webhook if happened.webhook is not None else event_payload(happened))


def emit(instance: ProcessInstance, kind: str, payload: dict[str, Any]) -> None:
    """Queue event ``kind`` for every receiver (not committed: it joins the caller's transaction).
    Kinds other than ``EVENTS`` (e.g. a diagram's other history entries) are not sent."""
    if kind not in EVENTS:
        return
    urls = receivers(instance)
    if not urls:
        return
    if instance.id is None:  # a new escalation: its id is part of the event
        db.session.flush()
    now = clock.now()
    event_id = str(uuid.uuid4())
    body = json.dumps({"id": event_id, "event": kind, "occurred_at": now.isoformat(),
                       "escalation": _escalation(instance), "data": payload}, default=str, sort_keys=True)
    for url in urls:
        problem = _unusable(url)
        if problem:
            log.warning("webhook %s not sent to %r: %s", kind, url, problem)
            events.publish(instance, "webhook_failed", task=kind,
                           data={"url": url[:MAX_URL_LENGTH], "event_id": event_id, "error": problem}, at=now)
            continue
        db.session.add(OutboxMessage(instance_id=instance.id, user_id=None, kind=KIND, recipient_email=url,
                                     subject=f"{kind} {event_id}", body=body, status="pending", attempts=0,
                                     next_attempt_at=now, created_at=now))


def task_payload(record: TaskRecord, **extra: Any) -> dict[str, Any]:
    """What a receiver is told about a task (no form answers: those stay in the app)."""
    assignee = record.assigned_to
    return {"task_id": record.id, "element_id": record.element_id, "title": record.title, "role": record.role,
            "party": record.party, "assigned_to": assignee.username if assignee is not None else None,
            "due_at": record.due_at.isoformat() if record.due_at else None, **extra}


def event_payload(happened: events.DomainEvent) -> dict[str, Any]:
    """A process event (deadline breached, escalated): where it happened and its recorded facts."""
    return {"element_id": happened.element_id, "title": happened.task,
            **{k: v for k, v in happened.data.items() if k != "recipients"}}


def _escalation(instance: ProcessInstance) -> dict[str, Any]:
    return {"id": instance.id, "protocol": instance.protocol_key, "case_reference": instance.case_reference,
            "status": instance.status}


def _unusable(url: str) -> str | None:
    if len(url) > MAX_URL_LENGTH:
        return f"the address is longer than {MAX_URL_LENGTH} characters"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "the address must start with http:// or https://"
    return None


def signature(body: bytes, secret: str) -> str:
    """The ``X-Workflow-Signature`` value a receiver recomputes to check the body came from this app."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is a failed delivery (retried), never a signed body sent on to another address."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102, PLR0913
        return None


_OPENER = urllib.request.build_opener(_NoRedirects())


def post(message: OutboxMessage) -> None:
    """POST one queued event; any answer but 2xx, a timeout or a refused connection raises OSError
    (urllib's URLError/HTTPError), which the outbox worker retries."""
    body = message.body.encode()
    event = json.loads(message.body)
    headers = {"Content-Type": "application/json", "User-Agent": "workflow-app-webhooks",
               "X-Workflow-Event": event["event"], EVENT_ID_HEADER: event["id"]}
    secret = current_app.config.get("WEBHOOK_SECRET") or ""
    if secret:
        headers[SIGNATURE_HEADER] = signature(body, secret)
    request = urllib.request.Request(message.recipient_email, data=body, headers=headers, method="POST")
    with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as response:
        response.read(4096)


def delivery_record(message: OutboxMessage) -> tuple[str, dict[str, Any]]:
    """(history task label, data) for the instance's delivery log entry of one webhook row."""
    kind, _, event_id = message.subject.partition(" ")
    return kind, {"url": message.recipient_email, "event_id": event_id, "attempts": message.attempts}
