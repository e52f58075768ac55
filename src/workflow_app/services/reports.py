"""Process owners' views across instances: search with filters, and per-protocol reports."""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import defer, joinedload, selectinload

from workflow_app import clock
from workflow_app.extensions import db
from workflow_app.persistence.models import (Agency, ProcessInstance, ReportProtocolFact, TaskRecord, User,
                                             instance_agencies)
from workflow_app.services import access, report_facts
from workflow_app.services.errors import InvalidInput

PAGE_SIZE = 50
# The list counts matching escalations only up to here (or a page past the one shown): above it the page says
# "1,000+" instead of reading every matching row for an exact figure nobody pages through.
COUNT_LIMIT = 1_000
SORTS = {  # each ends with a unique key so pages never overlap
    "started": (ProcessInstance.started_at.desc(), ProcessInstance.id.desc()),
    "oldest": (ProcessInstance.started_at.asc(), ProcessInstance.id.asc()),
    "case": (ProcessInstance.case_reference.asc(), ProcessInstance.id.asc()),
    "status": (ProcessInstance.status.asc(), ProcessInstance.id.desc()),
    "deadline": (ProcessInstance.next_timer_at.is_(None), ProcessInstance.next_timer_at.asc(), ProcessInstance.id.asc()),
    "updated": (ProcessInstance.updated_at.desc(), ProcessInstance.id.desc()),
}
STATUSES = ("running", "resolved", "closed", "cancelled", "error")


@dataclass
class InstanceFilter:
    protocol: str | None = None
    status: str | None = None
    stage: str | None = None
    agency: str | None = None
    case: str | None = None  # references starting with this (the Escalations page's search box)
    case_reference: str | None = None  # exactly this reference, whatever its letter case (integrations)
    started_from: date | None = None
    started_to: date | None = None
    overdue: bool = False
    sort: str = "started"
    page: int = 1

    @classmethod
    def from_args(cls, args) -> "InstanceFilter":
        errors = {}

        def parse_date(name):
            value = (args.get(name) or "").strip()
            if not value:
                return None
            try:
                return date.fromisoformat(value)
            except ValueError:
                errors[name] = "Enter a date as YYYY-MM-DD"
                return None

        page = args.get("page") or "1"
        sort = args.get("sort") or "started"
        status = args.get("status") or None
        if not page.isdigit() or int(page) < 1:
            errors["page"] = "Page must be a positive whole number"
        if sort not in SORTS:
            errors["sort"] = f"Sort by one of: {', '.join(SORTS)}"
        if status and status not in STATUSES:
            errors["status"] = f"Status is one of: {', '.join(STATUSES)}"
        result = cls(protocol=args.get("protocol") or None, status=status, stage=args.get("stage") or None,
                     agency=args.get("agency") or None, case=(args.get("case") or "").strip() or None,
                     case_reference=(args.get("case_reference") or "").strip() or None,
                     started_from=parse_date("from"), started_to=parse_date("to"),
                     overdue=(args.get("overdue") or "") in ("1", "true", "on", "yes"), sort=sort,
                     page=int(page) if page.isdigit() and int(page) > 0 else 1)
        if errors:
            raise InvalidInput(errors, "Some filters are not valid")
        return result


@dataclass
class Page:
    items: list[ProcessInstance]
    total: int  # exact when ``total_is_exact``; otherwise a lower bound (the count stopped there)
    page: int
    per_page: int
    total_is_exact: bool = True

    @property
    def total_text(self) -> str:
        return f"{self.total:,}" if self.total_is_exact else f"{self.total:,}+"

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


