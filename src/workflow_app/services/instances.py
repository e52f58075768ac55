"""Instances: start an escalation, complete its tasks, fire its timers — each change in one transaction.

Every public function here loads the instance's engine state, lets the engine act, then writes the
new state, the task projection and the due-timer index, publishes what happened as domain events
(services/events.py: history, notices, e-mail and webhooks consume them in the same transaction), and commits.
Optimistic locking (``ProcessInstance.lock_version``) turns a concurrent change into a 409.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import after_this_request, has_request_context
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError

from workflow_app import clock
from workflow_app.engine import EngineError, EngineInstance, TaskNotReady
from workflow_app.extensions import db
from workflow_app.persistence.models import Agency, EscalationParty, ProcessInstance, TaskRecord, User
from workflow_app.services import access, events, external_links, parties, people, webhooks
from workflow_app.services import report_facts  # noqa: F401  (keeps the report figures in step with each flush)
from workflow_app.services.deployments import (bundle_for, calendar_of, diagram_functions_of, load_engine,
                                              require_latest)
from workflow_app.services.errors import Conflict, InvalidInput, NotFound
from workflow_app.services.form_validation import validate_submission

RUNNING = "running"
SIDE_EVENTS = {"deadline_breached", "reminder", "timer_fired"}
CONCURRENT_CHANGE = ("Someone else changed this escalation at the same moment, so nothing was saved. "
                     "Reload the page to see its current state.")


# PostgreSQL's "deadlock detected" and "could not serialize": the transaction was rolled back as a whole and
# may simply be run again.
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})
ATTEMPTS = 3


def concurrency_safe(operation):
    """Turn a lost race into a 409: another request changed the same instance (version check) or created
    the same task row first. SQLAlchemy can notice either while flushing mid-operation, not only at commit.
    A transaction the database broke off to end a deadlock is run again (it changed nothing), up to
    ``ATTEMPTS`` times, instead of failing the request.

    The operation runs without autoflush: what it writes reaches the database once, at commit, as one batch per
    table (a query in the middle would otherwise flush the rows written so far, and the history rows, task rows
    and instance row of one change would go out in several rounds). Its reads go through the loaded instance and
    its relationships, not queries for rows it has just written."""
    @functools.wraps(operation)
    def guarded(*args, **kwargs):
        for attempt in range(1, ATTEMPTS + 1):
            try:
                with db.session.no_autoflush:
                    return operation(*args, **kwargs)
            except (StaleDataError, IntegrityError):
                db.session.rollback()
                raise Conflict(CONCURRENT_CHANGE) from None
            except OperationalError as exc:
                db.session.rollback()
                if attempt == ATTEMPTS or getattr(exc.orig, "sqlstate", None) not in TRANSIENT_SQLSTATES:
                    raise
    return guarded


# -- commands -------------------------------------------------------------------------------------

CHOICE_SOURCES = {
    "agencies": lambda: [a.name for a in db.session.scalars(select(Agency).order_by(Agency.name))],
    "people": parties.people_choices,
}


def dynamic_choices(form=None) -> dict[str, list]:
    """Values for form fields whose choices come from this installation (``choices_from``): those ``form``
    uses (none for most task forms, so a completion does not read every agency and person), or all."""
    wanted = ({f.choices_from for f in form.fields if f.choices_from} if form is not None else set(CHOICE_SOURCES))
    return {name: load() for name, load in CHOICE_SOURCES.items() if name in wanted}


class _OneValueLookup(Mapping):
    """The allowed values of a ``choices_from`` field as validation asks for them: one value at a time, looked up
    with one query, instead of listing every agency or person of the installation on each submission."""

    def __init__(self, find):
        self._find = find

    def __getitem__(self, key: str) -> str:
        found = self._find(key)
        if found is None:
            raise KeyError(key)
        return found

    def __iter__(self):
        raise TypeError("a lookup does not list its values")

    def __len__(self) -> int:
        raise TypeError("a lookup does not list its values")


CHOICE_LOOKUPS = {
    "agencies": lambda key: (agency.name if (agency := people.find_agency(key)) is not None else None),
    "people": parties.person_choice,
}


def choice_lookups(form) -> dict[str, Mapping[str, str]]:
    """What :func:`validate_submission` checks a ``choices_from`` answer against (see ``_OneValueLookup``)."""
    wanted = {f.choices_from for f in form.fields if f.choices_from} if form is not None else set()
    return {name: _OneValueLookup(find) for name, find in CHOICE_LOOKUPS.items() if name in wanted}


MAX_CASE_REFERENCE = 200  # instances.case_reference is String(200)


@concurrency_safe
def start_instance(protocol_key: str, submitted: dict[str, Any], *, user: User,
                   from_html: bool = False) -> ProcessInstance:
    deployment = require_latest(protocol_key)
    access.require_start(user, deployment)
    bundle = bundle_for(deployment)
    clean = validate_submission(bundle.start_form, submitted, from_html=from_html,
                                dynamic_choices=choice_lookups(bundle.start_form))
    reference = str(clean.get("case_reference") or "")
    if len(reference) > MAX_CASE_REFERENCE:  # the indexed column's size, whatever the form allows
        raise InvalidInput({"case_reference": f"Must be at most {MAX_CASE_REFERENCE} characters "
                                              f"(this has {len(reference):,})"}, "Some fields are not valid")
    named = parties.named_parties(bundle, bundle.start_form, clean, user)
    now = clock.now()
    instance = ProcessInstance(
        deployment=deployment, protocol_key=deployment.protocol_key, status=RUNNING,
        case_reference=str(clean["case_reference"]) if clean.get("case_reference") else None,
        state="", data={}, started_at=now, started_by=user.username, started_by_id=user.id, updated_at=now,
        agencies=_named_agencies(bundle.start_form, clean),
    )
    db.session.add(instance)
    parties.attach(instance, named)
    events.publish(instance, "started", actor=user.username, data=clean, at=now, party="raising" if named else None,
                   by=user, webhook={"started_by": user.username})
    engine = EngineInstance.new(bundle, diagram_functions_of(deployment))
    error = None
    try:
        engine.begin(clean)
    except EngineError as exc:
        error = exc
    _apply(instance, engine, error=error, actor=user)
    _commit()
    return instance


def _named_agencies(form, clean: dict[str, Any]) -> list[Agency]:
    """The agencies an escalation is between: the values of its start form's agency fields."""
    names = {clean[f.name] for f in (form.fields if form else ()) if f.choices_from == "agencies" and clean.get(f.name)}
    return [a for a in (people.find_agency(n) for n in sorted(names)) if a is not None]


