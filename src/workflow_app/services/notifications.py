"""Notifications that are never lost: a durable outbox, SMTP delivery with retries, in-app notices.

Notifications consume the domain events (services/events.py): an event whose data names ``recipients`` is
written (outbox rows, in-app notices, and on its history entry who they went to) in the same transaction as
the state change that caused it, once that change has finished (so a message can link to the task it opened). A worker later claims each outbox row
with a lease, sends it, and marks it sent, recording the delivery in the instance's history. An SMTP
outage only delays mail: failed sends are retried with exponential backoff. If a worker dies between
handing a message to the SMTP server and marking it sent, the lease expires and the message is sent
again: at-least-once, the one duplicate SMTP itself cannot rule out.
"""
from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage

from flask import current_app, render_template
from sqlalchemy import or_, select, update

from workflow_app import clock
from workflow_app.extensions import db
from workflow_app.persistence.models import HistoryEntry, Notice, OutboxMessage, ProcessInstance, User
from workflow_app.services import access, events, parties, webhooks

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
# How long a claimed message is left to its worker. A worker killed mid-send leaves one message claimed; it is sent
# again once the lease runs out, so the lease bounds how long a crash delays mail (well inside a minute). A send
# slower than this (SMTP allows 10 s per step) may be repeated by another worker, with the same Message-ID.
LEASE = timedelta(seconds=20)
FIRST_RETRY = timedelta(seconds=30)
LAST_RETRY = timedelta(hours=1)


def resolve_recipients(instance: ProcessInstance, spec: str, actor: User | None, holders: dict | None = None
                       ) -> tuple[list[User], list[str], list[tuple[str, str]]]:
    """People named by a diagram's ``recipients`` text: role names; ``@raising`` / ``@counterpart`` (who holds
    that side's current rung) and ``@raising_manager`` / ``@counterpart_manager`` (their line manager);
    ``@line_manager`` (of the person whose action sent it) and ``@raiser`` (who raised the escalation).

    ``holders`` ({party: (person, contact)}) is who held each side when the event happened; by default, now.
    Returns (people, names that matched nobody, e-mail contacts without an account as (name, address))."""
    people: dict[int, User] = {}
    unresolved: list[str] = []
    contacts: dict[str, tuple[str, str]] = {}
    for name in (part.strip() for part in (spec or "").split(",")):
        if not name:
            continue
        found: list[User] = []
        if name == "@line_manager":
            found = [actor.line_manager] if actor is not None and actor.line_manager else []
        elif name == "@raiser":
            found = [db.session.get(User, instance.started_by_id)] if instance.started_by_id else []
        elif name in ("@raising", "@counterpart", "@raising_manager", "@counterpart_manager"):
            party = name[1:].removesuffix("_manager")
            before = (holders or {}).get(party) or parties.current_holder(instance, party)
            person, contact = before
            if name.endswith("_manager"):
                found = [person.line_manager] if person is not None and person.line_manager is not None else []
                if not found:  # no known line manager (an e-mail contact, a chain that ran out): whoever the
                    found = parties.newest_rung_people(instance, party, before)  # side's next rung went to
            elif person is not None:
                found = [person]
            elif contact is not None:
                contacts[contact[1]] = contact
                continue
        else:
            found = access.role_holders(name, instance)
        found = [p for p in found if p is not None and p.active]
        if not found:
            unresolved.append(name)
        for person in found:
            people[person.id] = person
    return list(people.values()), unresolved, list(contacts.values())


PARTY_TOKENS = ("@raising", "@counterpart", "@raising_manager", "@counterpart_manager")


@events.subscribe
def remember_holders(happened: events.DomainEvent) -> None:
    """Party tokens (@raising, @counterpart_manager ...) name people as things stood when the event happened,
    before the same change's new tasks climbed a rung: note who held each side now, for ``announce``."""
    spec = happened.data.get("recipients")
    if spec and any(token in spec for token in PARTY_TOKENS):
        happened.holders = {party: parties.current_holder(happened.instance, party) for party in parties.PARTIES}


def announce(happened: events.DomainEvent) -> None:
    """Once the change is complete: queue the notices and e-mails an event with ``recipients`` asks for."""
    if "recipients" in happened.data and happened.entry is not None:
        notify(happened.instance, happened.entry, happened.by, happened.holders)


