"""Database tables.

``ProcessInstance.state`` holds SpiffWorkflow's serialized workflow (its own tasks and data; the spec comes from the
deployment, see engine/serialization.py); ``TaskRecord`` is a projection
of its ready user tasks (so the inbox is a query, not a deserialization of every instance), and
``ProcessInstance.next_timer_at`` is the due-timer index. All three and the history rows are
written in the same transaction as the state they describe.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from flask_login import UserMixin
from sqlalchemy import (DDL, JSON, Boolean, Column, DateTime, ForeignKey, Index, Integer, String, Table, Text, TypeDecorator,
                        UniqueConstraint, event, func)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from workflow_app.extensions import db
from workflow_app.persistence.encryption import EncryptedAddress, EncryptedJSON, EncryptedText


class UTCDateTime(TypeDecorator):
    """Stores naive UTC (portable across SQLite and PostgreSQL), returns aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("refusing to store a naive datetime")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return value.replace(tzinfo=timezone.utc) if value is not None else None


class Deployment(db.Model):
    """An immutable, numbered version of one protocol's BPMN file and the DMN files it uses."""

    __tablename__ = "deployments"
    __table_args__ = (UniqueConstraint("protocol_key", "version", name="uq_deployment_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    protocol_key: Mapped[str] = mapped_column(String(200), index=True)
    name: Mapped[str] = mapped_column(String(300))
    version: Mapped[int] = mapped_column(Integer)
    bpmn_filename: Mapped[str] = mapped_column(String(300))
    # The files themselves are read only where they are needed (parsing on a cache miss, the diagram, the modeller),
    # not with every instance that loads its deployment.
    bpmn_xml: Mapped[str] = mapped_column(Text, deferred=True)
    dmn_files: Mapped[dict[str, str]] = mapped_column(JSON, default=dict, deferred=True)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    calendar: Mapped[str] = mapped_column(String(40))
    timezone: Mapped[str] = mapped_column(String(60))
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deployed_by: Mapped[str] = mapped_column(String(200))
    comment: Mapped[str] = mapped_column(Text, default="")


user_roles = Table(
    "user_roles", db.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
)

user_protocols = Table(  # protocols a process owner is responsible for
    "user_protocols", db.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("protocol_key", String(200), primary_key=True),
)

instance_agencies = Table(
    "instance_agencies", db.metadata,
    Column("instance_id", ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True),
    Column("agency_id", ForeignKey("agencies.id", ondelete="CASCADE"), primary_key=True),
)


class Agency(db.Model):
    __tablename__ = "agencies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)


class Role(db.Model):
    """A role people hold; lane names in diagrams are role names (matched without regard to case)."""

    __tablename__ = "roles"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(EncryptedAddress, default="")  # encrypted at rest (persistence/encryption.py)
    password_hash: Mapped[str] = mapped_column(String(300))
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), nullable=True, index=True)
    line_manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Stored in the session at sign-in and checked on every request; bumped at logout and password change,
    # which ends every session signed in before (a copied cookie stops working).
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    agency: Mapped[Agency | None] = relationship()
    line_manager: Mapped["User | None"] = relationship(remote_side="User.id", back_populates="reports")
    reports: Mapped[list["User"]] = relationship(back_populates="line_manager")
    roles: Mapped[list[Role]] = relationship(secondary=user_roles, order_by="Role.name")

    @property
    def is_active(self) -> bool:  # Flask-Login: a deactivated user cannot sign in
        return bool(self.active)

    @property
    def role_names(self) -> set[str]:
        return {r.name.casefold() for r in self.roles}

    def has_role(self, name: str | None) -> bool:
        return bool(name) and name.casefold() in self.role_names


class ApiToken(db.Model):
    """A personal API token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    user: Mapped[User] = relationship()


class AuditEntry(db.Model):
    """Security-relevant events that are not part of an instance's history (e.g. a refused action)."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str | None] = mapped_column(String(200), nullable=True)
    action: Mapped[str] = mapped_column(String(100))
    target: Mapped[str | None] = mapped_column(String(300), nullable=True)
    outcome: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(Text, default="")


