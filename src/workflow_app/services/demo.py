"""Demo people and a year of escalations, produced by the engine itself under a moving clock.

Never use in production: the passwords are published in the README.

The people: for each protocol, two agencies with a management chain on each side (built from the
diagram's party lanes, bottom up, so each rung of the ladder is a different person) and one person for
each neutral lane. The escalations: started on days spread over the past year and driven task by task
through the real services (``instances.start_instance`` / ``complete_task`` / timer sweeps) with the clock
moved between steps, so that deadlines are kept or breached, disputes are resolved at every level, both sides
act, and some are still open today. Nothing is written to the tables directly. Mail that the simulated past
would have sent is kept in the outbox as ``suppressed`` (not sent to the demo addresses).
"""
from __future__ import annotations

import logging
import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import time_machine
from sqlalchemy import select, update

from workflow_app import clock
from workflow_app.engine import dmn_literal_outputs
from workflow_app.extensions import db
from workflow_app.persistence.models import ExternalLink, OutboxMessage, ProcessInstance, TaskRecord, User
from workflow_app.services import deployments, external_links, instances, parties, people, views
from workflow_app.services.deployments import bundle_for, latest_deployment, latest_deployments
from workflow_app.services.errors import ServiceError

log = logging.getLogger(__name__)
DEMO_PASSWORD = "demo-password"
SCHOOL, SOCIAL_CARE = "Northfield Academy", "Children's Social Care"
MAIL_DOMAIN = "demo.workflow-app.test"

FIRST = ["Sam", "Jo", "Helen", "Dan", "Ravi", "Lee", "Dana", "Morgan", "Priya", "Tom", "Aisha", "Ben", "Chloe",
         "Femi", "Grace", "Imran", "Kate", "Luis", "Maya", "Nina", "Owen", "Rosa", "Theo", "Uma", "Will", "Zara",
         "Alex", "Bea", "Cal", "Dev", "Elin", "Finn", "Gus", "Hana", "Ivo", "Jude", "Kit", "Lena", "Max", "Noor"]
LAST = ["Patel", "Reed", "Walsh", "Fox", "Mehta", "Carter", "Okafor", "Hale", "Shah", "Brennan", "Khan", "Lowe",
        "Price", "Adeyemi", "Hughes", "Malik", "Doyle", "Garcia", "Rees", "Novak", "Evans", "Silva", "Marsh",
        "Iqbal", "Turner", "Ali", "Byrne", "Cole", "Dunn", "Ellis", "Ford", "Grant", "Hart", "Irwin", "Jones"]


@dataclass
class ChainSpec:
    """One agency's management chain for one protocol, bottom up: (username or None, role)."""

    agency: str
    rungs: list[tuple[str | None, str]]


@dataclass
class ProtocolOrg:
    raising: list[ChainSpec]
    counterpart: list[ChainSpec]
    neutral: list[tuple[str | None, str]] = field(default_factory=list)  # (username, role), no agency
    escalations: int = 12


# The partnership protocol keeps the people the README names (sam.patel, jo.reed and their managers).
NAMED_PARTNERSHIP = {
    "raising": ChainSpec(SCHOOL, [("sam.patel", "Professional"), ("manager.school", "Line Manager"),
                                  ("senior.school", "Senior Manager"), ("senior2.school", "Senior Manager"),
                                  ("dir.school", "Director / Chief Executive")]),
    "counterpart": ChainSpec(SOCIAL_CARE, [("jo.reed", "Professional"), ("manager.csc", "Line Manager"),
                                           ("senior.csc", "Senior Manager"), ("senior2.csc", "Senior Manager"),
                                           ("dir.csc", "Director / Chief Executive")]),
}
AGENCIES = {
    "partnership_escalation": ((SCHOOL, "Riverside Health Visiting"), (SOCIAL_CARE,)),
    "wsscp_escalation": (("Westshire Police", "Westshire Community Health"), ("Westshire Children's Services",)),
    "cpa_iro_dispute_resolution": (("IRO and CPA Service",), ("Children's Social Work Service",)),
    "wraparound_conflict_resolution": (("Wraparound Milwaukee",),
                                       ("Milwaukee County Human Services", "DMCPS", "Lakeside Family Services")),
    "case_manager_mediation": (("Riverside families (clients)",), ("Riverside Supported Living",)),
}
# Neutral staff belong to no agency (they serve every escalation), except where a protocol's neutral party is
# itself an agency's worker: the case manager mediates from a case-management agency.
NEUTRAL_AGENCY = {"case_manager_mediation": "Riverside Case Management"}
# Protocols raised by a neutral role (the case manager is contacted about a conflict between client and provider).
RAISED_BY_ROLE = {"case_manager_mediation": "Case Manager"}
ESCALATIONS = {"partnership_escalation": 24, "wsscp_escalation": 14, "cpa_iro_dispute_resolution": 14,
               "wraparound_conflict_resolution": 12, "case_manager_mediation": 8}


