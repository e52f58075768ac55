"""The two sides of a dispute, and the one person who acts for a side at each rung of its ladder.

A protocol diagram puts each stage's tasks in *party lanes* (``raising`` / ``counterpart``). This module
turns a party task into a person from the organisation, as the seed protocols describe escalation:

- the first rung of a side goes to the person named for it when the escalation was raised (the raising
  side: the person who raised it, unless the start form names someone else; the other side: the
  professional named on the start form, or an e-mail contact when they have no account);
- each later rung goes to the line manager of whoever held the previous rung on that side, climbing that
  agency's own management chain; never the same person twice on one side;
- when a chain runs out, the task goes to the holders of the task's role in that side's agency, and the
  assignment says so (it is written to history by the caller);
- two tasks of one side at the same rung (acknowledge, then confirm) go to the same person.

Nothing here commits: callers own the transaction.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from workflow_app.engine import FormSpec, ProcessBundle
from workflow_app.extensions import db
from workflow_app.persistence.models import (Agency, EscalationParty, ProcessInstance, Role, TaskRecord, User,
                                             user_roles)
from workflow_app.services import people
from workflow_app.services.errors import InvalidInput

PARTIES = ("raising", "counterpart")
PARTY_LABELS = {"raising": "Raising side", "counterpart": "Other side"}
DEFAULT_SCOPE_MESSAGE = ("Both sides of a dispute are in the same agency. This protocol is for disagreements between "
                         "agencies: choose the other professional's agency, or use your own agency's procedure.")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class NamedParty:
    """What the start form says about one side."""

    party: str
    agency: Agency | None = None
    person: User | None = None
    contact_name: str | None = None
    contact_email: str | None = None


@dataclass
class Assignment:
    """Who a party task goes to, and in plain words how that was decided (for history)."""

    person: User | None
    how: str
    contact: tuple[str, str] | None = None  # (name, e-mail) of someone without an account
    fallback: bool = False


# -- the start form ---------------------------------------------------------------------------------

def people_choices() -> list[tuple[str, str]]:
    """(username, "Name (Agency)") of everyone active in an agency, for ``choices_from = people`` fields."""
    query = (select(User).where(User.active.is_(True), User.agency_id.is_not(None))
             .order_by(User.display_name))
    return [(u.username, f"{u.display_name} ({u.agency.name})") for u in db.session.scalars(query)]


def person_choice(key: str) -> str | None:
    """The username ``key`` (casefolded) names, if it is one of :func:`people_choices` (usernames are stored in
    lower case: see people.create_user)."""
    return db.session.scalar(select(User.username).where(User.username == key.strip().lower(),
                                                         User.active.is_(True), User.agency_id.is_not(None)))


def named_parties(bundle: ProcessBundle, form: FormSpec | None, clean: dict[str, Any], raiser: User) -> list[NamedParty]:
    """Read and check the start form's party fields; raises InvalidInput (nothing is created) when a named
    person is not in their side's agency, a contact lacks an e-mail address, or both sides are one agency."""
    if form is None or not any(f.party_field for f in form.fields):
        return []
    named = {p: NamedParty(p) for p in PARTIES}
    fields: dict[tuple[str, str], str] = {}
    errors: dict[str, str] = {}
    for spec in form.fields:
        if not spec.party_field:
            continue
        kind, party = spec.party_field
        fields[(kind, party)] = spec.name
        value = clean.get(spec.name)
        if value in (None, ""):
            continue
        if kind == "agency":
            named[party].agency = people.find_agency(str(value))
        elif kind == "person":
            person = people.get_user(str(value), required=False)
            if person is None or not person.active:
                errors[spec.name] = f"There is no active person '{value}'"
            named[party].person = person
        elif kind == "contact_name":
            named[party].contact_name = str(value).strip()
        elif kind == "contact_email":
            email = str(value).strip()
            if not EMAIL.match(email):
                errors[spec.name] = "Enter an e-mail address like name@example.org"
            named[party].contact_email = email
    for party, side in named.items():
        person_field = fields.get(("person", party))
        if side.person is not None and side.agency is not None and side.person.agency_id != side.agency.id:
            errors[person_field] = (f"{side.person.display_name} works for "
                                    f"{side.person.agency.name if side.person.agency else 'no agency'}, not "
                                    f"{side.agency.name}")
        if side.person is None and side.contact_name and not side.contact_email:
            errors[fields.get(("contact_email", party), "contact_email")] = (
                "Give an e-mail address so they can respond without an account")
    raising, other = named["raising"], named["counterpart"]
    if raising.agency is not None and other.agency is not None and raising.agency.id == other.agency.id:
        message = bundle.properties.get("scope_message") or DEFAULT_SCOPE_MESSAGE
        errors[fields.get(("agency", "counterpart"), "agency")] = message
        raise InvalidInput(errors, message)
    if raising.person is None and not raising.contact_email:
        if raising.agency is None or raiser.agency_id == raising.agency.id:
            raising.person = raiser
        elif raiser.agency_id is not None:  # someone of another agency cannot hold this side's first rung
            errors[fields.get(("agency", "raising"), "agency")] = (
                f"You work for {raiser.agency.name}: raise a disagreement for your own agency, or ask someone in "
                f"{raising.agency.name} to raise it")
        # a partnership-wide raiser (no agency) raises on a side's behalf: the role's holders there take it
    if errors:
        raise InvalidInput(errors, "The escalation was not raised")
    return list(named.values())