class ProcessInstance(db.Model):
    __tablename__ = "instances"
    __table_args__ = (Index("ix_instances_status_timer", "status", "next_timer_at"),
                      # the list filtered by protocol and status, newest first: id ends the key as it ends the
                      # sort, so the page's ids come from the index alone (PostgreSQL keeps no row id in an index)
                      Index("ix_instances_protocol_status_started_id", "protocol_key", "status", "started_at", "id"),
                      Index("ix_instances_started_at", "started_at"),
                      # covers the report drill-down "protocol + stage reached + dates" without reading rows
                      Index("ix_instances_protocol_stage_started", "protocol_key", "stage_reached", "started_at"),
                      # the owner's dashboard: open escalations per stage, and escalations closed per month
                      Index("ix_instances_protocol_status_stage", "protocol_key", "status", "stage_reached"),
                      Index("ix_instances_protocol_ended", "protocol_key", "ended_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"), index=True)
    # protocol_key and status lead the composite indexes above (every query on them uses one of those): no index
    # of their own, which each change of an escalation would have to keep up to date as well
    protocol_key: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))  # running resolved closed cancelled error
    case_reference: Mapped[str | None] = mapped_column(String(200), index=True)
    current_stage: Mapped[str | None] = mapped_column(String(300))
    # Title of the furthest stage task this instance has reached (tasks with a `stage` property).
    stage_reached: Mapped[str | None] = mapped_column(String(300), nullable=True, index=True)
    # The engine state and the workflow data hold every submitted form: encrypted at rest.
    state: Mapped[str] = mapped_column(EncryptedText)
    data: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON, default=dict)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    end_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    next_timer_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lock_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    # Suspended (services/operations.py): status stays as it was; no task completes and no timer fires until
    # it is resumed.
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    suspended_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    suspend_reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    deployment: Mapped[Deployment] = relationship()
    agencies: Mapped[list[Agency]] = relationship(secondary=instance_agencies, order_by="Agency.name")
    tasks: Mapped[list["TaskRecord"]] = relationship(back_populates="instance",
                                                     order_by="[TaskRecord.created_at, TaskRecord.seq]")
    history: Mapped[list["HistoryEntry"]] = relationship(back_populates="instance", order_by="HistoryEntry.id")
    parties: Mapped[list["EscalationParty"]] = relationship(order_by="EscalationParty.party.desc()")  # raising first

    __mapper_args__ = {"version_id_col": lock_version}


# Case-insensitive prefix search on case references (see services/reports.search).
Index("ix_instances_case_lower", func.lower(ProcessInstance.case_reference))


class TaskRecord(db.Model):
    """A user task as people see it: ready in an inbox, then completed or cancelled."""

    __tablename__ = "tasks"
    __table_args__ = (# the "available" inbox: ready, unassigned tasks of my roles (role_key, so no lower() defeats
                      # the index; assigned_to_id last, so the unassigned ones are found without reading the
                      # assigned ones, which at scale are nearly all of a role's ready tasks)
                      Index("ix_tasks_state_role_key_assigned", "state", "role_key", "assigned_to_id"),
                      # the "mine" and "team" inboxes: a person's ready tasks, not all they ever held
                      Index("ix_tasks_assigned_state", "assigned_to_id", "state"),
                      Index("ix_tasks_element_state", "element_id", "state"),
                      Index("ix_tasks_state_due", "state", "due_at"),
                      # the escalations list's "overdue" filter: does this instance have a ready task past its
                      # deadline? One index probe per listed instance (without it the database picks
                      # ix_tasks_state_due and reads every overdue task of every instance it looks at)
                      Index("ix_tasks_instance_state_due", "instance_id", "state", "due_at"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the engine's task id
    # instance_id and assigned_to_id lead ix_tasks_instance_state_due and ix_tasks_assigned_state: no index of
    # their own (a task's state change rewrites every index of its row)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"))
    element_id: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(300))
    role: Mapped[str | None] = mapped_column(String(200))
    # ``role`` casefolded (set with it, see ``_role_key``): what inbox and visibility queries compare with a
    # user's role names, through an index.
    role_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    counterpart_role: Mapped[str | None] = mapped_column(String(300))
    state: Mapped[str] = mapped_column(String(20))  # ready completed cancelled
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    stage: Mapped[str | None] = mapped_column(String(40), nullable=True)  # the element's `stage` property
    working_days_taken: Mapped[int | None] = mapped_column(Integer, nullable=True)  # set when it closes
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    completed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)

    # Two-party tasks: which side of the dispute, that side's agency, the rung of its ladder (stage and level),
    # and, for someone without an account, the e-mail contact the task was sent to.
    party: Mapped[str | None] = mapped_column(String(20), nullable=True)
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), nullable=True, index=True)
    rung: Mapped[str | None] = mapped_column(String(100), nullable=True)
    contact_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    contact_email: Mapped[str | None] = mapped_column(EncryptedAddress, nullable=True)
    # Order of creation within the instance (tasks made in one step share a timestamp; who held a side's
    # previous rung must not depend on how the database breaks that tie).
    seq: Mapped[int | None] = mapped_column(Integer, nullable=True)

    instance: Mapped[ProcessInstance] = relationship(back_populates="tasks")
    assigned_to: Mapped[User | None] = relationship(foreign_keys=[assigned_to_id])
    completer: Mapped[User | None] = relationship(foreign_keys=[completed_by_id])
    agency: Mapped[Agency | None] = relationship()

    @validates("role")
    def _role_key(self, _key: str, role: str | None) -> str | None:
        self.role_key = role_key_of(role)
        return role