events.subscribe(announce, at_commit=True)


def notify(instance: ProcessInstance, entry: HistoryEntry, actor: User | None, holders: dict | None = None) -> None:
    """Queue e-mails and in-app notices for a history entry that names ``recipients``; note on the entry
    who they went to and which names matched nobody (never silently dropped)."""
    recipients, unresolved, contacts = resolve_recipients(instance, entry.data.get("recipients", ""), actor, holders)
    now = clock.now()
    base_url = current_app.config["BASE_URL"].rstrip("/")
    details = [(k.replace("_", " ").capitalize(), v) for k, v in entry.data.items()
               if k not in ("recipients",) and v not in (None, "")]
    subject = (f"{entry.task} – escalation #{instance.id}"
               + (f" ({instance.case_reference})" if instance.case_reference else ""))[:300]
    notices, messages = [], []
    for person in recipients:
        task = next((t for t in instance.tasks if t.state == "ready" and t.assigned_to_id == person.id), None) \
            or next((t for t in instance.tasks if t.state == "ready" and access.is_candidate(person, t)), None)
        link = f"{base_url}/tasks/{task.id}" if task else f"{base_url}/instances/{instance.id}"
        text = f"{entry.task}: escalation #{instance.id}" + (f" ({instance.case_reference})" if instance.case_reference else "")
        notices.append({"user_id": person.id, "instance_id": instance.id, "text": text,
                        "link": link.removeprefix(base_url), "created_at": now, "read_at": None})
        if person.email:
            body = render_template("email/notification.txt", recipient=person, title=entry.task, instance=instance,
                                   details=details, task=task, link=link, actor=actor.display_name if actor else None)
            messages.append(_queued(instance.id, person.id, person.email, subject, body, now))
    for name, email in contacts:  # no account: the message itself is the notice (their task link comes separately)
        body = render_template("email/notification.txt", recipient={"display_name": name}, title=entry.task,
                               instance=instance, details=details, task=None, link=None,
                               actor=actor.display_name if actor else None)
        messages.append(_queued(instance.id, None, email, subject, body, now))
    # Written as one statement per table, straight to the tables (nothing reads these rows back in this
    # transaction, so the ORM's bulk bookkeeping would be spent for nothing).
    if notices:
        db.session.execute(Notice.__table__.insert(), notices)
    if messages:
        db.session.execute(OutboxMessage.__table__.insert(), messages)
    entry.data = {**entry.data, "sent_to": [p.username for p in recipients],
                  "emailed": [p.username for p in recipients if p.email] + [email for _, email in contacts],
                  "no_one_holds": unresolved}


def _queued(instance_id: int, user_id: int | None, email: str, subject: str, body: str, now) -> dict:
    """An outbox row for a notification e-mail, waiting to be sent."""
    return {"instance_id": instance_id, "user_id": user_id, "kind": "notification", "recipient_email": email,
            "subject": subject, "body": body, "status": "pending", "attempts": 0, "next_attempt_at": now,
            "lease_until": None, "last_error": None, "created_at": now, "sent_at": None}


@dataclass
class DeliveryResult:
    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def deliver_pending(limit: int = 100) -> DeliveryResult:
    """Send what is due; each message is claimed by exactly one worker (an atomic UPDATE with a lease)."""
    result = DeliveryResult()
    now = clock.now()
    due = (or_(OutboxMessage.status == "pending", OutboxMessage.status == "sending")
           & or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now)
           & (OutboxMessage.next_attempt_at <= now))
    ids = list(db.session.scalars(select(OutboxMessage.id).where(due).order_by(OutboxMessage.id).limit(limit)))
    db.session.rollback()
    for message_id in ids:
        claimed = db.session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id, due)
                                     .values(status="sending", lease_until=clock.now() + LEASE))
        db.session.commit()
        if claimed.rowcount != 1:
            continue  # another worker has it
        message = db.session.get(OutboxMessage, message_id)
        try:
            _send(message)
        except (OSError, smtplib.SMTPException) as exc:
            _failed_attempt(message, exc, result)
        else:
            _delivered(message)
            result.sent.append(message_id)
        db.session.commit()
    return result