NAMED_PEOPLE = {"sam.patel": "Sam Patel", "manager.school": "Helen Walsh", "senior.school": "Ravi Mehta",
                "senior2.school": "Priya Shah", "dir.school": "Dana Okafor", "jo.reed": "Jo Reed",
                "manager.csc": "Dan Fox", "senior.csc": "Lee Carter", "senior2.csc": "Aisha Khan",
                "dir.csc": "Morgan Hale"}


def username_for(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", ".", name.casefold()).strip(".")


class _Names:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.used: set[str] = set()

    def next(self) -> tuple[str, str]:
        while True:
            name = f"{self.rng.choice(FIRST)} {self.rng.choice(LAST)}"
            username = username_for(name)
            if username not in self.used and people.get_user(username, required=False) is None:
                self.used.add(username)
                return username, name


def _party_roles(protocol_key: str) -> dict[str, list[str]]:
    """Role lanes of each party lane, in the diagram's order (bottom rung first)."""
    bundle = bundle_for(latest_deployment(protocol_key))
    roles: dict[str, list[str]] = {"raising": [], "counterpart": []}
    for element_id, party in bundle.element_party.items():
        role = bundle.element_role.get(element_id)
        if role and role not in roles[party]:
            roles[party].append(role)
    order = {name: i for i, name in enumerate(bundle.lanes)}
    return {party: sorted(names, key=lambda r: order.get(r, 0)) for party, names in roles.items()}


def _data_roles_by_track(protocol_key: str) -> dict[str, list[str]]:
    """Roles a party task takes from data (``role_from``), per value of the routing table's first input
    (e.g. a track), in the table's rule order: {"A": ["Human Service Worker", ...], ...}."""
    import ast
    deployment = latest_deployment(protocol_key)
    bundle = bundle_for(deployment)
    variables = {p["role_from"] for p in bundle.element_properties.values() if p.get("role_from")}
    tracks: dict[str, list[str]] = {}
    for cell in dmn_literal_outputs(deployment.dmn_files):
        if cell.name not in variables or not cell.inputs:
            continue
        try:
            key = str(ast.literal_eval(cell.inputs[0]))
        except (ValueError, SyntaxError):
            continue
        if cell.value not in tracks.setdefault(key, []):
            tracks[key].append(cell.value)
    return tracks


def _add_person(username: str, name: str, *, agency: str | None, roles: list[str], manager: str | None) -> User:
    existing = people.get_user(username, required=False)
    if existing is not None:
        for role in roles:
            if not existing.has_role(role):
                existing.roles.append(people.get_or_create_role(role))
        return existing
    return people.create_user(username, DEMO_PASSWORD, display_name=name, agency=agency, roles=roles,
                              line_manager=manager, email=f"{username}@{MAIL_DOMAIN}")


def _build_chain(agency: str, rungs: list[tuple[str | None, str]], names: _Names) -> list[User]:
    made: list[User] = []
    manager = None
    for username, role in reversed(rungs):
        if username is None:
            username, display = names.next()
        else:
            display = NAMED_PEOPLE.get(username) or " ".join(part.capitalize() for part in username.split("."))
        person = _add_person(username, display, agency=agency, roles=[role], manager=manager)
        made.append(person)
        manager = person.username
    return list(reversed(made))


def create_demo_people(rng: random.Random | None = None) -> dict[str, dict[str, list[list[User]]]]:
    """Administrator, process owner, policy editor, and for every protocol its agencies' chains and neutral staff.

    Returns {protocol: {"raising": [chain per agency], "counterpart": [...]}} (chains bottom up)."""
    rng = rng or random.Random(7)
    names = _Names(rng)
    protocols = [d.protocol_key for d in latest_deployments()]
    _add_person("admin", "Avery Admin", agency=None, roles=[people.ADMINISTRATOR], manager=None)
    owner = _add_person("owner", "Olu Owner", agency=None, roles=[people.PROCESS_OWNER], manager=None)
    people.set_protocols(owner, protocols)
    _add_person("editor", "Eden Editor", agency=None, roles=[people.POLICY_EDITOR], manager=None)
    _add_person("dpo", "Dana Protection", agency=None, roles=[people.DATA_PROTECTION_OFFICER], manager=None)
    orgs: dict[str, dict[str, list[list[User]]]] = {}
    for key in protocols:
        bundle = bundle_for(latest_deployment(key))
        party_roles = _party_roles(key)
        raising_agencies, other_agencies = AGENCIES.get(key, ((SCHOOL,), (SOCIAL_CARE,)))
        org: dict[str, list[list[User]]] = {"raising": [], "counterpart": []}
        tracks = _data_roles_by_track(key) if not party_roles["counterpart"] else {}
        if tracks:  # the other side's roles depend on a track: one agency (and chain) per track
            org["tracks"] = {}
            for agency, (track, roles) in zip(other_agencies, sorted(tracks.items())):
                people.get_or_create_agency(agency)
                chain = _build_chain(agency, [(None, r) for r in roles], names)
                org["counterpart"].append(chain)
                org["tracks"][track] = chain
        for party, agencies in (("raising", raising_agencies), ("counterpart", other_agencies)):
            roles = party_roles[party]
            if not roles:
                continue
            rungs = _with_repeats(key, roles)
            for index, agency in enumerate(agencies):
                people.get_or_create_agency(agency)
                named = NAMED_PARTNERSHIP.get(party) if key == "partnership_escalation" and index == 0 else None
                if named is not None and [r for _, r in named.rungs] == rungs:
                    org[party].append(_build_chain(agency, named.rungs, names))
                else:
                    org[party].append(_build_chain(agency, [(None, r) for r in rungs], names))
        for lane in bundle.lanes:
            if lane in party_roles["raising"] or lane in party_roles["counterpart"]:
                continue
            if not parties.holders_in_agency(lane, None):
                agency = NEUTRAL_AGENCY.get(key)
                if agency:
                    people.get_or_create_agency(agency)
                _add_person(username_for(lane), f"{names.next()[1]}", agency=agency, roles=[lane], manager=None)
        orgs[key] = org
    db.session.commit()
    return orgs


def _with_repeats(protocol_key: str, roles: list[str]) -> list[str]:
    """A role whose stage repeats per management level (``level_from``) gets two people in the chain."""
    bundle = bundle_for(latest_deployment(protocol_key))
    repeating = {bundle.element_role.get(e) for e, p in bundle.element_properties.items() if p.get("level_from")}
    rungs = []
    for role in roles:
        rungs.append(role)
        if role in repeating:
            rungs.append(role)
    return rungs


# -- the simulated year ---------------------------------------------------------------------------------

TEXT = {
    "plan": ["Joint home visit within 5 working days; social worker to share the updated plan with school.",
             "Strategy discussion on Monday; health visitor to attend the next core group.",
             "Review the child in need plan together in 10 working days, with the family."],
    "evidence": ["Two telephone discussions and one meeting; both agencies kept their position.",
                 "Met on Teams and in person; the disagreement about thresholds remains.",
                 "Case notes exchanged and a joint visit offered; no agreement on next steps."],
    "position": ["We accept the concern and will review the decision with our manager.",
                 "Our decision stands: the threshold for child protection is not met.",
                 "We agree a joint visit is needed but not a strategy discussion."],
    "default": ["Discussed with the family and the professionals involved.",
                "Recorded after a telephone discussion.", "See the case notes of the same date."],
}
DISPUTES = ["Referral closed with no further action although the child disclosed neglect at school.",
            "Step-down from child in need to early help while home conditions have not improved.",
            "Disagreement about whether a joint visit is needed this week.",
            "Missed health appointments not followed up by the allocated worker.",
            "Placement move planned without consulting the school.",
            "Different views on whether the threshold for a strategy discussion is met."]


@dataclass
class _Escalation:
    instance_id: int
    planned: dict[str, datetime] = field(default_factory=dict)  # task id -> when its holder acts


class _Simulator:
    def __init__(self, rng: random.Random, orgs: dict, end: datetime):
        self.rng = rng
        self.orgs = orgs
        self.end = end
        self.traveller = None

    # -- clock --
    def move(self, when: datetime) -> None:
        self.traveller.move_to(when)

    # -- forms --
    def text_for(self, label: str) -> str:
        lower = label.casefold()
        for key in ("plan", "evidence", "position"):
            if key in lower:
                return self.rng.choice(TEXT[key])
        return self.rng.choice(TEXT["default"])

    def fill(self, form, *, resolve: bool, context: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if form is None:
            return data
        for f in form.fields:
            if f.type == "enum":
                values = [v for v, _ in f.choices]
                if "outcome" in f.name or "response" in f.name or "resolved" in f.name:
                    positive = [v for v in values if v in ("resolved", "yes", "agreed", "satisfactory",
                                                           "concluded", "issues_resolution_concluded")]
                    negative = [v for v in values if v not in positive]
                    # Going up a management level is the exception; most unresolved stages move to the next stage.
                    weights = [0.25 if v == "refer_higher" else 1.0 for v in negative]
                    data[f.name] = (positive or values)[0] if resolve or not negative else \
                        self.rng.choices(negative, weights=weights)[0]
                elif f.name in context:
                    data[f.name] = context[f.name]
                elif f.name == "violation" and "none" in values:  # most conflicts are not policy violations
                    data[f.name] = "none" if self.rng.random() < 0.8 else self.rng.choice(values)
                else:
                    data[f.name] = f.default if f.default in values else self.rng.choice(values)
            elif f.type == "boolean":
                data[f.name] = self.rng.random() < 0.5
            elif f.type == "date":
                data[f.name] = clock.now().date().isoformat()
            elif f.type == "long":
                low = int(f.minimum) if f.minimum is not None else 1
                high = int(f.maximum) if f.maximum is not None else low + 10
                default = int(f.default) if f.default and f.default.lstrip("-").isdigit() else low
                data[f.name] = min(max(default, low), high)
            elif f.type == "table":
                data[f.name] = [{name: self.text_for(label) for name, label in f.columns}]
            elif f.choices_from == "agencies":
                data[f.name] = context.get(f.name) or context.get("_own_agency")
            elif f.choices_from == "people":
                data[f.name] = context.get(f.name)
            elif f.party_field and f.party_field[0] in ("contact_name", "contact_email"):
                data[f.name] = context.get(f.name)
            elif f.name == "case_reference":
                data[f.name] = context["case_reference"]
            elif f.max_length is not None and f.max_length < 40:
                data[f.name] = "Demo"
            else:
                data[f.name] = self.rng.choice(DISPUTES) if f.name in ("disagreement", "concern", "issue",
                                                                       "description", "decision_challenged") \
                    else self.text_for(f.label)
        return {k: v for k, v in data.items() if v not in (None, "")}

    # -- one escalation --
    def start(self, key: str, number: int, when: datetime) -> _Escalation | None:
        self.move(when)
        deployment = latest_deployment(key)
        form = bundle_for(deployment).start_form
        org = self.orgs.get(key, {})
        raising = self.rng.choice(org["raising"]) if org.get("raising") else None
        other = self.rng.choice(org["counterpart"]) if org.get("counterpart") else None
        context: dict[str, Any] = {}
        if org.get("tracks"):  # e.g. Wraparound: the track decides which agency the other side is
            track = self.rng.choice(sorted(org["tracks"]))
            other = org["tracks"][track]
            context["track"] = track
        raiser = self._neutral_starter(key) if key in RAISED_BY_ROLE or not raising else raising[0]
        context["case_reference"] = f"{key.split('_')[0].upper()}-{when:%y%m}-{number:03d}"
        context["_own_agency"] = raiser.agency.name if raiser.agency else None
        external = other is None or self.rng.random() < 0.12
        raising_external = key in RAISED_BY_ROLE and self.rng.random() < 0.5  # e.g. a client without an account
        for f in (form.fields if form else ()):
            if not f.party_field:
                continue
            kind, party = f.party_field
            chain = raising if party == "raising" else other
            side_external = external if party == "counterpart" else raising_external
            if kind == "agency":
                if chain:
                    context[f.name] = chain[0].agency.name
            elif kind == "person":
                if chain and not side_external:
                    context[f.name] = chain[0].username
            elif side_external or not chain:
                context[f.name] = (f"{self.rng.choice(FIRST)} {self.rng.choice(LAST)}" if kind == "contact_name"
                                   else f"contact{number}.{party}@partner.{MAIL_DOMAIN}")
        data = self.fill(form, resolve=False, context=context)
        try:
            instance = instances.start_instance(key, data, user=raiser)
        except ServiceError:
            db.session.rollback()
            return None
        return _Escalation(instance.id)

    def _neutral_starter(self, key: str) -> User:
        bundle = bundle_for(latest_deployment(key))
        for lane in ([RAISED_BY_ROLE[key]] if key in RAISED_BY_ROLE else bundle.lanes):
            holders = parties.holders_in_agency(lane, None)
            if holders:
                return holders[0]
        return people.get_user("admin")

    def plan(self, record: TaskRecord, calendar) -> datetime:
        """When the task's holder acts: usually within its deadline, sometimes late."""
        if record.due_at is not None:
            allowed = max(calendar.working_days_between(record.created_at, record.due_at), 1)
            days = self.rng.choice([0, 1, 1, 2] + [allowed] * 2 + [allowed + self.rng.randint(1, 4)])
        else:
            days = self.rng.choice([0, 1, 2, 3, 5])
        when = calendar.add_working_days(record.created_at, days) + timedelta(minutes=self.rng.randint(10, 300))
        return when

    def run(self, escalation: _Escalation, resolve_chance: float) -> None:
        for _ in range(200):
            instance = db.session.get(ProcessInstance, escalation.instance_id)
            if instance is None or instance.status != instances.RUNNING:
                return
            calendar = deployments.calendar_of(instance.deployment)
            open_tasks = [t for t in instance.tasks if t.state == "ready"]
            for record in open_tasks:
                escalation.planned.setdefault(record.id, self.plan(record, calendar))
            next_task = min(open_tasks, key=lambda t: escalation.planned[t.id], default=None)
            task_time = escalation.planned[next_task.id] if next_task else None
            timer_time = instance.next_timer_at
            candidates = [t for t in (task_time, timer_time) if t is not None]
            if not candidates:
                return
            when = min(candidates)
            if when > self.end:
                return  # still open today
            # A timer is due once its time has passed (the engine compares strictly): act a second later.
            self.move(max(when + timedelta(seconds=1), clock.now()))
            if timer_time is not None and when == timer_time:
                instances.fire_due_timers(instance.id)
                continue
            if not self.complete(next_task, resolve_chance):
                return  # left as it is: open, waiting for someone the organisation cannot supply

    def complete(self, record: TaskRecord, resolve_chance: float) -> bool:
        form = views.task_form(record)
        # Later stages resolve more often; the two sides mostly agree with each other.
        stage = int(re.sub(r"\D", "", record.stage or "1") or 1)
        resolve = self.rng.random() < min(0.9, resolve_chance + 0.08 * (stage - 1))
        data = self.fill(form, resolve=resolve, context={})
        try:
            if record.contact_email and record.assigned_to is None:
                link = db.session.scalar(select(ExternalLink).where(ExternalLink.task_id == record.id,
                                                                    ExternalLink.used_at.is_(None))
                                         .order_by(ExternalLink.id.desc()).limit(1))
                if link is None or link.expires_at <= clock.now():  # as a raiser would: send a new link
                    raiser = db.session.get(User, record.instance.started_by_id)
                    instances.resend_link(record.id, user=raiser)
                    return True
                instances.complete_by_link(external_links.token_for(link), data)
                return True
            person = record.assigned_to or next(iter(_candidates(record)), None)
            if person is None:
                return False
            instances.complete_task(record.id, data, user=person)
            return True
        except ServiceError as exc:
            db.session.rollback()
            log.info("demo: %s on '%s' of escalation %s: %s", type(exc).__name__, record.title, record.instance_id, exc)
            # The form wanted something the filler did not give (or a race): try the other answer once.
            data = self.fill(form, resolve=not resolve, context={})
            person = record.assigned_to or next(iter(_candidates(record)), None)
            try:
                if person is None:
                    return False
                instances.complete_task(record.id, data, user=person)
                return True
            except ServiceError:
                db.session.rollback()
                return False


def _candidates(record: TaskRecord) -> list[User]:
    from workflow_app.services import access
    return [u for u in access.candidates(record) if access.is_candidate(u, record)]


def create_demo_data(seed: int = 2026, today: datetime | None = None, scale: float | None = None
                     ) -> list[ProcessInstance]:
    """Demo people, a year of escalations for every deployed protocol run by the engine, and a few raised today
    that the README names (DEMO-001: Stage 1 open for sam.patel and jo.reed; DEMO-002: Stage 2 open for their
    line managers). ``scale`` (default: config ``DEMO_SCALE``) shrinks or grows the year."""
    from flask import current_app
    scale = float(current_app.config.get("DEMO_SCALE", 1.0)) if scale is None else scale
    rng = random.Random(seed)
    orgs = create_demo_people(rng)
    end = (today or clock.now()).astimezone(timezone.utc)
    start = end - timedelta(days=365)
    plan: list[tuple[datetime, str, int]] = []
    for deployment in latest_deployments():
        key = deployment.protocol_key
        count = max(1, round(ESCALATIONS.get(key, 8) * scale))
        calendar = deployments.calendar_of(deployment)
        for number in range(1, count + 1):
            # The last few start in the final weeks, so some disputes are open at every stage today.
            offset = rng.randint(0, 330) if number <= count * 0.7 else rng.randint(330, 362)
            day = start + timedelta(days=offset)
            at = calendar.add_working_days(day.replace(hour=9, minute=0, second=0, microsecond=0), 0)
            at += timedelta(minutes=rng.randint(0, 420))
            plan.append((at, key, number))
    plan.sort()
    created: list[int] = []
    with time_machine.travel(start, tick=False) as traveller:
        simulator = _Simulator(rng, orgs, end)
        simulator.traveller = traveller
        for at, key, number in plan:
            escalation = simulator.start(key, number, at)
            if escalation is None:
                continue
            created.append(escalation.instance_id)
            simulator.run(escalation, resolve_chance=rng.choice([0.25, 0.4, 0.55]))
    _suppress_past_mail(end)
    created += _raised_today()
    db.session.commit()
    return [db.session.get(ProcessInstance, i) for i in created]


TODAY_CASES = [
    ("DEMO-001", "Referral closed with no further action although the child disclosed neglect at school.",
     "Strategy discussion and a child and family assessment.", 0),
    ("DEMO-002", "Step-down from child in need to early help while the home conditions have not improved.",
     "Keep the child in need plan for three more months.", 1),
]


def _raised_today() -> list[int]:
    """The partnership escalations the README points to, raised now by sam.patel against jo.reed."""
    if latest_deployment("partnership_escalation") is None or people.get_user("sam.patel", required=False) is None:
        return []
    sam = people.get_user("sam.patel")
    made = []
    for reference, disagreement, wanted, stages_done in TODAY_CASES:
        try:
            instance = instances.start_instance("partnership_escalation", {
                "case_reference": reference, "raising_agency": SCHOOL, "other_agency": SOCIAL_CARE,
                "other_professional": "jo.reed", "disagreement": disagreement, "desired_outcome": wanted}, user=sam)
        except ServiceError as exc:  # the diagram changed its start form: no named cases, say why
            db.session.rollback()
            log.warning("demo: %s not raised: %s", reference, exc)
            continue
        made.append(instance.id)
        for _ in range(stages_done):
            simulator = _Simulator(random.Random(len(made)), {}, clock.now())
            for record in [t for t in instance.tasks if t.state == "ready"]:
                data = simulator.fill(views.task_form(record), resolve=False, context={})
                instances.complete_task(record.id, data, user=record.assigned_to)
    return made


def _suppress_past_mail(end: datetime) -> None:
    """Mail the simulated past would have sent is kept but not delivered to the demo addresses."""
    db.session.execute(update(OutboxMessage).where(OutboxMessage.status == "pending",
                                                   OutboxMessage.created_at < end)
                       .values(status="suppressed", last_error="demo data: simulated past, not sent"))
    db.session.commit()


def demo_summary(instances_made: list[ProcessInstance]) -> dict[str, int]:
    summary: dict[str, int] = {}
    for instance in instances_made:
        summary[instance.status] = summary.get(instance.status, 0) + 1
    return summary


