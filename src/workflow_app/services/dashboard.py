"""The process owner's dashboard and heat map: a read model over the escalations of one protocol.

Every figure is bounded by the page, not by the number of escalations: per-stage figures come from the report
facts (services/report_facts.py, a few rows per stage), the others from queries that walk one index range —
open escalations by (protocol, status), deadlines missed this month by the tasks' due time, the trend by the
start and end times of the last twelve months. Months are the protocol's own (its calendar's timezone), so an
escalation raised late on the last evening of a month counts where the people who raised it would put it.
No Flask request objects here: the views in web/owners.py pass in what they read from the request.

Two of the queries are only cheap with an index that answers them alone (bench/dashboard.py measures with
and without): open per stage with (protocol_key, status, stage_reached) — 25,000 running escalations at
100,000 otherwise mean 25,000 row reads — and the closed-per-month trend with (protocol_key, ended_at).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, case, func, select

from workflow_app import clock
from workflow_app.extensions import db
from workflow_app.persistence.models import Deployment, ProcessInstance, TaskRecord
from workflow_app.services import report_facts, reports
from workflow_app.services.deployments import calendar_of

OLDEST_SHOWN = 10
TREND_MONTHS = 12


@dataclass
class OpenStage:
    stage: str | None  # the stage reached (its raising-side task title); None before any stage task opened
    escalations: int


@dataclass
class MonthTrend:
    month: date  # the first day of the month, in the protocol's timezone
    raised: int = 0
    closed: int = 0

    @property
    def label(self) -> str:
        return self.month.strftime("%b %Y")


@dataclass
class Dashboard:
    deployment: Deployment
    total: int
    open_by_stage: list[OpenStage]
    missed_this_month: int
    month_start: datetime
    oldest_open: list["OpenEscalation"]
    trend: list[MonthTrend]
    generated_at: datetime = field(default_factory=clock.now)

    @property
    def open_total(self) -> int:
        return sum(s.escalations for s in self.open_by_stage)


def month_starts(now: datetime, zone: ZoneInfo, months: int = TREND_MONTHS) -> list[datetime]:
    """The starts of the last ``months`` months (the current one last) and of the next one, as aware times in
    ``zone``: ``months + 1`` boundaries."""
    local = now.astimezone(zone)
    year, month = local.year, local.month - (months - 1)
    while month < 1:
        year, month = year - 1, month + 12
    starts = []
    for _ in range(months + 1):
        starts.append(datetime.combine(date(year, month, 1), time.min, tzinfo=zone))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return starts


def open_by_stage(protocol_key: str) -> list[OpenStage]:
    """Running escalations per stage reached (a ladder only climbs, so that is the stage each is at now),
    lowest stage first."""
    rows = db.session.execute(
        select(ProcessInstance.stage_reached, func.count())
        .where(ProcessInstance.protocol_key == protocol_key, ProcessInstance.status == "running")
        .group_by(ProcessInstance.stage_reached)).all()
    return sorted((OpenStage(stage, count) for stage, count in rows),
                  key=lambda s: (s.stage is not None, s.stage or ""))


def missed_deadlines(protocol_key: str, since: datetime, until: datetime) -> int:
    """Deadlines that fell due in [since, until) and were breached. The tasks are found through the index on
    their due time and each one's protocol by the instance's key (EXISTS, not a join: joined, SQLite would walk
    every escalation of the protocol instead)."""
    of_protocol = (select(ProcessInstance.id)
                   .where(ProcessInstance.id == TaskRecord.instance_id, ProcessInstance.protocol_key == protocol_key)
                   .exists())
    return db.session.scalar(
        select(func.count()).select_from(TaskRecord)
        .where(TaskRecord.due_at >= since, TaskRecord.due_at < until, TaskRecord.breached_at.is_not(None),
               of_protocol)) or 0


@dataclass
class OpenEscalation:
    id: int
    case_reference: str | None
    stage_reached: str | None
    started_at: datetime
    working_days_open: int | None = None  # on the protocol's calendar, from the day it was raised to today


def oldest_open(protocol_key: str, limit: int = OLDEST_SHOWN) -> list[OpenEscalation]:
    """The longest-running escalations, reading only the columns shown (not the engine state or the data)."""
    rows = db.session.execute(
        select(ProcessInstance.id, ProcessInstance.case_reference, ProcessInstance.stage_reached,
               ProcessInstance.started_at)
        .where(ProcessInstance.protocol_key == protocol_key, ProcessInstance.status == "running")
        .order_by(ProcessInstance.started_at.asc(), ProcessInstance.id.asc()).limit(limit))
    return [OpenEscalation(*row) for row in rows]


def _per_month_statement(column, *conditions):
    """Counts of escalations of ``:protocol`` per month, as {month index: count}: ``column`` between the bounds
    ``:b0`` ... ``:b12``. Built once: each call only binds values."""
    bounds = [bindparam(f"b{index}") for index in range(TREND_MONTHS + 1)]
    bucket = case(*((column >= bounds[index], index) for index in reversed(range(TREND_MONTHS))))
    return (select(bucket, func.count())
            .where(ProcessInstance.protocol_key == bindparam("protocol"), *conditions,
                   column >= bounds[0], column < bounds[-1])
            .group_by(bucket))


# Raised: "status IN (every status)" lets the (protocol, status, started_at) index answer alone. Closed (resolved,
# closed unresolved or cancelled: every escalation with an end): the (protocol, ended_at) index, when present.
RAISED_PER_MONTH = _per_month_statement(ProcessInstance.started_at, ProcessInstance.status.in_(reports.STATUSES))
CLOSED_PER_MONTH = _per_month_statement(ProcessInstance.ended_at)


def trend(protocol_key: str, starts: list[datetime]) -> list[MonthTrend]:
    """Escalations raised and closed per month; ``starts``: the TREND_MONTHS + 1 bounds of month_starts()."""
    values = {"protocol": protocol_key, **{f"b{index}": start for index, start in enumerate(starts)}}
    raised = dict(db.session.execute(RAISED_PER_MONTH, values).all())
    closed = dict(db.session.execute(CLOSED_PER_MONTH, values).all())
    return [MonthTrend(start.date(), raised.get(index, 0), closed.get(index, 0))
            for index, start in enumerate(starts[:-1])]


def busiest(protocol_keys: list[str]) -> str | None:
    """Of these protocols, the one with the most running escalations (ties: the first given), from the facts:
    an owner of several lands on the one most likely to need them."""
    facts = report_facts.protocol_facts
    running = dict(db.session.execute(
        select(facts.c.protocol_key, facts.c.count)
        .where(facts.c.protocol_key.in_(protocol_keys), facts.c.dimension == "status",
               facts.c.value == "running")).all())
    return max(protocol_keys, key=lambda key: running.get(key, 0), default=None)


def protocol_dashboard(deployment: Deployment) -> Dashboard:
    key = deployment.protocol_key
    now = clock.now()
    calendar = calendar_of(deployment)
    starts = month_starts(now, calendar.zone)
    oldest = oldest_open(key)
    for escalation in oldest:
        escalation.working_days_open = calendar.working_days_between(escalation.started_at, now)
    return Dashboard(deployment=deployment, total=reports.protocol_report(key).total, open_by_stage=open_by_stage(key),
                     missed_this_month=missed_deadlines(key, starts[-2], now), month_start=starts[-2],
                     oldest_open=oldest, trend=trend(key, starts))


# -- heat map ----------------------------------------------------------------------------------------------

def heatmap(deployment: Deployment) -> dict[str, Any]:
    """Per task element of the protocol (every version's tasks, matched by element id to the latest diagram):
    how many times escalations reached it, the median working days its completed tasks took, and the share
    whose deadline passed — from the report facts, so the cost follows the number of elements."""
    report = reports.protocol_report(deployment.protocol_key)
    elements = [{"id": s.element_id, "title": s.title, "stage": s.stage, "reached": s.open + s.closed,
                 "open": s.open, "median_days": s.median_days, "breaches": s.breaches,
                 "breach_rate": None if s.breach_rate is None else round(s.breach_rate, 4)}
                for s in report.stages]
    return {"protocol": deployment.protocol_key, "version": deployment.version, "xml": deployment.bpmn_xml,
            "max_reached": max((e["reached"] for e in elements), default=0), "elements": elements}


def open_stage_filter(stage: str | None) -> dict[str, Any]:
    """Arguments for the escalations list showing one row of the open-per-stage table."""
    return {"status": "running", **({"stage": stage} if stage else {})}