def role_key_of(role: str | None) -> str | None:
    """How a role name is compared: case does not matter (``User.role_names`` are casefolded too)."""
    return role.casefold() if role else None


class HistoryEntry(db.Model):
    """Append-only record of what happened to an instance."""

    __tablename__ = "history"

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    actor: Mapped[str | None] = mapped_column(String(200), nullable=True)
    task: Mapped[str | None] = mapped_column(String(300), nullable=True)
    task_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    element_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON, default=dict)  # submitted form data: encrypted
    party: Mapped[str | None] = mapped_column(String(20), nullable=True)  # raising / counterpart, when one side acted

    instance: Mapped[ProcessInstance] = relationship(back_populates="history")


class EscalationParty(db.Model):
    """One side of a dispute as named when it was raised: its agency and the first person (or e-mail contact)."""

    __tablename__ = "escalation_parties"
    __table_args__ = (UniqueConstraint("instance_id", "party", name="uq_escalation_party"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"), index=True)
    party: Mapped[str] = mapped_column(String(20))  # raising / counterpart
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), nullable=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    contact_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    contact_email: Mapped[str | None] = mapped_column(EncryptedAddress, nullable=True)

    agency: Mapped[Agency | None] = relationship()
    person: Mapped[User | None] = relationship()


class ExternalLink(db.Model):
    """A signed, expiring, single-use link that lets an e-mail contact without an account complete one task.

    The link carries only ``id`` and a random ``nonce`` (signed); it is spent (``used_at``) when the task is
    completed, and refused after ``expires_at``.
    """

    __tablename__ = "external_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"), index=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"), index=True)
    nonce: Mapped[str] = mapped_column(String(64))
    contact_name: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str] = mapped_column(EncryptedAddress)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    task: Mapped[TaskRecord] = relationship()


class OutboxMessage(db.Model):
    """An e-mail waiting to be sent: written in the same transaction as the state change that caused it,
    delivered later by a worker (see services/notifications.py)."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("instances.id"), nullable=True, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(40))  # notification, digest
    # Encrypted at rest: the address, and the body (it quotes the escalation); the subject names only the
    # case reference and the task.
    recipient_email: Mapped[str] = mapped_column(EncryptedAddress)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(EncryptedText)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending sending sent failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Notice(db.Model):
    """An in-app notification (the bell in the header)."""

    __tablename__ = "notices"
    __table_args__ = (Index("ix_notices_user_read", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("instances.id"), nullable=True)
    text: Mapped[str] = mapped_column(Text)
    link: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WorkerHeartbeat(db.Model):
    """One row per timer/mail worker process (``host:pid``, ``:serve`` for the loop inside ``flask serve``):
    when it last finished a sweep and its last error, so every web process can tell whether timers and mail
    are being handled (``GET /api/health``; see services/heartbeat.py)."""

    __tablename__ = "worker_heartbeats"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    interval_seconds: Mapped[float] = mapped_column(db.Float, default=30.0)
    last_sweep_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class LoginFailure(db.Model):
    """A failed sign-in, by username and client address: the login limit, shared by every process."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_key", "username", "client", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100))
    client: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


# -- data protection (issue 18): access log, retention, rectification -------------------------------------------