def attach(instance: ProcessInstance, named: list[NamedParty]) -> None:
    for side in named:
        instance.parties.append(EscalationParty(party=side.party, agency=side.agency, person=side.person,
                                                contact_name=side.contact_name, contact_email=side.contact_email))


# -- who acts for a side -----------------------------------------------------------------------------

def rung_of(properties: dict[str, str], data: dict[str, Any]) -> str | None:
    """A rung of a side's ladder: the task's ``rung`` property (where one person acts at several stages, e.g.
    the CPA/IRO who raises, starts Stage 1 and signs off), else its ``stage``; plus the value of
    ``level_from`` where a stage repeats."""
    stage = properties.get("rung") or properties.get("stage")
    if not stage:
        return None
    level_var = properties.get("level_from")
    return f"{stage}.{data.get(level_var)}" if level_var else stage


def creation_order(record: TaskRecord) -> tuple:
    """Tasks in the order the engine made them (a step's tasks share one timestamp)."""
    return record.created_at, record.seq or 0


def party_of(instance: ProcessInstance, party: str) -> EscalationParty | None:
    return next((p for p in instance.parties if p.party == party), None)


def holder(record: TaskRecord) -> User | None:
    """Who held a party task: who completed it, else who it is assigned to."""
    return record.completer or record.assigned_to


def load_line_managers(instance: ProcessInstance) -> list[User]:
    """Load, in one query, the line managers (with their roles) of everyone who has held a side's task: a stage
    that climbs the chains reads them in :func:`assign`, once per side, and one query for both sides beats two
    lazy loads per side (the manager, then their roles). The caller keeps the returned list while it assigns:
    the session holds loaded rows only while something refers to them."""
    holders = {person for person in (holder(t) for t in instance.tasks if t.party) if person is not None}
    wanted = sorted({p.line_manager_id for p in holders if p.line_manager_id is not None})
    if not wanted:
        return []
    return list(db.session.scalars(select(User).where(User.id.in_(wanted)).options(joinedload(User.roles))).unique())


def assign(instance: ProcessInstance, record: TaskRecord) -> Assignment:
    """The person (or e-mail contact) a new party task goes to; see the module docstring."""
    side = party_of(instance, record.party)
    earlier = sorted((t for t in instance.tasks if t.party == record.party and t is not record),
                     key=creation_order)
    agency = side.agency if side else None
    if not earlier:
        return _first_rung(instance, record, side)
    same_rung = [t for t in earlier if record.rung is None or t.rung == record.rung]
    if same_rung:
        previous = same_rung[-1]
        person = holder(previous)
        if person is not None:
            return Assignment(person, f"{person.display_name} holds this stage for the {_side(record)}")
        if previous.contact_email:
            return Assignment(None, f"{previous.contact_name} holds this stage for the {_side(record)} (by e-mail)",
                              contact=(previous.contact_name or previous.contact_email, previous.contact_email))
    used = {p.id for p in (holder(t) for t in earlier) if p is not None}
    base = holder(earlier[-1])
    if base is None:
        return _fallback(record, agency, used, f"the previous stage on the {_side(record)} was held by "
                                               f"{earlier[-1].contact_name or 'someone without an account'}, "
                                               "whose line manager is not known")
    manager = base.line_manager
    if manager is None:
        return _fallback(record, agency, used, f"{base.display_name} has no line manager recorded")
    if manager.id in used:
        return _fallback(record, agency, used, f"{manager.display_name}, line manager of {base.display_name}, "
                                               "already held an earlier stage on this side")
    if not manager.active:
        return _fallback(record, agency, used, f"{manager.display_name}, line manager of {base.display_name}, "
                                               "is no longer active")
    if agency is not None and manager.agency_id != agency.id:
        return _fallback(record, agency, used, f"{manager.display_name}, line manager of {base.display_name}, "
                                               f"is not in {agency.name}")
    above = _nearest_in_chain_holding(manager, record.role, agency, used)
    if above is not None and above is not manager:
        return Assignment(above, f"{above.display_name} is the nearest {record.role} above {base.display_name} "
                                 f"in {agency.name if agency else 'their agency'}'s management chain")
    return Assignment(manager, f"line manager of {base.display_name}, who held the previous stage")


