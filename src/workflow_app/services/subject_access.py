"""Subject access: everything held about one person, across every escalation.

A data protection officer searches by a child's case reference (exact, without regard to case) or by a
professional's name or username (who raised an escalation, held or completed a task, was named as a party or
an e-mail contact, or acted in its history). The export holds, per escalation found: its details and data,
the parties, the tasks, every history entry, the rectifications, and the access-log rows about it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select, union

from workflow_app import clock
from workflow_app.extensions import db
from workflow_app.persistence.models import EscalationParty, HistoryEntry, ProcessInstance, TaskRecord, User
from workflow_app.services import access_log, history, parties, rectification
from workflow_app.services.errors import InvalidInput
from workflow_app.services.retention import require_officer

KINDS = ("case", "person")


@dataclass
class Subject:
    kind: str  # case / person
    query: str


def find(subject: Subject) -> list[ProcessInstance]:
    """The escalations that hold data about the subject, oldest first (disposed ones hold none)."""
    if subject.kind not in KINDS or not subject.query.strip():
        raise InvalidInput({"q": "Enter a case reference or a person's name"}, "Nothing to search for")
    text = subject.query.strip().lower()
    if subject.kind == "case":
        condition = func.lower(ProcessInstance.case_reference) == text
    else:
        condition = ProcessInstance.id.in_(_instances_of_person(text))
    return list(db.session.scalars(select(ProcessInstance).where(condition, ProcessInstance.state != "")
                                   .order_by(ProcessInstance.started_at, ProcessInstance.id)))


def _instances_of_person(text: str):
    users = select(User.id).where(or_(func.lower(User.username) == text, func.lower(User.display_name) == text,
                                      User.id.in_(_users_with_email(text))))
    usernames = select(User.username).where(User.id.in_(users))
    return union(
        select(ProcessInstance.id).where(or_(ProcessInstance.started_by_id.in_(users),
                                             func.lower(ProcessInstance.started_by) == text)),
        select(TaskRecord.instance_id).where(or_(
            TaskRecord.assigned_to_id.in_(users), TaskRecord.completed_by_id.in_(users),
            func.lower(TaskRecord.contact_name) == text,
            TaskRecord.instance_id.in_(_with_contact_email(TaskRecord, text)))),
        select(EscalationParty.instance_id).where(or_(
            EscalationParty.person_id.in_(users), func.lower(EscalationParty.contact_name) == text,
            EscalationParty.instance_id.in_(_with_contact_email(EscalationParty, text)))),
        select(HistoryEntry.instance_id).where(or_(HistoryEntry.actor.in_(usernames),
                                                   func.lower(HistoryEntry.actor) == text)))


# E-mail addresses are encrypted at rest (persistence/encryption.py), so SQL cannot compare them: the rows that
# have one are decrypted and compared here. Only a search that looks like an address pays for it, and only
# users and external-contact rows carry addresses.

def _users_with_email(text: str) -> list[int]:
    if "@" not in text:
        return []
    return [user_id for user_id, email in db.session.execute(select(User.id, User.email).where(User.email != ""))
            if email.lower() == text]


def _with_contact_email(model, text: str) -> list[int]:
    if "@" not in text:
        return []
    rows = db.session.execute(select(model.instance_id, model.contact_email).where(model.contact_email.is_not(None)))
    return sorted({instance_id for instance_id, email in rows if (email or "").lower() == text})


def export(subject: Subject, *, user: User) -> dict[str, Any]:
    """The whole answer as one JSON-ready dict (the HTML document renders the same dict)."""
    require_officer(user, "subject access export", f"{subject.kind} {subject.query}")
    found = find(subject)
    for instance in found:  # the export itself is a view of each escalation
        access_log.record_view(instance, "subject_access", user=user)
    return {"subject": {"kind": subject.kind, "query": subject.query.strip()},
            "generated_at": clock.now().isoformat(), "generated_by": user.username,
            "escalations": [_escalation(instance) for instance in found]}


def _escalation(instance: ProcessInstance) -> dict[str, Any]:
    return {
        "id": instance.id, "protocol": instance.protocol_key, "version": instance.deployment.version,
        "status": instance.status, "case_reference": instance.case_reference,
        "started_at": instance.started_at.isoformat(), "started_by": instance.started_by,
        "ended_at": instance.ended_at.isoformat() if instance.ended_at else None, "end_reason": instance.end_reason,
        "agencies": [a.name for a in instance.agencies],
        "data": instance.data,
        "parties": [{"side": parties.label(instance, p.party), "agency": p.agency.name if p.agency else None,
                     "person": p.person.display_name if p.person else None, "contact_name": p.contact_name,
                     "contact_email": p.contact_email} for p in instance.parties],
        "tasks": [{"title": t.title, "role": t.role, "state": t.state, "side": parties.label(instance, t.party),
                   "assigned_to": t.assigned_to.username if t.assigned_to else None, "completed_by": t.completed_by,
                   "contact_name": t.contact_name, "contact_email": t.contact_email,
                   "created_at": t.created_at.isoformat(),
                   "completed_at": t.completed_at.isoformat() if t.completed_at else None} for t in instance.tasks],
        "history": [{"id": h.id, **history.to_dict(h)} for h in instance.history],
        "rectifications": [{"history_entry": r.history_id, "field": r.field, "old_value": r.old_value,
                            "new_value": r.new_value, "reason": r.reason, "by": r.by, "at": r.at.isoformat()}
                           for r in rectification.rectifications_of(instance.id)],
        "access_log": [access_log.to_dict(e) for e in access_log.views_of(instance.id)],
    }
