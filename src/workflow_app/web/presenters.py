"""Turn domain objects into what pages and API responses show."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from zoneinfo import ZoneInfo

import holidays
from flask import Flask, g

from workflow_app import clock
from workflow_app.extensions import db
from workflow_app.persistence.models import Deployment, ProcessInstance, TaskRecord, User
from workflow_app.services import deployments, history, notifications, parties, people, views
from workflow_app.services.calendar import DEFAULT_TIMEZONE
from workflow_app.services.form_validation import max_length_of

STATUS_LABELS = {"running": "Running", "resolved": "Resolved", "closed": "Closed", "cancelled": "Cancelled",
                 "error": "Needs attention (error)"}
KIND_LABELS = {
    "started": "Escalation raised", "task_completed": "Task completed", "routed": "Counterpart routed",
    "timer_fired": "Timer fired", "deadline_breached": "Deadline breached", "escalated": "Escalated",
    "task_cancelled": "Task closed by the process", "ended": "Escalation ended", "error": "Error",
    "notification_sent": "Notification", "notification_delivered": "E-mail delivered",
    "notification_failed": "E-mail could not be delivered", "reminder": "Reminder", "violation_reported": "Violation reported",
    "task_claimed": "Task taken", "task_released": "Task released", "task_reassigned": "Task reassigned",
    "task_assigned": "Task assigned", "link_resent": "New link e-mailed",
    "suspended": "Escalation suspended", "resumed": "Escalation resumed", "retried": "Retried after an error",
    "migrated": "Moved to a new version of the protocol", "rectified": "Record corrected",
    "moved_back": "Moved back to an earlier task",
    "webhook_delivered": "Event sent to a connected system",
    "webhook_failed": "Event could not be sent to a connected system",
}


def protocol_dict(deployment: Deployment) -> dict[str, Any]:
    return {"key": deployment.protocol_key, "name": deployment.name, "version": deployment.version}


def task_dict(record: TaskRecord, *, with_form: bool = True) -> dict[str, Any]:
    deadline = views.deadline_of(record)
    result = {
        "id": record.id,
        "instance_id": record.instance_id,
        "name": record.element_id,
        "title": record.title,
        "role": record.role,
        "counterpart_role": record.counterpart_role,
        "state": record.state,
        "protocol": record.instance.protocol_key,
        "case_reference": record.instance.case_reference,
        "due_at": _iso(views.local_time(record.instance.deployment, record.due_at)),
        "overdue": deadline.overdue,
        "working_days_left": deadline.working_days_left,
        "breached_at": _iso(record.breached_at),
        "completed_at": _iso(record.completed_at),
        "completed_by": record.completed_by,
        "party": record.party,
        "agency": record.agency.name if record.agency else None,
        "assigned_to": record.assigned_to.username if record.assigned_to else None,
        "external_contact": ({"name": record.contact_name, "email": record.contact_email}
                             if record.contact_email else None),
    }
    if with_form:
        form = views.task_form(record)
        result["form"] = {"fields": [f.to_dict() for f in form.fields]} if form else {"fields": []}
    return result


def instance_dict(instance: ProcessInstance) -> dict[str, Any]:
    return {
        "id": instance.id,
        "protocol": instance.protocol_key,
        "version": instance.deployment.version,
        "status": instance.status,
        "case_reference": instance.case_reference,
        "current_stage": instance.current_stage,
        "started_at": _iso(instance.started_at),
        "started_by": instance.started_by,
        "ended_at": _iso(instance.ended_at),
        "end_reason": instance.end_reason,
        "error": instance.error_message,
        "next_deadline_at": _iso(instance.next_timer_at),
        "data": instance.data,
        "ready_tasks": [task_dict(t) for t in instance.tasks if t.state == "ready"],
        "parties": {p.party: {"agency": p.agency.name if p.agency else None,
                              "named_person": p.person.username if p.person else None,
                              "contact": ({"name": p.contact_name, "email": p.contact_email}
                                          if p.contact_email else None)} for p in instance.parties},
        "history": [history.to_dict(h) for h in instance.history],
    }


def summary_dict(instance: ProcessInstance) -> dict[str, Any]:
    """An instance in a list: no data, history or task forms (one query per page, not per row)."""
    return {
        "id": instance.id, "protocol": instance.protocol_key, "version": instance.deployment.version,
        "status": instance.status, "case_reference": instance.case_reference,
        "current_stage": instance.current_stage, "stage_reached": instance.stage_reached,
        "agencies": [a.name for a in instance.agencies], "started_at": _iso(instance.started_at),
        "ended_at": _iso(instance.ended_at), "end_reason": instance.end_reason,
        "next_deadline_at": _iso(instance.next_timer_at),
    }


def report_dict(report) -> dict[str, Any]:
    return {
        "protocol": report.protocol, "total": report.total, "generated_at": _iso(report.generated_at),
        "by_status": dict(report.by_status), "by_stage_reached": dict(report.by_stage_reached),
        "stages": [{"element_id": s.element_id, "title": s.title, "stage": s.stage, "closed": s.closed,
                    "open": s.open, "median_working_days": s.median_days, "p90_working_days": s.p90_days,
                    "breaches": s.breaches, "breach_rate": s.breach_rate} for s in report.stages],
        "counterparts": [{"role": role, "tasks": count} for role, count in report.counterparts],
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def register_template_helpers(app: Flask) -> None:
    @app.before_request
    def forget_page_zone() -> None:
        g.pop("page_zone", None)  # a test or CLI may keep one app context (and its g) across requests

    @app.template_filter("when")
    def when(value: datetime | None, deployment: Deployment | None = None) -> str:
        """A time in the page's one timezone (named once at the foot of the page), without a zone on each time."""
        if value is None:
            return "—"
        return value.astimezone(page_zone(deployment)).strftime("%a %d %b %Y, %H:%M")

    @app.template_filter("when_named")
    def when_named(value: datetime | None, deployment: Deployment | None = None) -> str:
        """For e-mails, which have no page foot: the time with its zone (the protocol's, never UTC)."""
        if value is None:
            return "—"
        zone = deployments.calendar_of(deployment).zone if deployment is not None else ZoneInfo(DEFAULT_TIMEZONE)
        return value.astimezone(zone).strftime("%a %d %b %Y, %H:%M %Z")

    @app.template_filter("display_value")
    def display_value(value: Any) -> Any:
        """Booleans as Yes/No and table rows as 'a — b' lines; everything else as it is."""
        if isinstance(value, bool):
            return "Yes" if value else "No"
        if isinstance(value, list) and value and all(isinstance(row, dict) for row in value):
            return "\n".join(" — ".join(str(v) for v in row.values()) for row in value)
        if isinstance(value, list):  # e.g. who a notice was sent to
            return ", ".join(str(v) for v in value) or "—"
        return value

    @app.template_filter("plural")
    def plural(count: int, singular: str, many: str | None = None) -> str:
        """'1 escalation', '3 escalations'."""
        return f"{count} {singular if count == 1 else (many or singular + 's')}"

    @app.context_processor
    def helpers() -> dict[str, Any]:
        return {"status_label": lambda s: STATUS_LABELS.get(s, s), "kind_label": lambda k: KIND_LABELS.get(k, k),
                "deadline_of": views.deadline_of, "now": clock.now, "case_details": case_details,
                "person_label": person_label, "who_is_told": who_is_told, "when_to_use": when_to_use,
                "calendar_words": calendar_words,
                "readable_data": history_details, "unread_notices": _unread_notices,
                "party_label": parties.label, "status_with_reason": status_with_reason,
                "page_zone_name": page_zone_name, "dispute_so_far": dispute_so_far,
                "required_when_values": required_when_values, "max_length_of": max_length_of,
                "works_cases": people.works_cases}