@concurrency_safe
def complete_task(task_id: str, submitted: dict[str, Any], *, user: User, from_html: bool = False) -> ProcessInstance:
    record = get_task(task_id)
    access.require_see_instance(user, record.instance)
    _require_open(record)
    access.require_complete(user, record)
    return _complete(record, submitted, from_html=from_html, user=user, actor=user.username)


@concurrency_safe
def complete_by_link(token: str, submitted: dict[str, Any], *, from_html: bool = False) -> ProcessInstance:
    """Complete the one task an external contact's link names; the link is spent in the same transaction."""
    request = external_links.open_link(token)
    record = request.record
    actor = f"{request.link.contact_name} <{request.link.contact_email}> (by e-mailed link)"
    return _complete(record, submitted, from_html=from_html, user=None, actor=actor, link=request.link)


def _complete(record: TaskRecord, submitted: dict[str, Any], *, from_html: bool, user: User | None,
              actor: str, link=None) -> ProcessInstance:
    task_id = record.id
    instance = record.instance
    if instance.suspended_at is not None:  # see services/operations.py
        raise Conflict(f"This escalation is suspended ({instance.suspend_reason}); its tasks cannot be completed "
                       "until it is resumed. Nothing was saved.")
    bundle = bundle_for(instance.deployment)
    form = bundle.forms.get(record.element_id)
    clean = validate_submission(form, submitted, from_html=from_html, dynamic_choices=choice_lookups(form))
    if link is not None:  # spent in the same transaction as the completion; a form with errors keeps it usable
        external_links.spend(link)

    engine = load_engine(instance)
    # A deadline that passed before this submission takes effect first, as it would have had
    # the timer sweep already run.
    try:
        engine.fire_due_timers()
    except EngineError as exc:
        _apply(instance, engine, error=exc)
        _commit()
        raise Conflict(f"The escalation could not go on: {exc}") from None
    if not any(t.id == task_id for t in engine.ready_user_tasks()):
        _apply(instance, engine)
        _commit()
        raise Conflict(_why_closed(record))
    if engine.events:  # e.g. a reminder or a non-escalating breach: history keeps the order things happened
        _apply(instance, engine)

    error = None
    try:
        engine.complete_task(task_id, clean)
    except TaskNotReady as exc:
        db.session.rollback()
        raise Conflict(str(exc)) from None
    except EngineError as exc:
        error = exc
    now = clock.now()
    events.publish(instance, "task_completed", actor=actor, task=record.title, task_id=record.id,
                   element_id=record.element_id, data=clean, at=now, party=record.party, by=user,
                   webhook=webhooks.task_payload(record, completed_by=actor))
    record.completed_by = actor if user is None else user.username
    if user is not None:  # relationships, not ids: the next rung's assignment reads them before any flush
        record.completer = user
        record.assigned_to = user
    _apply(instance, engine, completed_task_id=task_id, error=error, actor=user)
    _commit()
    return instance


