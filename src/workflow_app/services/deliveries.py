"""The delivery log: what the outbox sent (or is still trying to send) about escalations, for the people who
run the protocols: webhook events (services/webhooks.py) and e-mail (services/notifications.py).

A read model over the ``outbox`` rows: nothing here changes them. A process owner sees the deliveries of the
escalations of the protocols they own; an administrator sees every delivery, those about no escalation (e.g. a
daily digest) included. The outbox's own states are shown in plain words:

- ``delivered``: sent (an HTTP 2xx answer, or the mail server accepted the message);
- ``pending``: queued, not yet tried (or being sent right now);
- ``retrying``: tried and failed at least once; the worker tries again later with backoff;
- ``failed``: given up after the last attempt (see ``notifications.MAX_ATTEMPTS``).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select

from workflow_app.extensions import db
from workflow_app.persistence.models import OutboxMessage, ProcessInstance, User
from workflow_app.services import access, people
from workflow_app.services.errors import InvalidInput

STATUSES = ("delivered", "pending", "retrying", "failed")
WEBHOOK = "webhook"  # services/webhooks.KIND
DEFAULT_LIMIT = 200


@dataclass
class Delivery:
    """One outbox row as the delivery log shows it."""

    id: int
    channel: str  # webhook / email
    event: str  # the webhook event (task_created ...) or the e-mail's subject
    event_id: str | None  # a webhook event's stable id (the receiver's duplicate check)
    instance_id: int | None
    case_reference: str | None
    protocol: str | None
    target: str  # the receiving address (URL or e-mail address)
    status: str  # one of STATUSES
    attempts: int
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    next_attempt_at: datetime | None  # when it is tried again (pending, retrying)


def status_of(message: OutboxMessage) -> str:
    if message.status == "sent":
        return "delivered"
    if message.status == "failed":
        return "failed"
    return "retrying" if message.attempts else "pending"


def _status_clause(status: str):
    waiting = OutboxMessage.status.in_(("pending", "sending"))
    return {"delivered": OutboxMessage.status == "sent",
            "failed": OutboxMessage.status == "failed",
            "retrying": and_(waiting, OutboxMessage.attempts > 0),
            "pending": and_(waiting, OutboxMessage.attempts == 0)}[status]


def can_read(user: User) -> bool:
    """Administrators, and process owners of at least one protocol."""
    return access.is_admin(user) or (user.has_role(people.PROCESS_OWNER) and bool(people.owned_protocols(user)))


def deliveries(user: User, *, status: str | None = None, instance_id: int | None = None,
               channel: str | None = None, limit: int = DEFAULT_LIMIT) -> list[Delivery]:
    """The newest deliveries ``user`` may read, newest first, narrowed by status / escalation / channel."""
    if status and status not in STATUSES:
        raise InvalidInput({"status": f"Use one of: {', '.join(STATUSES)}"}, f"Unknown delivery status '{status}'")
    if channel and channel not in ("webhook", "email"):
        raise InvalidInput({"channel": "Use webhook or email"}, f"Unknown channel '{channel}'")
    query = (select(OutboxMessage, ProcessInstance)
             .outerjoin(ProcessInstance, OutboxMessage.instance_id == ProcessInstance.id)
             .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()).limit(limit))
    if not access.is_admin(user):
        owned = list(people.owned_protocols(user)) if user.has_role(people.PROCESS_OWNER) else []
        query = query.where(ProcessInstance.protocol_key.in_(owned))
    if status:
        query = query.where(_status_clause(status))
    if instance_id is not None:
        query = query.where(OutboxMessage.instance_id == instance_id)
    if channel == "webhook":
        query = query.where(OutboxMessage.kind == WEBHOOK)
    elif channel == "email":
        query = query.where(OutboxMessage.kind != WEBHOOK)
    return [_delivery(message, instance) for message, instance in db.session.execute(query)]


def _delivery(message: OutboxMessage, instance: ProcessInstance | None) -> Delivery:
    webhook = message.kind == WEBHOOK
    if webhook:
        event, _, event_id = message.subject.partition(" ")
    else:
        event, event_id = message.subject, None
    waiting = message.status in ("pending", "sending")
    return Delivery(id=message.id, channel="webhook" if webhook else "email", event=event, event_id=event_id or None,
                    instance_id=message.instance_id,
                    case_reference=instance.case_reference if instance is not None else None,
                    protocol=instance.protocol_key if instance is not None else None,
                    target=message.recipient_email, status=status_of(message), attempts=message.attempts,
                    last_error=message.last_error, created_at=message.created_at, delivered_at=message.sent_at,
                    next_attempt_at=message.next_attempt_at if waiting else None)


def to_dict(delivery: Delivery) -> dict[str, Any]:
    out = dict(delivery.__dict__)
    for key in ("created_at", "delivered_at", "next_attempt_at"):
        out[key] = out[key].isoformat() if out[key] else None
    return out


def counts(items: list[Delivery]) -> dict[str, int]:
    """How many of ``items`` are in each status (every status named, zero included)."""
    result = dict.fromkeys(STATUSES, 0)
    for item in items:
        result[item.status] += 1
    return result