def search(user: User, f: InstanceFilter, per_page: int = PAGE_SIZE) -> Page:
    conditions = []
    reads_all = access.is_admin(user) or (f.protocol is not None and access.owns_protocol(user, f.protocol))
    if not reads_all:
        conditions.append(access.visible_instances_clause(user))
    if f.protocol:
        conditions.append(ProcessInstance.protocol_key == f.protocol)
    if f.status:
        conditions.append(ProcessInstance.status == f.status)
    if f.stage:
        conditions.append(ProcessInstance.stage_reached == f.stage)
    if f.case:
        # A range on lower(case_reference) uses the expression index (LIKE would not, on every database).
        prefix = f.case.lower()
        lowered = func.lower(ProcessInstance.case_reference)
        conditions.append(and_(lowered >= prefix, lowered < prefix + "\uffff"))
    if f.case_reference:  # equality on lower(case_reference): the same expression index
        conditions.append(func.lower(ProcessInstance.case_reference) == f.case_reference.lower())
    if f.started_from:
        conditions.append(ProcessInstance.started_at >= _day_start(f.started_from))
    if f.started_to:
        conditions.append(ProcessInstance.started_at < _day_start(f.started_to + timedelta(days=1)))
    if f.agency:
        conditions.append(exists().where(and_(instance_agencies.c.instance_id == ProcessInstance.id,
                                              instance_agencies.c.agency_id == Agency.id,
                                              func.lower(Agency.name) == f.agency.lower())))
    if f.overdue:
        # EXISTS, probed per instance through ix_tasks_instance_state_due as the list walks its sort order, so
        # the page and the bounded count stop early (an IN over every overdue task's instance read them all).
        conditions.append(exists().where(TaskRecord.instance_id == ProcessInstance.id, TaskRecord.state == "ready",
                                         TaskRecord.due_at < clock.now()))
    # The page's ids first, then their rows: the ids can come from an index alone (the sort and the filters'
    # columns), so a filter that skips many escalations reads index entries, not whole rows (on PostgreSQL,
    # which otherwise walks the rows in started_at order and tests each).
    page_ids = (select(ProcessInstance.id).where(*conditions).order_by(*SORTS[f.sort])
                .offset((f.page - 1) * per_page).limit(per_page))
    # A list shows no engine state or form data: those columns (encrypted, a few KB a row) stay unread.
    query = (select(ProcessInstance).where(ProcessInstance.id.in_(page_ids)).order_by(*SORTS[f.sort])
             .options(defer(ProcessInstance.state), defer(ProcessInstance.data),
                      joinedload(ProcessInstance.deployment), selectinload(ProcessInstance.agencies)))
    items = list(db.session.scalars(query))
    total, exact = bounded_count(conditions, max(COUNT_LIMIT, f.page * per_page + 1))
    return Page(items, total, f.page, per_page, exact)


def bounded_count(conditions: list, limit: int) -> tuple[int, bool]:
    """How many instances match, counting no further than ``limit``: (count, whether it is exact). The cost
    follows the limit, not the table (an unbounded count reads every matching row, 1.35 s at 100,000)."""
    matching = select(ProcessInstance.id).where(*conditions).limit(limit + 1).subquery()
    count = db.session.scalar(select(func.count()).select_from(matching)) or 0
    return (count, True) if count <= limit else (limit, False)


def filter_options(protocol: str | None = None) -> dict[str, list[str]]:
    """The stages and agencies the list can be filtered by. Stages come from the report facts (one row per
    protocol and stage reached), not from a DISTINCT over every escalation."""
    stages = (select(ReportProtocolFact.value).distinct()
              .where(ReportProtocolFact.dimension == "stage_reached", ReportProtocolFact.value != "",
                     ReportProtocolFact.count > 0))
    if protocol:
        stages = stages.where(ReportProtocolFact.protocol_key == protocol)
    return {"stages": sorted(db.session.scalars(stages)),
            "agencies": list(db.session.scalars(select(Agency.name).order_by(Agency.name)))}


# -- per-protocol report ---------------------------------------------------------------------------

@dataclass
class StageFigures:
    element_id: str
    title: str
    stage: str | None
    closed: int = 0
    open: int = 0
    median_days: float | None = None
    p90_days: float | None = None
    breaches: int = 0

    @property
    def breach_rate(self) -> float | None:
        total = self.closed + self.open
        return self.breaches / total if total else None


@dataclass
class ProtocolReport:
    protocol: str
    total: int
    by_status: list[tuple[str, int]]
    by_stage_reached: list[tuple[str, int]]
    stages: list[StageFigures]
    counterparts: list[tuple[str, int]]
    generated_at: datetime = field(default_factory=clock.now)