def fire_due_timers(instance_id: int) -> bool:
    """Fire whatever is due on one instance; False if nothing was due any more (another worker got
    there first) or another worker changed it at the same moment.

    On PostgreSQL the row is locked (``FOR UPDATE SKIP LOCKED``) so a second sweeper skips it at once;
    on every database the version column makes a lost race roll back instead of applying twice.
    """
    instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.id == instance_id)
                                 .with_for_update(skip_locked=True)
                                 .options(selectinload(ProcessInstance.deployment),  # not joined: FOR UPDATE
                                          selectinload(ProcessInstance.tasks).options(  # locks one row
                                              selectinload(TaskRecord.assigned_to), selectinload(TaskRecord.agency)),
                                          selectinload(ProcessInstance.parties)))
    if instance is None or instance.status != RUNNING or instance.suspended_at is not None \
            or instance.next_timer_at is None \
            or instance.next_timer_at > clock.now():
        db.session.rollback()
        return False
    with db.session.no_autoflush:  # written in one flush at commit, as in concurrency_safe
        engine = load_engine(instance)
        error = None
        try:
            engine.fire_due_timers()
        except EngineError as exc:
            error = exc
        try:
            _apply(instance, engine, error=error)
            _commit()
        except (Conflict, StaleDataError, IntegrityError):
            db.session.rollback()
            return False
    return True


@concurrency_safe
def cancel_instance(instance_id: int, reason: str, *, user: User) -> ProcessInstance:
    """Withdraw an escalation (raised in error, superseded): open tasks close, timers stop.

    Allowed to whoever raised it, the protocol's process owners and administrators.
    """
    instance = get_instance(instance_id)
    access.require_see_instance(user, instance)
    if not (instance.started_by_id == user.id or access.owns_protocol(user, instance.protocol_key)
            or access.is_admin(user)):
        access.refuse(user, "cancel instance", f"instance {instance.id}",
                      "Only the person who raised this escalation, its process owner or an administrator can cancel it.")
    if instance.status != RUNNING and instance.status != "error":
        raise Conflict(f"This escalation is already {instance.status}; nothing was changed.")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput({"reason": "Say why the escalation is cancelled"}, "Say why the escalation is cancelled")
    engine = load_engine(instance)
    engine.cancel()
    now = clock.now()
    _sync_tasks(instance, engine, None, now)
    instance.state = engine.dumps()
    instance.status = "cancelled"
    instance.end_reason = reason
    instance.ended_at = now
    instance.updated_at = now
    instance.current_stage = None
    instance.next_timer_at = None
    events.publish(instance, "ended", actor=user.username, data={"status": "cancelled", "reason": reason}, at=now,
                   by=user, webhook={"status": "cancelled", "reason": reason, "by": user.username})
    _commit()
    return instance