def set_page_zone(deployment: Deployment | None) -> None:
    """Fix the one timezone this page shows its times in: the protocol's."""
    if deployment is not None and "page_zone" not in g:
        g.page_zone = deployments.calendar_of(deployment).zone


def page_zone(deployment: Deployment | None = None) -> ZoneInfo:
    """The page's timezone: set by the view, else the first protocol a time on the page belongs to, else the
    installation's default; every later time on the page is shown in the same zone."""
    set_page_zone(deployment)
    if "page_zone" not in g:
        g.page_zone = ZoneInfo(DEFAULT_TIMEZONE)
    return g.page_zone


def page_zone_name() -> str | None:
    """'Europe/London (GMT)' for the foot of a page that showed times; None when it showed none."""
    zone = g.get("page_zone")
    if zone is None:
        return None
    return f"{zone.key.replace('_', ' ')} time ({clock.now().astimezone(zone).strftime('%Z')} now)"


def status_with_reason(instance: ProcessInstance) -> str:
    """'Closed – unresolved' rather than 'Closed — Closed – unresolved': the reason already names the status."""
    label = STATUS_LABELS.get(instance.status, instance.status)
    reason = (instance.end_reason or "").strip()
    if not reason:
        return label
    if reason.lower().startswith(label.lower()):
        return reason
    return f"{label} — {reason}"