def can_read_reports(user: User, protocol_key: str) -> bool:
    return access.is_admin(user) or access.owns_protocol(user, protocol_key)


def require_reports(user: User, protocol_key: str) -> None:
    if not can_read_reports(user, protocol_key):
        access.refuse(user, "read report", protocol_key,
                      "Reports are for the protocol's process owners and administrators.")


def reportable_protocols(user: User) -> list[str]:
    from workflow_app.services.deployments import latest_deployments
    return [d.protocol_key for d in latest_deployments() if can_read_reports(user, d.protocol_key)]


def protocol_report(protocol_key: str) -> ProtocolReport:
    """All figures from the protocol's fact rows (services/report_facts.py keeps them in step with every task
    and escalation change), so the work follows the number of stages, not of escalations or tasks."""
    stage_facts, stage_days, protocol_facts = report_facts.stage_facts, report_facts.stage_days, report_facts.protocol_facts
    counted = dict(((dimension, value), count) for dimension, value, count in db.session.execute(
        select(protocol_facts.c.dimension, protocol_facts.c.value, protocol_facts.c.count)
        .where(protocol_facts.c.protocol_key == protocol_key, protocol_facts.c.count > 0)))

    def ranked(dimension: str) -> list[tuple[str, int]]:
        rows = [(value, count) for (kind, value), count in counted.items() if kind == dimension]
        return sorted(rows, key=lambda row: (-row[1], row[0]))

    histograms: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for element_id, days, count in db.session.execute(
            select(stage_days.c.element_id, stage_days.c.days, stage_days.c.completed)
            .where(stage_days.c.protocol_key == protocol_key, stage_days.c.completed > 0)):
        histograms[element_id].append((days, count))
    stages = [StageFigures(element_id, title, stage, closed=closed, open=open_, breaches=breaches,
                           median_days=histogram_median(histograms[element_id]),
                           p90_days=histogram_percentile(histograms[element_id], 0.9))
              for element_id, title, stage, open_, closed, breaches in db.session.execute(
                  select(stage_facts.c.element_id, stage_facts.c.title, stage_facts.c.stage, stage_facts.c.open_count,
                         stage_facts.c.closed_count, stage_facts.c.breaches)
                  .where(stage_facts.c.protocol_key == protocol_key,
                         (stage_facts.c.open_count > 0) | (stage_facts.c.closed_count > 0)))]
    by_status = dict(ranked("status"))
    return ProtocolReport(
        protocol=protocol_key, total=sum(by_status.values()),
        by_status=[(s, by_status.get(s, 0)) for s in STATUSES],
        by_stage_reached=[(stage or "—", count) for stage, count in ranked("stage_reached")],
        stages=sorted(stages, key=lambda s: (_stage_key(s.stage), s.title)),
        counterparts=ranked("counterpart")[:10])


def histogram_percentile(histogram: list[tuple[int, int]], fraction: float) -> float | None:
    """Nearest-rank percentile of values given as (value, how many) pairs."""
    total = sum(count for _, count in histogram)
    if not total:
        return None
    rank = max(1, math.ceil(fraction * total))
    seen = 0
    for value, count in sorted(histogram):
        seen += count
        if seen >= rank:
            return float(value)
    return None


def histogram_median(histogram: list[tuple[int, int]]) -> float | None:
    """The median (mean of the two middle values when there is an even number of them)."""
    total = sum(count for _, count in histogram)
    if not total:
        return None
    ordered = sorted(histogram)

    def value_at(position: int) -> int:  # 1-based position in the sorted values
        seen = 0
        for value, count in ordered:
            seen += count
            if seen >= position:
                return value
        raise IndexError(position)

    if total % 2:
        return float(value_at(total // 2 + 1))
    return (value_at(total // 2) + value_at(total // 2 + 1)) / 2


def _stage_key(stage: str | None) -> tuple[int, float | str]:
    if stage is None:
        return (2, "")
    try:
        return (0, float(stage))
    except ValueError:
        return (1, stage)
