"""Suspend and resume an escalation, and retry one stopped by an error after moving it to a fixed version.

The protocol is tests/ops_diagrams.py's ``ops_demo``: one review task due at the end of the 2nd working day
(non-interrupting: a breach is recorded and the task stays open).
"""
from __future__ import annotations

import pytest

import ops_diagrams
from ops_diagrams import dirs, ops_app  # noqa: F401  (fixtures: the small test protocol deployed)
from conftest import Api, london, make_user
from workflow_app.cli import deploy_repository_diagrams
from workflow_app.services import people


@pytest.fixture
def api(ops_app):
    with ops_app.app_context():
        make_user("rita.reviewer", roles=["Reviewer"], agency="Children's Social Care")
        make_user("ada.admin", roles=[people.ADMINISTRATOR], agency="Children's Social Care")
        yield Api(ops_app.test_client())


def start(api, route: str = "a") -> int:
    return api.start(ops_diagrams.PROTOCOL, {"case_reference": "OPS-1", "route": route})["id"]


def suspend(api, instance_id: int, reason: str = "awaiting court ruling", **kwargs):
    return api.request("POST", f"/api/instances/{instance_id}/suspend", json={"reason": reason}, **kwargs)


def resume(api, instance_id: int, deadlines: str, **kwargs):
    return api.request("POST", f"/api/instances/{instance_id}/resume", json={"deadlines": deadlines}, **kwargs)


def kinds(api, instance_id: int) -> list[str]:
    return api.kinds(instance_id)


def test_suspended_escalation_completes_no_task_and_fires_no_timer(api, clock):
    instance_id = start(api)  # Tue 1 Dec 09:00; review due end of Thu 3 Dec
    task = api.ready(instance_id)
    assert task["due_at"] == "2026-12-03T17:00:00+00:00"
    state = suspend(api, instance_id)
    assert state["suspended"]["by"] == "tester" and state["suspended"]["reason"] == "awaiting court ruling"

    refused = api.complete(task["id"], {"outcome": "resolved"}, expect=409)
    assert "suspended (awaiting court ruling)" in refused["error"] and "until it is resumed" in refused["error"]
    clock.move_to(london(2026, 12, 7, 10, 0))  # past the deadline
    api.sweep()
    assert "deadline_breached" not in kinds(api, instance_id)
    assert api.instance(instance_id)["status"] == "running"
    again = suspend(api, instance_id, expect=409)
    assert "already suspended" in again["error"]


def test_only_process_owners_and_administrators_suspend(api):
    instance_id = start(api)
    refused = suspend(api, instance_id, user="rita.reviewer", expect=403)
    assert "process owner" in refused["error"]
    assert "Say why" in suspend(api, instance_id, reason=" ", expect=400)["error"]
    suspend(api, instance_id, user="ada.admin")


def test_resume_firing_deadlines_that_passed_while_suspended(api, clock):
    instance_id = start(api)
    suspend(api, instance_id)
    clock.move_to(london(2026, 12, 7, 10, 0))  # Monday: the Thursday deadline passed during the suspension
    state = resume(api, instance_id, "fire")
    assert state["suspended"] is None
    history = api.instance(instance_id)["history"]
    resumed = next(h for h in history if h["kind"] == "resumed")
    assert resumed["data"]["deadlines"] == "fire" and resumed["data"]["moved"] == []
    assert resumed["data"]["working_days_suspended"] == 4  # Wed, Thu, Fri, Mon
    breach = next(h for h in history if h["kind"] == "deadline_breached")
    assert breach["at"] == "2026-12-07T10:00:00+00:00" and breach["data"]["due_at"] == "2026-12-03T17:00:00+00:00"
    task = api.ready(instance_id)
    assert task["overdue"] is True
    api.complete(task["id"], {"outcome": "resolved"})
    assert api.instance(instance_id)["status"] == "resolved"