@concurrency_safe
def resend_link(task_id: str, *, user: User) -> TaskRecord:
    """E-mail a new single-use link to the contact holding a task (the old one expired or was lost); any
    earlier link of the task stops working. Anyone who takes part in the escalation may ask."""
    record = get_task(task_id)
    access.require_see_instance(user, record.instance)
    _require_open(record)
    if not record.contact_email:
        raise InvalidInput({"task": "This task is held by someone with an account; there is no link to send."},
                           "There is no link to send")
    external_links.withdraw_open_links(record)
    external_links.issue(record, record.contact_name or record.contact_email, record.contact_email)
    record.instance.updated_at = clock.now()
    events.publish(record.instance, "link_resent", actor=user.username, task=record.title, task_id=record.id,
                   element_id=record.element_id, data={"to": record.contact_email}, party=record.party)
    _commit()
    return record


# -- assignment ------------------------------------------------------------------------------------

@concurrency_safe
def claim_task(task_id: str, *, user: User) -> TaskRecord:
    record = get_task(task_id)
    access.require_see_instance(user, record.instance)
    _require_open(record)
    if record.assigned_to_id == user.id:
        return record
    access.require_complete(user, record)  # a candidate, and not assigned to someone else
    return _assign(record, user, by=user, kind="task_claimed")


@concurrency_safe
def release_task(task_id: str, *, user: User) -> TaskRecord:
    record = get_task(task_id)
    _require_open(record)
    if record.assigned_to_id is None:
        return record
    if record.assigned_to_id != user.id and not access.can_reassign(user, record):
        access.refuse(user, "release task", f"task {record.id}",
                      "Only the person holding this task or their supervisor can release it.")
    return _assign(record, None, by=user, kind="task_released")


@concurrency_safe
def reassign_task(task_id: str, username: str, *, user: User) -> TaskRecord:
    record = get_task(task_id)
    _require_open(record)
    target = people.get_user(username, required=False)
    if target is None:
        raise InvalidInput({"assignee": f"There is no user '{username}'"}, "The task was not reassigned")
    if not (access.can_reassign(user, record) or (record.assigned_to_id is None and target.line_manager_id == user.id)):
        access.refuse(user, "reassign task", f"task {record.id}",
                      "Only the supervisor of the person holding this task (or an administrator) can reassign it.")
    if not access.is_candidate(target, record):
        raise InvalidInput({"assignee": f"{target.display_name} does not hold the role '{record.role}' "
                                        "in the agencies of this escalation"}, "The task was not reassigned")
    return _assign(record, target, by=user, kind="task_reassigned")


def _assign(record: TaskRecord, assignee: User | None, *, by: User, kind: str) -> TaskRecord:
    previous = record.assigned_to.username if record.assigned_to else None
    record.assigned_to = assignee
    record.instance.updated_at = clock.now()  # bumps the version: a concurrent claim gets a 409
    events.publish(record.instance, kind, actor=by.username, task=record.title, task_id=record.id,
                   element_id=record.element_id,
                   data={"assigned_to": assignee.username if assignee else None, "previously": previous})
    _commit()
    return record


# -- the one place state is written ----------------------------------------------------------------

def _apply(instance: ProcessInstance, engine: EngineInstance, *, completed_task_id: str | None = None,
           error: EngineError | None = None, actor: User | None = None) -> None:
    """Write the engine's state and everything derived from it onto the instance (not committed)."""
    now = clock.now()
    for event in engine.events:
        # A side's deadline or reminder is labelled with that side; the process's own steps (routing, notices,
        # escalation) belong to neither, wherever they are drawn.
        party = engine.bundle.element_party.get(event.element_id) if event.kind in SIDE_EVENTS else None
        events.publish(instance, event.kind, task=event.title, element_id=event.element_id, data=event.data,
                       at=now, party=party, by=actor)
        if event.kind == "deadline_breached":
            for record in instance.tasks:
                if record.element_id == event.element_id and record.breached_at is None and record.state == "ready":
                    record.breached_at = now
    engine.events.clear()
    _sync_tasks(instance, engine, completed_task_id, now, actor)

    instance.state = engine.dumps()
    instance.data = engine.data
    instance.updated_at = now
    ready = [t for t in instance.tasks if t.state == "ready"]
    instance.current_stage = "; ".join(t.title for t in ready) or None
    instance.next_timer_at = engine.next_timer_due()
    if error is not None:
        instance.status = "error"
        instance.error_message = str(error)
        events.publish(instance, "error", element_id=error.element_id,
                       task=engine.bundle.element_names.get(error.element_id or "", None),
                       data={"message": str(error)}, at=now)
    elif engine.is_completed:
        status, reason = engine.end_status()
        instance.status = status
        instance.end_reason = reason
        instance.ended_at = now
        instance.next_timer_at = None
        events.publish(instance, "ended", data={"status": status, "reason": reason}, at=now,
                       webhook={"status": status, "reason": reason})