def _send(message: OutboxMessage) -> None:
    if message.kind == webhooks.KIND:
        webhooks.post(message)
        return
    config = current_app.config
    email = EmailMessage()
    email["From"] = config["MAIL_FROM"]
    email["To"] = message.recipient_email
    email["Subject"] = message.subject
    email["Message-ID"] = f"<outbox-{message.id}@workflow-app>"  # lets a receiving system drop a rare duplicate
    email.set_content(message.body)
    with smtplib.SMTP(config["SMTP_HOST"], config["SMTP_PORT"], timeout=10) as smtp:
        if config.get("SMTP_STARTTLS"):
            smtp.starttls()
        if config.get("SMTP_USERNAME"):
            smtp.login(config["SMTP_USERNAME"], config.get("SMTP_PASSWORD") or "")
        smtp.send_message(email)


def _delivered(message: OutboxMessage) -> None:
    now = clock.now()
    message.status, message.sent_at, message.lease_until = "sent", now, None
    message.attempts += 1
    if message.instance_id and message.kind == webhooks.KIND:
        event, data = webhooks.delivery_record(message)
        events.publish(db.session.get(ProcessInstance, message.instance_id), "webhook_delivered", task=event,
                       data=data, at=now)
    elif message.instance_id:
        instance = db.session.get(ProcessInstance, message.instance_id)
        events.publish(instance, "notification_delivered", task=message.subject,
                       data={"to": message.recipient_email, "attempts": message.attempts}, at=now)


def _failed_attempt(message: OutboxMessage, exc: Exception, result: DeliveryResult) -> None:
    now = clock.now()
    message.attempts += 1
    message.last_error = f"{type(exc).__name__}: {exc}"[:1000]
    message.lease_until = None
    if message.attempts >= MAX_ATTEMPTS:
        message.status = "failed"
        result.failed.append(message.id)
        if message.instance_id and message.kind == webhooks.KIND:
            event, data = webhooks.delivery_record(message)
            events.publish(db.session.get(ProcessInstance, message.instance_id), "webhook_failed", task=event,
                           data={**data, "error": message.last_error}, at=now)
        elif message.instance_id:
            events.publish(db.session.get(ProcessInstance, message.instance_id), "notification_failed",
                           task=message.subject, data={"to": message.recipient_email, "attempts": message.attempts,
                                                       "error": message.last_error}, at=now)
    else:
        message.status = "pending"
        message.next_attempt_at = now + min(FIRST_RETRY * 2 ** (message.attempts - 1), LAST_RETRY)
        result.retrying.append(message.id)
    log.warning("%s to %s failed (attempt %s): %s", "webhook" if message.kind == webhooks.KIND else "mail",
                message.recipient_email, message.attempts, message.last_error)


# -- in-app notices and the daily digest ----------------------------------------------------------------

def unread_count(user: User) -> int:
    return db.session.query(Notice).filter(Notice.user_id == user.id, Notice.read_at.is_(None)).count()


def notices_of(user: User, limit: int = 100) -> list[Notice]:
    return list(db.session.scalars(select(Notice).where(Notice.user_id == user.id)
                                   .order_by(Notice.id.desc()).limit(limit)))


def mark_all_read(user: User) -> None:
    db.session.execute(update(Notice).where(Notice.user_id == user.id, Notice.read_at.is_(None))
                       .values(read_at=clock.now()))
    db.session.commit()


def queue_digests() -> int:
    """One e-mail per person with tasks (held or available to them) due within the next 2 working days."""
    from workflow_app.services import deployments, views
    now = clock.now()
    queued = 0
    for person in db.session.scalars(select(User).where(User.active.is_(True), User.email != "")):
        tasks = views.inbox(person, "mine") + views.inbox(person, "available")
        due_soon = []
        for task in tasks:
            if task.due_at is None:
                continue
            calendar = deployments.calendar_of(task.instance.deployment)
            if task.due_at <= calendar.add_working_days(now, 2):
                due_soon.append((task, views.deadline_of(task)))
        if not due_soon:
            continue
        body = render_template("email/digest.txt", recipient=person, tasks=due_soon,
                               base_url=current_app.config["BASE_URL"].rstrip("/"))
        db.session.add(OutboxMessage(user_id=person.id, kind="digest", recipient_email=person.email,
                                     subject=f"{len(due_soon)} task(s) due in the next 2 working days", body=body,
                                     status="pending", attempts=0, next_attempt_at=now, created_at=now))
        queued += 1
    db.session.commit()
    return queued