def _nearest_in_chain_holding(start: User, role: str | None, agency: Agency | None, used: set[int]) -> User | None:
    """The first person from ``start`` up the management chain who holds ``role`` (e.g. the Director above a
    senior manager whose own manager is a head of service). None when nobody in the chain holds it, and then
    the direct line manager takes the rung: where roles are not recorded, the structure decides."""
    person, seen = start, set()
    while person is not None and person.id not in seen and len(seen) < 20:
        seen.add(person.id)
        if agency is not None and person.agency_id != agency.id:
            return None
        if person.active and person.id not in used and person.has_role(role):
            return person
        person = person.line_manager
    return None


def _first_rung(instance: ProcessInstance, record: TaskRecord, side: EscalationParty | None) -> Assignment:
    if side is not None and side.person is not None and side.person.active:
        how = ("raised the escalation" if side.person.id == instance.started_by_id
               else "named on the start form")
        return Assignment(side.person, how)
    if side is not None and side.contact_email:
        return Assignment(None, "named on the start form; has no account, so a single-use link was e-mailed",
                          contact=(side.contact_name or side.contact_email, side.contact_email))
    if record.party == "raising" and instance.started_by_id:
        raiser = db.session.get(User, instance.started_by_id)
        if raiser is not None and raiser.active:
            return Assignment(raiser, "raised the escalation")
    return _fallback(record, side.agency if side else None, set(), "no person was named for this side when it was raised")


def _fallback(record: TaskRecord, agency: Agency | None, used: set[int], why: str) -> Assignment:
    holders = [u for u in holders_in_agency(record.role, agency) if u.id not in used]
    where = f" in {agency.name}" if agency else ""
    if len(holders) == 1:
        return Assignment(holders[0], f"{why}; {holders[0].display_name} is the only {record.role}{where}",
                          fallback=True)
    if not holders:
        others = " else" if used else ""
        return Assignment(None, f"{why}; and nobody{others} holds the role '{record.role}'{where}, so the task "
                                "waits until an administrator gives the role to someone and assigns it", fallback=True)
    return Assignment(None, f"{why}; the task is available to every {record.role}{where} "
                            f"({', '.join(u.display_name for u in holders)})", fallback=True)


def holders_in_agency(role: str | None, agency: Agency | None) -> list[User]:
    if not role:
        return []
    query = (select(User).join(user_roles, user_roles.c.user_id == User.id).join(Role, Role.id == user_roles.c.role_id)
             .where(func.lower(Role.name) == role.casefold(), User.active.is_(True)).order_by(User.display_name))
    if agency is not None:
        query = query.where(User.agency_id == agency.id)
    return list(db.session.scalars(query))


def held_other_rung(user: User, record: TaskRecord) -> bool:
    """True if ``user`` already held a different rung on this task's side (never the same person twice)."""
    return any(t.party == record.party and t.rung != record.rung and holder(t) is not None and holder(t).id == user.id
               for t in record.instance.tasks if t.id != record.id)


def current_holder(instance: ProcessInstance, party: str) -> tuple[User | None, tuple[str, str] | None]:
    """The person (or e-mail contact) holding the latest rung of a side."""
    tasks = sorted((t for t in instance.tasks if t.party == party), key=creation_order)
    for record in reversed(tasks):
        person = holder(record)
        if person is not None:
            return person, None
        if record.contact_email:
            return None, (record.contact_name or record.contact_email, record.contact_email)
    side = party_of(instance, party)
    if side is not None and side.person is not None:
        return side.person, None
    if side is not None and side.contact_email:
        return None, (side.contact_name or side.contact_email, side.contact_email)
    return None, None


def newest_rung_people(instance: ProcessInstance, party: str, before: tuple) -> list[User]:
    """Who holds (or may take) a side's newest task, if it changed since ``before`` ((person, contact) then):
    the person it went to, or, when it waits unassigned, the role holders in that side's agency."""
    tasks = sorted((t for t in instance.tasks if t.party == party and t.state == "ready"), key=creation_order)
    if not tasks:
        return []
    newest = tasks[-1]
    if newest.assigned_to is not None:
        return [] if before and before[0] is not None and newest.assigned_to.id == before[0].id else [newest.assigned_to]
    if newest.contact_email:
        return []
    return [u for u in holders_in_agency(newest.role, newest.agency) if not held_other_rung(u, newest)]


def _side(record: TaskRecord) -> str:
    return PARTY_LABELS.get(record.party or "", "side").lower()


def label(instance: ProcessInstance, party: str | None) -> str | None:
    """"Raising side (Northfield Academy)" for display."""
    if not party:
        return None
    side = party_of(instance, party)
    text = PARTY_LABELS.get(party, party)
    return f"{text} ({side.agency.name})" if side is not None and side.agency is not None else text