def test_resume_extending_deadlines_by_the_working_days_suspended(api, clock):
    instance_id = start(api)
    clock.move_to(london(2026, 12, 2, 9, 0))  # Wednesday
    suspend(api, instance_id)
    clock.move_to(london(2026, 12, 7, 10, 0))  # Monday: 3 working days suspended (Thu, Fri, Mon)
    resume(api, instance_id, "extend")
    result = api.instance(instance_id)
    resumed = next(h for h in result["history"] if h["kind"] == "resumed")
    assert resumed["data"]["working_days_suspended"] == 3
    assert resumed["data"]["moved"] == [{"element_id": "review_deadline", "from": "2026-12-03T17:00:00+00:00",
                                         "to": "2026-12-08T17:00:00+00:00"}]
    assert "deadline_breached" not in [h["kind"] for h in result["history"]]
    task = api.ready(instance_id)
    assert task["due_at"] == "2026-12-08T17:00:00+00:00" and task["overdue"] is False
    assert result["next_deadline_at"] == "2026-12-08T17:00:00+00:00"
    clock.move_to(london(2026, 12, 8, 17, 1))
    api.sweep()
    assert "deadline_breached" in kinds(api, instance_id)


def test_resume_requires_a_suspension_and_a_choice(api):
    instance_id = start(api)
    assert "not suspended" in resume(api, instance_id, "fire", expect=409)["error"]
    suspend(api, instance_id)
    refused = api.request("POST", f"/api/instances/{instance_id}/resume", 400, json={"deadlines": "later"})
    assert "deadlines" in refused["fields"]


def test_dmn_no_match_is_repaired_by_a_fixed_version_and_retried(api, ops_app, dirs, clock):
    instance_id = start(api, route="b")
    state = api.request("GET", f"/api/instances/{instance_id}/operations")
    assert state["status"] == "error"
    assert state["error"]["element_id"] == "decide" and state["error"]["element"] == "Decide the route"
    assert "No rule in decision table 'ops_route'" in state["error"]["message"]
    assert state["error"]["data"]["route"] == "b"
    # Retrying the same version fails the same way, and says so.
    again = api.request("POST", f"/api/instances/{instance_id}/retry", 409, json={"reason": "try again"},
                        user="ada.admin")
    assert "stopped again" in again["error"]

    bpmn_dir, dmn_dir = dirs
    ops_diagrams.write(bpmn_dir, dmn_dir, routes=("a", "b"))
    deploy_repository_diagrams()
    moved = api.request("POST", f"/api/instances/{instance_id}/migrate", json={"reason": "table fixed"},
                        user="ada.admin")
    assert moved["version"] == 2 and moved["status"] == "error"
    refused = api.request("POST", f"/api/instances/{instance_id}/retry", 403, json={"reason": "fixed"})
    assert "administrator" in refused["error"]
    retried = api.request("POST", f"/api/instances/{instance_id}/retry", json={"reason": "route b added"},
                          user="ada.admin")
    assert retried["status"] == "running" and retried["error"] is None
    history = api.instance(instance_id)["history"]
    assert [h["kind"] for h in history if h["kind"] in ("error", "retried", "migrated", "routed")] == [
        "error", "retried", "error", "migrated", "retried", "routed"]
    migrated = next(h for h in history if h["kind"] == "migrated")
    assert migrated["actor"] == "ada.admin" and migrated["data"]["from_version"] == 1
    assert history[-1]["kind"] != "error"
    api.complete(api.ready(instance_id)["id"], {"outcome": "resolved"})
    assert api.instance(instance_id)["status"] == "resolved"


def test_escalation_page_says_it_is_suspended_or_stopped_by_an_error(api, ops_app):
    from conftest import PASSWORD, TESTER
    suspended, broken = start(api), start(api, route="b")
    suspend(api, suspended, reason="parties in mediation")
    client = ops_app.test_client()
    client.post("/login", data={"username": TESTER, "password": PASSWORD})
    page = client.get(f"/instances/{suspended}").get_data(as_text=True)
    assert "Suspended" in page and "parties in mediation" in page and "until" in page
    page = client.get(f"/instances/{broken}").get_data(as_text=True)
    assert "Stopped by an error" in page and "Decide the route" in page
