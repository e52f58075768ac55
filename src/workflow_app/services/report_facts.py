"""Report figures kept as facts, so a protocol report reads a few rows per stage instead of every task.

Three small tables (persistence/models.py) hold the counts services/reports.py shows: per stage the open,
closed and breached tasks, a histogram of the working days completed tasks took (the medians come from it,
exactly as before), and per protocol the escalations by status and by stage reached and the tasks by
counterpart. An ``after_flush`` listener turns every inserted or changed ``TaskRecord``/``ProcessInstance``
into count deltas; just before the transaction commits, all of its deltas are added together, in the same
transaction as the change, as ``INSERT ... ON CONFLICT DO UPDATE SET n = n + delta``: two completions at once
both count (the second waits for the first's row lock; nothing is read and written back). A transaction writes
its fact rows once, in key order, so two transactions never take the same rows' locks in opposite orders.

Writes that bypass the ORM (bench/history.py's bulk inserts) or a figure that drifted call ``rebuild()``,
which recomputes every fact with a few GROUP BY queries; the migration that adds the tables uses it too.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Iterable

from sqlalchemy import Connection, case, delete, event, func, inspect, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from workflow_app.persistence.models import (ProcessInstance, ReportProtocolFact, ReportStageDays, ReportStageFact,
                                             TaskRecord)

TASK_FIELDS = ("element_id", "state", "breached_at", "working_days_taken", "counterpart_role")
INSTANCE_FIELDS = ("status", "stage_reached")
NONE = ""  # ``ReportProtocolFact.value`` for "no stage reached yet"

stage_facts = ReportStageFact.__table__
stage_days = ReportStageDays.__table__
protocol_facts = ReportProtocolFact.__table__


# -- what one row contributes ------------------------------------------------------------------------------

def _task_counts(protocol: str, values: dict[str, Any]) -> Counter:
    counts: Counter = Counter()
    element = values["element_id"]
    counts[("stage", protocol, element, "open_count" if values["state"] == "ready" else "closed_count")] += 1
    if values["breached_at"] is not None:
        counts[("stage", protocol, element, "breaches")] += 1
    if values["state"] == "completed" and values["working_days_taken"] is not None:
        counts[("days", protocol, element, values["working_days_taken"])] += 1
    if values["counterpart_role"] is not None:
        counts[("protocol", protocol, "counterpart", values["counterpart_role"])] += 1
    return counts


def _instance_counts(protocol: str, values: dict[str, Any]) -> Counter:
    return Counter({("protocol", protocol, "status", values["status"]): 1,
                    ("protocol", protocol, "stage_reached", values["stage_reached"] or NONE): 1})


def _current(obj, fields: Iterable[str]) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in fields}


def _before(obj, fields: Iterable[str]) -> dict[str, Any] | None:
    """The values as the database had them before this flush, or None when nothing counted changed."""
    state = inspect(obj)
    values, changed = {}, False
    for name in fields:
        history = state.attrs[name].history
        if history.added or history.deleted:
            changed = True
            values[name] = history.deleted[0] if history.deleted else None
        else:
            values[name] = history.unchanged[0] if history.unchanged else getattr(obj, name)
    return values if changed else None


# -- the listener ------------------------------------------------------------------------------------------

def _deltas(session: Session) -> tuple[Counter, dict[tuple[str, str], tuple[str, str | None]]]:
    deltas: Counter = Counter()
    titles: dict[tuple[str, str], tuple[str, str | None]] = {}
    changed_tasks: list[tuple[TaskRecord, dict[str, Any] | None]] = []
    for obj in session.new:
        if isinstance(obj, ProcessInstance):
            deltas.update(_instance_counts(obj.protocol_key, _current(obj, INSTANCE_FIELDS)))
        elif isinstance(obj, TaskRecord):
            changed_tasks.append((obj, None))
    for obj in session.dirty:
        if isinstance(obj, ProcessInstance) and (before := _before(obj, INSTANCE_FIELDS)) is not None:
            deltas.update(_instance_counts(obj.protocol_key, _current(obj, INSTANCE_FIELDS)))
            deltas.subtract(_instance_counts(obj.protocol_key, before))
        elif isinstance(obj, TaskRecord) and (before := _before(obj, TASK_FIELDS)) is not None:
            changed_tasks.append((obj, before))
    protocols = {task.instance_id: task.__dict__["instance"].protocol_key for task, _ in changed_tasks
                 if task.__dict__.get("instance") is not None}  # the loaded instance, as the change left it
    protocols.update(_protocols_of(session, {task.instance_id for task, _ in changed_tasks} - protocols.keys()))
    for task, before in changed_tasks:
        protocol = protocols[task.instance_id]
        deltas.update(_task_counts(protocol, _current(task, TASK_FIELDS)))
        titles[(protocol, task.element_id)] = (task.title, task.stage)
        if before is not None:
            deltas.subtract(_task_counts(protocol, before))
    return deltas, titles


def _protocols_of(session: Session, instance_ids: set[int]) -> dict[int, str]:
    """Each instance's protocol: from the session when the instance is loaded there (the usual case: the change
    went through it), else from the database."""
    protocols = {}
    for instance_id in instance_ids:
        loaded = session.identity_map.get(identity_key(ProcessInstance, instance_id))
        if loaded is not None and "protocol_key" in loaded.__dict__:
            protocols[instance_id] = loaded.protocol_key
    missing = instance_ids - protocols.keys()
    if missing:
        rows = session.connection().execute(select(ProcessInstance.id, ProcessInstance.protocol_key)
                                            .where(ProcessInstance.id.in_(missing)))
        protocols.update(rows.all())
    return protocols


PENDING_KEY = "workflow_app.report_fact_deltas"
APPLYING_KEY = "workflow_app.report_facts_applying"


@event.listens_for(Session, "after_flush")
def _record_facts(session: Session, _flush_context) -> None:
    """Count what this flush changed. The counts are added to the fact rows once, just before the transaction
    commits (``_apply_pending``), not at each flush: a transaction that flushes twice (a query's autoflush, then
    the commit) would otherwise lock fact rows in two batches, each sorted but not sorted together, and two such
    transactions could wait for each other (a deadlock PostgreSQL breaks by failing one of them)."""
    deltas, titles = _deltas(session)
    if not (any(deltas.values()) or titles):
        return
    if session.info.get(APPLYING_KEY):  # a flush during the commit itself, after the pending counts went in
        apply(session.connection(), deltas, titles)
        return
    pending_deltas, pending_titles = session.info.setdefault(PENDING_KEY, (Counter(), {}))
    pending_deltas.update(deltas)
    pending_titles.update(titles)


@event.listens_for(Session, "before_commit")
def _apply_pending(session: Session) -> None:
    session.flush()  # everything the transaction changed is counted before the counts are written
    pending = session.info.pop(PENDING_KEY, None)
    session.info[APPLYING_KEY] = True
    if pending is not None:
        apply(session.connection(), *pending)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_soft_rollback")
def _forget_pending(session: Session, *_args) -> None:
    session.info.pop(PENDING_KEY, None)
    session.info.pop(APPLYING_KEY, None)


# Load the old value before an attribute is set, so a change made to an expired object still has its "before".
for _attribute in [*(getattr(TaskRecord, name) for name in TASK_FIELDS),
                   *(getattr(ProcessInstance, name) for name in INSTANCE_FIELDS)]:
    event.listen(_attribute, "set", lambda target, value, oldvalue, initiator: value, active_history=True,
                 retval=True)


# -- writing deltas ----------------------------------------------------------------------------------------

def _insert(connection: Connection, table):
    return (postgresql if connection.dialect.name == "postgresql" else sqlite).insert(table)


def _greater(connection: Connection, current, incoming):
    """The greater of two possibly-NULL strings (the report shows max(title), max(stage) of a stage's tasks)."""
    bigger = func.greatest if connection.dialect.name == "postgresql" else func.max
    return bigger(func.coalesce(current, incoming), func.coalesce(incoming, current))


_upserts: dict[tuple[str, str], Any] = {}


def _upsert(connection: Connection, table) -> Any:
    """``INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n`` for ``table``, without values: run with a list of
    rows (one round trip on PostgreSQL, an executemany on SQLite) and built once per dialect, so SQLAlchemy
    compiles it once (a statement carrying its rows in ``.values([...])`` is compiled again on every use)."""
    key = (connection.dialect.name, table.name)
    if key not in _upserts:
        insert = _insert(connection, table)
        if table is stage_facts:
            statement = insert.on_conflict_do_update(
                index_elements=["protocol_key", "element_id"],
                set_={"open_count": stage_facts.c.open_count + insert.excluded.open_count,
                      "closed_count": stage_facts.c.closed_count + insert.excluded.closed_count,
                      "breaches": stage_facts.c.breaches + insert.excluded.breaches,
                      "title": _greater(connection, stage_facts.c.title, insert.excluded.title),
                      "stage": _greater(connection, stage_facts.c.stage, insert.excluded.stage)})
        elif table is stage_days:
            statement = insert.on_conflict_do_update(
                index_elements=["protocol_key", "element_id", "days"],
                set_={"completed": stage_days.c.completed + insert.excluded.completed})
        else:
            statement = insert.on_conflict_do_update(
                index_elements=["protocol_key", "dimension", "value"],
                set_={"count": protocol_facts.c.count + insert.excluded.count})
        _upserts[key] = statement
    return _upserts[key]


def apply(connection: Connection, deltas: Counter,
          titles: dict[tuple[str, str], tuple[str, str | None]]) -> None:
    """Add ``deltas`` (keyed as ``_task_counts`` makes them) to the fact rows, creating missing rows: one upsert per
    table, its rows in key order (the order their row locks are taken in)."""
    per_stage: dict[tuple[str, str], Counter] = {key: Counter() for key in titles}
    per_day: Counter = Counter()
    per_value: Counter = Counter()
    for (kind, protocol, a, b), n in deltas.items():
        if kind == "stage":
            per_stage.setdefault((protocol, a), Counter())[b] += n
        elif kind == "days":
            per_day[(protocol, a, b)] += n
        else:
            per_value[(protocol, a, b)] += n
    stage_rows = []
    for (protocol, element), counts in sorted(per_stage.items()):
        title, stage = titles.get((protocol, element), (element, None))
        stage_rows.append({"protocol_key": protocol, "element_id": element, "title": title, "stage": stage,
                           "open_count": counts["open_count"], "closed_count": counts["closed_count"],
                           "breaches": counts["breaches"]})
    day_rows = [{"protocol_key": protocol, "element_id": element, "days": days, "completed": n}
                for (protocol, element, days), n in sorted(per_day.items()) if n]
    value_rows = [{"protocol_key": protocol, "dimension": dimension, "value": value, "count": n}
                  for (protocol, dimension, value), n in sorted(per_value.items()) if n]
    for table, rows in ((stage_facts, stage_rows), (stage_days, day_rows), (protocol_facts, value_rows)):
        if rows:
            connection.execute(_upsert(connection, table), rows)


# -- recomputing everything --------------------------------------------------------------------------------

def rebuild(connection: Connection) -> None:
    """Recompute every fact from the tasks and instances (after bulk inserts, or to repair drifted figures)."""
    tasks, instances = TaskRecord.__table__, ProcessInstance.__table__
    for table in (stage_facts, stage_days, protocol_facts):
        connection.execute(delete(table))
    joined = tasks.join(instances, tasks.c.instance_id == instances.c.id)
    protocol = instances.c.protocol_key

    def count_where(condition):
        return func.sum(case((condition, 1), else_=0))

    connection.execute(stage_facts.insert().from_select(
        ["protocol_key", "element_id", "title", "stage", "open_count", "closed_count", "breaches"],
        select(protocol, tasks.c.element_id, func.max(tasks.c.title), func.max(tasks.c.stage),
               count_where(tasks.c.state == "ready"), count_where(tasks.c.state != "ready"),
               count_where(tasks.c.breached_at.is_not(None)))
        .select_from(joined).group_by(protocol, tasks.c.element_id)))
    connection.execute(stage_days.insert().from_select(
        ["protocol_key", "element_id", "days", "completed"],
        select(protocol, tasks.c.element_id, tasks.c.working_days_taken, func.count()).select_from(joined)
        .where(tasks.c.state == "completed", tasks.c.working_days_taken.is_not(None))
        .group_by(protocol, tasks.c.element_id, tasks.c.working_days_taken)))
    columns = ["protocol_key", "dimension", "value", "count"]
    connection.execute(protocol_facts.insert().from_select(columns, select(
        protocol, literal("status"), instances.c.status, func.count()).group_by(protocol, instances.c.status)))
    reached = func.coalesce(instances.c.stage_reached, NONE)
    connection.execute(protocol_facts.insert().from_select(columns, select(
        protocol, literal("stage_reached"), reached, func.count()).group_by(protocol, reached)))
    connection.execute(protocol_facts.insert().from_select(columns, select(
        protocol, literal("counterpart"), tasks.c.counterpart_role, func.count()).select_from(joined)
        .where(tasks.c.counterpart_role.is_not(None)).group_by(protocol, tasks.c.counterpart_role)))


def snapshot(connection: Connection) -> dict[str, set[tuple]]:
    """Every fact row that counts something (rows whose counts went back to zero are left out)."""
    return {
        "stages": set(connection.execute(select(stage_facts).where(
            (stage_facts.c.open_count != 0) | (stage_facts.c.closed_count != 0) | (stage_facts.c.breaches != 0))).all()),
        "days": set(connection.execute(select(stage_days).where(stage_days.c.completed != 0)).all()),
        "protocol": set(connection.execute(select(protocol_facts).where(protocol_facts.c.count != 0)).all()),
    }