def _sync_tasks(instance: ProcessInstance, engine: EngineInstance, completed_task_id: str | None,
                now: datetime, actor: User | None = None) -> None:
    open_records = {r.id: r for r in instance.tasks if r.state == "ready"}
    ready_tasks = engine.ready_user_tasks()
    climbing = any(t.party and t.id not in open_records for t in ready_tasks) and any(r.party for r in instance.tasks)
    managers = parties.load_line_managers(instance) if climbing else []  # one query for both sides' chains
    for task in ready_tasks:
        record = open_records.pop(task.id, None)
        is_new = record is None
        if is_new:
            record = TaskRecord(id=task.id, instance=instance, element_id=task.element_id, title=task.title,
                                state="ready", created_at=now,
                                seq=max((t.seq or 0 for t in instance.tasks), default=0) + 1)
            db.session.add(record)
        record.role = task.lane
        record.counterpart_role = _counterpart_role_of(instance, record, task)
        if is_new:
            record.stage = task.properties.get("stage")
            if task.party:
                _assign_party_task(instance, record, task, now)
            else:
                record.assigned_to = _initial_assignee(record, actor)
            if _reaches_new_stage(instance, record):
                instance.stage_reached = record.title
        if task.due_at is not None:  # a deadline that has passed stays the task's deadline
            record.due_at = task.due_at
        if is_new:
            events.publish(instance, "task_created", task=record.title, task_id=record.id,
                           element_id=record.element_id, at=now, party=record.party,
                           webhook=webhooks.task_payload(record))
    del managers  # (kept loaded until every new task was assigned)
    calendar = calendar_of(instance.deployment) if open_records else None
    for task_id, record in open_records.items():
        record.completed_at = now
        record.working_days_taken = calendar.working_days_between(record.created_at, now)
        if task_id == completed_task_id:
            record.state = "completed"
        else:
            record.state = "cancelled"
            events.publish(instance, "task_cancelled", task=record.title, task_id=record.id,
                           element_id=record.element_id,
                           data={"reason": "deadline passed" if record.breached_at else "withdrawn by the process"},
                           at=now, party=record.party)


def _counterpart_role_of(instance: ProcessInstance, record: TaskRecord, task) -> str | None:
    """The role across the table: the routed ``counterpart_role`` for the raising side (and neutral tasks); for
    the other side, the role of the raising side's task at the same stage."""
    if task.party != "counterpart":
        return task.data.get("counterpart_role")
    stage = task.properties.get("rung") or task.properties.get("stage")
    mates = [t for t in instance.tasks if t.party == "raising" and t is not record
             and (stage is None or t.rung == stage or t.stage == stage)]
    return mates[-1].role if mates else task.data.get("raising_role")


def _reaches_new_stage(instance: ProcessInstance, record: TaskRecord) -> bool:
    """Whether ``record`` moves the furthest stage reached (for reports). Both sides' tasks of one stage open
    together: the first of them names the stage, so every escalation at that stage is counted under one name."""
    if not record.stage:
        return not any(t.stage for t in instance.tasks if t is not record)
    current = next((t.stage for t in instance.tasks if t is not record and t.title == instance.stage_reached), None)
    if current != record.stage:
        return True
    # Same stage: prefer the raising side's (or a neutral) task's title over the other side's.
    holder = next((t for t in instance.tasks if t is not record and t.title == instance.stage_reached), None)
    return holder is not None and holder.party == "counterpart" and record.party != "counterpart"