def required_when_values(form, field) -> list[str]:
    """The labels of the values that make ``field`` required, only those the other field offers."""
    other = form.field_named(field.required_when[0]) if field.required_when else None
    if other is None:
        return []
    if not other.choices:
        return list(field.required_when[1])
    labels = dict(other.choices)
    return [labels[v] for v in field.required_when[1] if v in labels]


def _unread_notices() -> int:
    from flask_login import current_user
    from workflow_app.services import notifications
    return notifications.unread_count(current_user) if current_user.is_authenticated else 0


# Engine and notification keys shown in the history, by what they mean to a reader.
HISTORY_KEY_LABELS = {"sent_to": "Told", "emailed": "E-mailed", "no_one_holds": "No one holds the role",
                      "recipients": "For", "due_at": "Deadline"}
PEOPLE_KEYS = {"sent_to", "emailed", "assigned_to", "assignee", "previous_holder"}
RECIPIENT_KEYS = {"recipients", "notify", "notify_on_start", "notify_on_completion"}


def history_details(instance: ProcessInstance, entry) -> list[tuple[str, Any]]:
    """An entry's data as (label, readable value) pairs: form labels and choice labels where a form knows them,
    people by name, lists as text; empty values left out."""
    if entry.kind in ("started", "task_completed"):
        element_id = entry.element_id if entry.kind == "task_completed" else None
        rows = views.readable_data(instance.deployment, element_id, entry.data)
        bundle = deployments.bundle_for(instance.deployment)
        form = bundle.forms.get(element_id) if element_id else bundle.start_form
        picked = {f.label for f in form.fields if f.choices_from == "people"} if form else set()
        rows = [(label, person_label(value) if label in picked and isinstance(value, str) else value)
                for label, value in rows]
    else:
        rows = _engine_rows(instance, entry.data)
    return [(label, value) for label, value in rows if value not in (None, "", [], {})]


def _engine_rows(instance: ProcessInstance, data: dict[str, Any]) -> list[tuple[str, Any]]:
    start_form = views.start_form(instance.deployment)
    rows = []
    for key, value in data.items():
        field = start_form.field_named(key) if start_form else None
        if key in PEOPLE_KEYS:
            value = _people_names(value)
        elif key in RECIPIENT_KEYS and isinstance(value, str):
            value = recipient_words(value)
        elif field is not None and field.choices:
            value = dict(field.choices).get(value, value)
        label = HISTORY_KEY_LABELS.get(key) or (field.label if field else key.replace("_", " ").capitalize())
        rows.append((label, value))
    return rows


def _people_names(value: Any) -> Any:
    """Usernames as 'Display Name' (an e-mail address of someone without an account stays as it is)."""
    names = value if isinstance(value, list) else [value]
    users = {u.username: u.display_name for u in db.session.scalars(
        db.select(User).where(User.username.in_([n for n in names if isinstance(n, str)])))}
    shown = [users.get(n, n) for n in names]
    return shown if isinstance(value, list) else shown[0]


def dispute_so_far(task: TaskRecord) -> list[dict[str, Any]]:
    """Each earlier completed stage of this escalation, both sides: who, when, and what they recorded (form labels),
    oldest first, for the compact timeline above a task form."""
    instance = task.instance
    entries = []
    for entry in instance.history:
        if entry.kind != "task_completed" or entry.task_id == task.id:
            continue
        entries.append({"at": entry.at, "title": entry.task, "party": entry.party,
                        "actor": _people_names(entry.actor) if entry.actor else None, "actor_username": entry.actor,
                        "details": history_details(instance, entry)})
    return entries


def person_label(who: User | str | None) -> str:
    """'Sam Patel (Professional, Northfield Academy)': a person by name, protocol roles and agency, as the record and
    the pages name people; a username without an account (or an e-mail contact) stays as it is."""
    if who is None or who == "":
        return "—"
    user = who if isinstance(who, User) else _user_named(who)
    if user is None:
        return str(who)
    roles = sorted(r.name for r in user.roles if r.name not in people.SYSTEM_ROLES)
    about = ", ".join([*roles, *([user.agency.name] if user.agency else [])])
    return f"{user.display_name} ({about})" if about else user.display_name