class AccessLogEntry(db.Model):
    """One view of an escalation (page, API, export, printable record, diagram): who, when, what, from where.

    Append-only: the app only inserts (services/access_log.py); no route edits or deletes a row, and on
    PostgreSQL a trigger refuses UPDATE and DELETE on the table. ``instance_id`` is not a foreign key so the
    log outlives anything done to the escalation."""

    __tablename__ = "access_log"
    __table_args__ = (Index("ix_access_log_instance_at", "instance_id", "at"),
                      # the alert: one person's views outside their agency within a window
                      Index("ix_access_log_user_outside_at", "user_id", "outside_agency", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    instance_id: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    username: Mapped[str] = mapped_column(String(200))
    what: Mapped[str] = mapped_column(String(40))  # page, api, diagram, api_diagram, history_csv ...
    client: Mapped[str] = mapped_column(String(64), default="")
    # The viewer belongs to an agency and the escalation is between other agencies.
    outside_agency: Mapped[bool] = mapped_column(Boolean, default=False)


# PostgreSQL refuses any change to a logged view, whoever asks (the app never tries; see the migration too).
_ACCESS_LOG_APPEND_ONLY = DDL("""
CREATE OR REPLACE FUNCTION access_log_append_only() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'the access log is append-only'; END; $$ LANGUAGE plpgsql;
CREATE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE ON access_log
FOR EACH ROW EXECUTE FUNCTION access_log_append_only();
""")
event.listen(AccessLogEntry.__table__, "after_create", _ACCESS_LOG_APPEND_ONLY.execute_if(dialect="postgresql"))


class LegalHold(db.Model):
    """While a hold is in place (not released), the escalation is never disposed of."""

    __tablename__ = "legal_holds"

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    placed_by: Mapped[str] = mapped_column(String(200))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    released_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Disposal(db.Model):
    """An escalation past its retention period: listed by the daily job (``proposed``), then ``disposed`` once
    a data protection officer approves (or ``skipped`` while on legal hold). Records what was removed and
    who approved, never the data itself."""

    __tablename__ = "disposals"

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(Integer, index=True)
    protocol_key: Mapped[str] = mapped_column(String(200))
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    retention_years: Mapped[int] = mapped_column(Integer)
    listed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), index=True)  # proposed disposed skipped
    approved_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    removed: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # counts per kind of data removed
    note: Mapped[str] = mapped_column(Text, default="")


class Rectification(db.Model):
    """A corrected form value: the superseded value is kept here, for the data protection role only; the
    history entry and the escalation's data carry the new value, and a ``rectified`` history entry says
    what changed and why (without the old value)."""

    __tablename__ = "rectifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"), index=True)
    history_id: Mapped[int] = mapped_column(ForeignKey("history.id"))
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("history.id"), nullable=True)
    field: Mapped[str] = mapped_column(String(200))
    old_value: Mapped[Any] = mapped_column(EncryptedJSON, nullable=True)
    new_value: Mapped[Any] = mapped_column(EncryptedJSON, nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    by: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class MigrationBatch(db.Model):
    """Moving the open escalations of one protocol that match a filter to another deployed version, one item
    per escalation (services/version_migration.py). Rows, not memory: a batch cut off halfway carries on
    where it stopped, and an item done is never done again."""

    __tablename__ = "migration_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    protocol_key: Mapped[str] = mapped_column(String(200), index=True)
    target_deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"))
    mapping: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # old element id -> new (renames only)
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)  # pending running done
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    target: Mapped[Deployment] = relationship()
    items: Mapped[list["MigrationBatchItem"]] = relationship(back_populates="batch", order_by="MigrationBatchItem.id")


class MigrationBatchItem(db.Model):
    __tablename__ = "migration_batch_items"
    __table_args__ = (UniqueConstraint("batch_id", "instance_id", name="uq_migration_item"),
                      Index("ix_migration_items_batch_status", "batch_id", "status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("migration_batches.id", ondelete="CASCADE"))
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending migrated skipped failed
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    batch: Mapped[MigrationBatch] = relationship(back_populates="items")


# -- report figures kept as facts (services/report_facts.py maintains them in the flush that changes a task or
# an escalation, so a protocol report reads a few rows per stage instead of every task) --------------------

class ReportStageFact(db.Model):
    """One stage (task element) of a protocol: how many of its tasks are open, closed and breached."""
    __tablename__ = "report_stage_facts"

    protocol_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    element_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    stage: Mapped[str | None] = mapped_column(String(40), nullable=True)
    open_count: Mapped[int] = mapped_column(Integer, default=0)
    closed_count: Mapped[int] = mapped_column(Integer, default=0)
    breaches: Mapped[int] = mapped_column(Integer, default=0)


class ReportStageDays(db.Model):
    """How many completed tasks of a stage took each whole number of working days (the medians' histogram)."""
    __tablename__ = "report_stage_days"

    protocol_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    element_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    days: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    completed: Mapped[int] = mapped_column(Integer, default=0)


class ReportProtocolFact(db.Model):
    """A protocol's escalations counted by ``dimension`` ("status", "stage_reached") and its tasks by
    "counterpart"; ``value`` "" stands for none."""
    __tablename__ = "report_protocol_facts"

    protocol_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(20), primary_key=True)
    value: Mapped[str] = mapped_column(String(300), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
