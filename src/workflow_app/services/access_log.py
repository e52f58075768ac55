"""Who looked at which escalation: one append-only row per view (page, API, export, printable record, diagram).

Views call :func:`record_view` once, after the permission check. In a request the rows are written when the
response is ready (``after_this_request``), with one INSERT and a commit: a view whose row cannot be written
is a 500, never an unrecorded view, and the page's objects are not reloaded after a mid-request commit.
Outside a request (a command) the row joins the session and the caller commits. Nothing in the app updates or
deletes a row (on PostgreSQL a trigger refuses it; see persistence/models.py).

**Cost.** A page view changes nothing else, so its only commit is the log row's, and a commit that waits for
the disk (fsync) costs more than the page. When the request has no other change to commit, the log row is
committed without waiting for the disk: on SQLite by itself with ``synchronous=NORMAL`` for that one commit (the row is in the write-ahead log when the page is sent and survives the app crashing; only a
power cut in the next moments can lose it, and the next escalation change syncs it), on PostgreSQL in the
request's transaction with ``synchronous_commit = off`` (a database crash can lose at most the last ~0.6 s of
view rows, never corrupt anything). A request with changes of its own, and a view that raises an alert, commit
as durably as ever. The rows go in with one Core INSERT (no unit of work). bench/access_log.py measures it.

When one person opens many escalations outside their own agency within a short window, every data protection
officer gets an in-app notice (``ACCESS_ALERT_THRESHOLD`` views of distinct escalations within
``ACCESS_ALERT_MINUTES``; environment ``WORKFLOW_ACCESS_ALERT_THRESHOLD``, ``WORKFLOW_ACCESS_ALERT_MINUTES``).
"""
from __future__ import annotations

import os
from datetime import timedelta

from flask import after_this_request, current_app, g, has_request_context, request
from sqlalchemy import bindparam, event, insert, select
from sqlalchemy.orm import Session

from workflow_app import clock
from workflow_app.extensions import db
from workflow_app.persistence.models import (AccessLogEntry, AuditEntry, Notice, ProcessInstance, User,
                                             instance_agencies)
from workflow_app.services import access, people
from workflow_app.services.errors import NotFound

VIEW_KINDS = {
    "page": "instance page", "api": "API (instance)", "diagram": "diagram (page)", "api_diagram": "API (diagram)",
    "history_csv": "history CSV", "history_json": "history JSON", "record": "printable record",
    "subject_access": "subject access export", "rectify_page": "rectification page",
    "task": "task page", "respond": "task page (e-mailed link)",
}
DEFAULT_ALERT_THRESHOLD = 20
DEFAULT_ALERT_MINUTES = 60
_PENDING = "_access_log_rows"
_INSERT = insert(AccessLogEntry.__table__)
_AGENCIES_OF = select(instance_agencies.c.agency_id).where(instance_agencies.c.instance_id == bindparam("instance_id"))


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
    _add_row({"at": clock.now(), "instance_id": instance.id, "user_id": viewer.id, "username": viewer.username,
              "what": what, "client": _client_address()}, viewer, instance)


def record_link_view(instance: ProcessInstance, link_id: int, contact_name: str) -> None:
    """Log a view of a task page opened by a signed, single-use e-mailed link (someone without an account).

    The row names the contact and the link (whose e-mail address is kept, encrypted, with the link), not the
    address itself."""
    if not instance.state:
        _refuse_disposed(instance)
    _add_row({"at": clock.now(), "instance_id": instance.id, "user_id": None,
              "username": f"{contact_name} (e-mailed link {link_id})"[:200], "what": "respond",
              "client": _client_address(), "outside_agency": False}, None, instance)


def _add_row(row: dict, viewer: User | None, instance: ProcessInstance) -> None:
    if not has_request_context():
        if "outside_agency" not in row:
            row["outside_agency"] = _outside_agency(viewer, instance)
        if row["outside_agency"]:
            _alert_if_many(viewer, {row["instance_id"]})
        db.session.execute(insert(AccessLogEntry), [row])
        return
    pending = g.get(_PENDING)
    if pending is None:
        pending = g._access_log_rows = []

        @after_this_request
        def _write(response):
            _write_rows(g.pop(_PENDING))
            return response
    pending.append((row, viewer, instance))


def _write_rows(pending: list[tuple[dict, User | None, ProcessInstance]]) -> None:
    """One INSERT for the request's rows, the alert check, and the commit (without waiting for the disk when
    nothing else is being committed; see the module docstring). Whether a view is outside the viewer's agency
    is decided here, when the page has loaded what it shows (the escalation's agencies, often)."""
    if _only_the_log_to_write() and db.engine.dialect.name == "sqlite" and _write_apart_on_sqlite(pending):
        return
    for row, viewer, instance in pending:
        if "outside_agency" not in row:
            row["outside_agency"] = _outside_agency(viewer, instance)
    outside = {viewer.id: viewer for row, viewer, _instance in pending if row["outside_agency"]}
    for viewer in outside.values():  # before the INSERT: an alert is a change, committed durably
        _alert_if_many(viewer, {row["instance_id"] for row, who, _i in pending if who is viewer and row["outside_agency"]})
    relaxed = _only_the_log_to_write()
    connection = db.session.connection()
    connection.execute(_INSERT, [row for row, _viewer, _instance in pending])  # Core: no unit of work
    if not relaxed:
        db.session.commit()
        return
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
    session = db.session()
    session.expire_on_commit = False  # nothing changed but the log: no object needs reloading
    try:
        session.commit()
    finally:
        session.expire_on_commit = True