def _user_named(username: str) -> User | None:
    """One look-up per username per request (a history names the same few people many times)."""
    known = g.setdefault("people_by_username", {})
    if username not in known:
        known[username] = db.session.scalar(db.select(User).where(User.username == username))
    return known[username]


def case_details(instance: ProcessInstance) -> list[tuple[str, str, Any]]:
    """The start form's values with their labels (views.case_details), people picked on it by name, role and
    agency instead of their usernames."""
    form = views.start_form(instance.deployment)
    picks_people = {f.name for f in form.fields if f.choices_from == "people"} if form else set()
    return [(name, label, person_label(value) if name in picks_people else value)
            for name, label, value in views.case_details(instance)]


PARTY_TOKEN_LABELS = {"@raising": "whoever acts for the raising side", "@counterpart": "whoever acts for the other side",
                      "@raising_manager": "the raising side's line manager",
                      "@counterpart_manager": "the other side's line manager",
                      "@line_manager": "the line manager of whoever completes the step",
                      "@raiser": "whoever raised the escalation"}


def who_is_told(instance: ProcessInstance, spec: Any) -> list[str]:
    """A diagram's recipient list ('@raising,@counterpart_manager,Care Team') as the people it names now, by name,
    role and agency; a role by its name; a token that names nobody yet by what it means."""
    told: list[str] = []
    for token in (part.strip() for part in str(spec or "").split(",")):
        if not token:
            continue
        if not token.startswith("@"):
            told.append(f"{token} (everyone with this role on the escalation)")
            continue
        found, _, contacts = notifications.resolve_recipients(instance, token, None)
        names = [person_label(p) for p in found] + [f"{name} ({address})" for name, address in contacts]
        told.extend(names or [PARTY_TOKEN_LABELS.get(token, token)])
    return list(dict.fromkeys(told))


WHEN_WORDS = re.compile(r"\b(applies to|purpose|policy|between|two parties|disagree\w*|conflicts?|disputes?|"
                        r"concerns?|complaints?|escalations?)\b", re.I)


def when_to_use(deployment: Deployment, limit: int = 300) -> str:
    """When to choose this protocol, for its card: the diagram's ``when_to_use`` process property if it has one, else
    the sentences of the process documentation that say what it is for (scope, purpose, who disagrees with whom),
    leaving out the citation of its source and the modelling notes."""
    bundle = deployments.bundle_for(deployment)
    if bundle.properties.get("when_to_use"):
        return bundle.properties["when_to_use"]
    sentences = [s for s in re.split(r"(?<=[.!?'])\s+(?=['A-Z])", (bundle.documentation or "").strip())
                 if "(seed " not in s and not s.lower().startswith(("drawn as", "choices", "note:", "deadlines"))]
    ranked = sorted(sentences, key=lambda s: (-len(WHEN_WORDS.findall(s[:200])), sentences.index(s)))
    chosen: list[str] = []
    for sentence in ranked[:2]:
        if chosen and len(" ".join([*chosen, sentence])) > limit:
            break
        chosen.append(sentence)
    text = " ".join(sorted(chosen, key=sentences.index))
    text = re.sub(r"\s*\((?:property|party lane|seed)[^()]*\)", "", text)  # modelling notes in brackets
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"


def calendar_words(deployment: Deployment) -> str:
    """'England (United Kingdom) public holidays, Europe/London time' rather than the code 'GB-ENG'."""
    calendar = deployments.calendar_of(deployment)
    code = calendar.code.upper()
    country, _, region = code.partition("-")
    country_name = next((name.replace("_", " ").title() for name, codes in holidays.registry.COUNTRIES.items()
                         if country in codes), country)
    try:
        aliases = holidays.country_holidays(country, subdiv=region or None).subdivisions_aliases
        region_name = {v: k for k, v in aliases.items()}.get(region, region)
    except (NotImplementedError, KeyError, AttributeError):
        region_name = region
    place = f"{region_name} ({country_name})" if region_name else country_name
    return f"{place} public holidays, {calendar.zone.key.replace('_', ' ')} time"


def recipient_words(spec: str) -> str:
    """A recipient list in a history entry ('@raising,@counterpart_manager') by what each token meant: who it named
    is in the entry's own 'Told' row, as things stood then."""
    parts = [part.strip() for part in spec.split(",") if part.strip()]
    return "; ".join(PARTY_TOKEN_LABELS.get(part, part) for part in parts)