def _assign_party_task(instance: ProcessInstance, record: TaskRecord, task, now: datetime) -> None:
    """A task of one side of the dispute goes to one person of that side (see services/parties.py)."""
    record.party = task.party
    record.rung = parties.rung_of(task.properties, task.data)
    side = parties.party_of(instance, task.party)
    record.agency = side.agency if side is not None else None
    assignment = parties.assign(instance, record)
    record.assigned_to = assignment.person
    data = {"how": assignment.how, "assigned_to": assignment.person.username if assignment.person else None}
    if assignment.contact is not None:
        record.contact_name, record.contact_email = assignment.contact
        data["contact"] = f"{record.contact_name} <{record.contact_email}>"
        external_links.issue(record, record.contact_name, record.contact_email)
    if assignment.fallback:
        data["chain_ran_out"] = True
    events.publish(instance, "task_assigned", task=record.title, task_id=record.id, element_id=record.element_id,
                   data=data, at=now, party=record.party)


def _initial_assignee(record: TaskRecord, actor: User | None) -> User | None:
    """Who a new task of a neutral lane (no party) goes to: whoever held this escalation's previous task of
    the same role (a mediator keeps the case), else the person who raised it if they hold the role, else the
    person whose action created it, else their line manager, else the only candidate there is; otherwise
    nobody, and every candidate sees it as available."""
    role = (record.role or "").casefold()
    earlier = [t for t in record.instance.tasks if t is not record and t.party is None
               and (t.role or "").casefold() == role and (t.completer or t.assigned_to) is not None]
    previous = (earlier[-1].completer or earlier[-1].assigned_to) if earlier else None
    raiser = db.session.get(User, record.instance.started_by_id) if record.instance.started_by_id else None
    for person in (previous, raiser, actor, actor.line_manager if actor else None):
        if person is not None and access.is_candidate(person, record):
            return person
    candidates = access.candidates(record)
    return candidates[0] if len(candidates) == 1 else None


def _commit() -> None:
    """Commit the change. Inside a request, what was just written stays loaded for the response (which shows the
    instance as this change left it) instead of being read back row by row; the session forgets it once the
    response is built, so nothing after the request sees an old value."""
    session = db.session()
    in_request = has_request_context()
    session.expire_on_commit = not in_request
    try:
        session.commit()
    except StaleDataError:
        session.rollback()
        raise Conflict(CONCURRENT_CHANGE) from None
    finally:
        session.expire_on_commit = True
    if in_request:
        after_this_request(_forget_loaded)


def _forget_loaded(response):
    db.session.expire_all()
    return response


def _require_open(record: TaskRecord) -> None:
    if record.state != "ready" or record.instance.status != RUNNING:
        raise Conflict(_why_closed(record))


def _why_closed(record: TaskRecord) -> str:
    if record.state == "completed":
        when = record.completed_at.strftime("%d %b %Y %H:%M UTC") if record.completed_at else "earlier"
        return f"This task was already completed by {record.completed_by or 'someone else'} ({when}); nothing was changed."
    if record.state == "cancelled" or record.breached_at:
        return ("This task is no longer open: its deadline passed and the escalation moved on. "
                "Nothing was changed; open the escalation to see where it is now.")
    if record.instance.status != RUNNING:
        return f"This escalation is {record.instance.status}; its tasks can no longer be completed."
    return "This task is no longer waiting to be completed; nothing was changed."


# -- queries ---------------------------------------------------------------------------------------

def get_instance(instance_id: int) -> ProcessInstance:
    instance = db.session.get(ProcessInstance, instance_id)
    if instance is None:
        raise NotFound(f"There is no escalation number {instance_id}")
    return instance


def get_task(task_id: str) -> TaskRecord:
    """A task with what completing it reads: its escalation, that escalation's deployment, tasks (with their
    holders and agencies) and parties, loaded in a few queries instead of one lazy load each."""
    open_task_detail = (joinedload(ProcessInstance.tasks).options(joinedload(TaskRecord.assigned_to),
                                                                   joinedload(TaskRecord.agency)))
    record = db.session.get(TaskRecord, task_id, options=[
        joinedload(TaskRecord.instance).options(
            joinedload(ProcessInstance.deployment), open_task_detail,
            joinedload(ProcessInstance.parties).options(joinedload(EscalationParty.agency),
                                                        joinedload(EscalationParty.person)))])
    if record is None:
        raise NotFound("There is no such task")
    return record