def _only_the_log_to_write() -> bool:
    """The request's session has no change of its own (pending, or flushed and not yet committed)."""
    session = db.session()
    return not (session.new or session.dirty or session.deleted or session.info.get("flushed"))


def _write_apart_on_sqlite(pending: list[tuple[dict, User | None, ProcessInstance]]) -> bool:
    """SQLite: commit the rows by themselves with ``synchronous=NORMAL`` for that one commit. The setting cannot
    change inside a transaction, so this needs the session's connection outside one (SQLite opens a transaction
    at the first write; the request's reads left none open): then the INSERT and its COMMIT are the only
    statements of that transaction, and the session (which wrote nothing) has nothing to commit itself. False,
    with nothing written, when a row needs the alert check (a change the officers must not lose) or a
    transaction is open."""
    connection = db.session.connection()
    dbapi = connection.connection.dbapi_connection
    if getattr(dbapi, "in_transaction", True):
        return False
    for row, viewer, instance in pending:
        if "outside_agency" not in row:
            row["outside_agency"] = _outside_agency(viewer, instance, connection)
    if any(row["outside_agency"] for row, _viewer, _instance in pending):
        return False
    info = connection.connection.info  # lives as long as the DBAPI connection
    if "synchronous_configured" not in info:  # as set when connecting; it never changes after
        info["synchronous_configured"] = dbapi.execute("PRAGMA synchronous").fetchone()[0]
    configured = info["synchronous_configured"]
    dbapi.execute("PRAGMA synchronous=NORMAL")
    try:
        connection.execute(_INSERT, [row for row, _viewer, _instance in pending])
        dbapi.commit()
    except BaseException:
        dbapi.rollback()
        raise
    finally:
        dbapi.execute(f"PRAGMA synchronous={int(configured)}")
    return True


@event.listens_for(Session, "after_flush")
def _mark_flushed(session, _context) -> None:
    session.info["flushed"] = True


@event.listens_for(Session, "after_transaction_end")
def _clear_flushed(session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop("flushed", None)


def _client_address() -> str:
    return (request.remote_addr or "")[:64] if has_request_context() else "command line"


def _outside_agency(user: User, instance: ProcessInstance, connection=None) -> bool:
    """The viewer belongs to an agency and the escalation is between other agencies."""
    if user.agency_id is None:
        return False
    if "parties" in instance.__dict__ and any(p.agency_id == user.agency_id for p in instance.parties):
        return False  # a side's agency is one of the escalation's (already loaded by the view: no query)
    if "agencies" in instance.__dict__:  # already loaded by the view
        agencies = {a.id for a in instance.agencies}
    else:  # one small indexed read instead of loading the Agency objects
        agencies = set((connection or db.session.connection()).execute(  # Core: no ORM work for a few ints
            _AGENCIES_OF, {"instance_id": instance.id}).scalars())
    return bool(agencies) and user.agency_id not in agencies


def _refuse_disposed(instance: ProcessInstance) -> None:
    from workflow_app.services import retention
    disposal = retention.disposal_of(instance.id)
    when = f" on {disposal.approved_at:%d %B %Y}" if disposal and disposal.approved_at else ""
    raise NotFound(f"Escalation {instance.id} was disposed of{when} under the retention schedule; "
                   "only its anonymised figures remain.")


def _alert_if_many(user: User, viewing: set[int]) -> None:
    """Alert the officers when ``user``'s views outside their agency in the window, with the escalations
    ``viewing`` now (not written yet), reach the threshold."""
    threshold = setting("ACCESS_ALERT_THRESHOLD", "WORKFLOW_ACCESS_ALERT_THRESHOLD", DEFAULT_ALERT_THRESHOLD)
    window = timedelta(minutes=setting("ACCESS_ALERT_MINUTES", "WORKFLOW_ACCESS_ALERT_MINUTES", DEFAULT_ALERT_MINUTES))
    since = clock.now() - window
    opened = len(viewing | set(db.session.scalars(select(AccessLogEntry.instance_id).distinct().where(
        AccessLogEntry.user_id == user.id, AccessLogEntry.outside_agency.is_(True), AccessLogEntry.at > since))))
    if opened < threshold or _alerted_since(user, since):
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
    """Every logged view of the escalation, oldest first, with this request's own (written when it ends)."""
    written = list(db.session.scalars(select(AccessLogEntry).where(AccessLogEntry.instance_id == instance_id)
                                      .order_by(AccessLogEntry.at, AccessLogEntry.id)))
    pending = g.get(_PENDING) or [] if has_request_context() else []
    return written + [AccessLogEntry(**{"outside_agency": viewer is not None and _outside_agency(viewer, instance),
                                        **row}) for row, viewer, instance in pending if row["instance_id"] == instance_id]


def views_by(username: str, limit: int = 500) -> list[AccessLogEntry]:
    return list(db.session.scalars(select(AccessLogEntry).where(AccessLogEntry.username == username)
                                   .order_by(AccessLogEntry.at.desc(), AccessLogEntry.id.desc()).limit(limit)))


def to_dict(entry: AccessLogEntry) -> dict:
    return {"at": entry.at.isoformat(), "instance": entry.instance_id, "user": entry.username,
            "what": VIEW_KINDS.get(entry.what, entry.what), "client": entry.client,
            "outside_agency": entry.outside_agency}
