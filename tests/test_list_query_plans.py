"""The inbox and escalations-list queries are served by indexes (SQLite's query plans; no timings asserted).

bench/history.py times these pages at 1,000 and 100,000 escalations; these tests keep the plans that make the
cost follow the page: the "available" inbox finds unassigned ready tasks of a role through one index, and the
list's "overdue" filter probes each listed escalation's ready tasks through (instance_id, state, due_at)
instead of reading every overdue task.
"""
from __future__ import annotations

import pytest
from sqlalchemy import event

from conftest import TESTER
from workflow_app.extensions import db
from workflow_app.services import reports, views
from workflow_app.services.people import get_user


def plans_of(action) -> list[str]:
    """Run ``action`` and return the query plan of every SELECT it ran, one string per statement."""
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        action()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    connection = db.session.connection()
    return [" | ".join(row[3] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params))
            for sql, params in statements]


@pytest.fixture
def sqlite_only(app):
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("query plans are checked on SQLite (PostgreSQL plans by its statistics)")
        yield


def test_available_inbox_count_uses_the_unassigned_role_index(sqlite_only):
    tester = get_user(TESTER)
    plans = plans_of(lambda: views.inbox_counts(tester, ["available"]))
    counted = [p for p in plans if "tasks" in p]
    assert counted and all("ix_tasks_state_role_key_assigned (state=? AND role_key=? AND assigned_to_id=?)" in p
                           for p in counted), counted


def test_overdue_list_filter_probes_each_escalations_tasks_through_an_index(sqlite_only):
    tester = get_user(TESTER)
    plans = plans_of(lambda: reports.search(tester, reports.InstanceFilter(overdue=True)))
    with_tasks = [p for p in plans if "ix_tasks_instance_state_due" in p]
    assert len(with_tasks) == 2, plans  # the page's ids and the bounded count
    assert not any("SCAN tasks" in p or "ix_tasks_state_due" in p for p in plans), plans
