"""WSSCP escalation policy between external agencies (seed 002) through the JSON API."""
from __future__ import annotations

import pytest

from conftest import london

PROTOCOL = "wsscp_escalation"
START = {
    "case_reference": "WS-1", "raising_professional": "Alex Morgan, health visitor", "raising_agency": "Northfield Academy",
    "other_professional": "Chris Lee, social worker", "other_agency": "Children's Social Care",
    "service_area": "child_in_need", "decision_challenged": "Case closed while home conditions are unchanged.",
    "desired_outcome": "Keep the child in need plan.",
}
STAGES = ["stage1_professional", "stage2_manager", "stage3_senior", "stage4_lscp"]
BUSINESS_TEAM = "Business Team"


def discussion(outcome: str) -> dict:
    data = {"date_held": "2026-12-01", "participants": "Both workers", "outcome": outcome,
            "agreed_actions": "Review at the next core group."}
    if outcome == "unresolved":
        data["unresolved_reasons"] = "Both agencies keep their position."
    return data


def to_stage(api, instance_id: int, stage: int) -> dict:
    for number in range(1, stage):
        api.complete(api.ready(instance_id, STAGES[number - 1])["id"], discussion("unresolved"))
    return api.ready(instance_id, STAGES[stage - 1])


def business_team_tasks(api, instance_id: int) -> list[str]:
    return [t["name"] for t in api.request("GET", f"/api/tasks?role={BUSINESS_TEAM}") if t["instance_id"] == instance_id]


def notifications(api, instance_id: int) -> list[tuple]:
    return [(h["task"], h["data"].get("stage"), h["data"]["recipients"])
            for h in api.instance(instance_id)["history"] if h["kind"] == "notification_sent"]


def test_listed_with_its_start_form(api):
    assert {"key": PROTOCOL, "name": "WSSCP escalation policy (between external agencies)", "version": 1} \
        in api.request("GET", "/api/protocols")


def test_resolved_at_stage_1_does_not_involve_the_business_team(api):
    instance_id = api.start(PROTOCOL, START)["id"]
    result = api.complete(api.ready(instance_id)["id"], discussion("resolved"))
    assert result["status"] == "resolved"
    assert result["end_reason"] == "Resolved at Stage 1 – no need for further escalation"
    assert notifications(api, instance_id) == []


@pytest.mark.parametrize("stage", [2, 3, 4])
def test_resolved_at_later_stages_informs_the_business_team(api, stage):
    instance_id = api.start(PROTOCOL, START)["id"]
    task = to_stage(api, instance_id, stage)
    # From Stage 2 on, every escalation notifies the Business Team and puts a record task in its inbox.
    assert sorted(business_team_tasks(api, instance_id)) == ["log_ongoing"] * (stage - 1)
    assert [n[1] for n in notifications(api, instance_id)] == list(range(2, stage + 1))
    api.complete(task["id"], discussion("resolved"))
    running = api.instance(instance_id)
    assert running["status"] == "running"  # until the Business Team has recorded the outcome
    informed = notifications(api, instance_id)[-1]
    assert informed == ("Manager who resolved it informs the Business Team", stage, BUSINESS_TEAM)
    record = api.ready(instance_id, "record_outcome")
    assert record["role"] == BUSINESS_TEAM
    for log in [t for t in running["ready_tasks"] if t["name"] == "log_ongoing"]:
        api.complete(log["id"], {"log_reference": f"LOG-{log['id'][:4]}"})
    result = api.complete(record["id"], {"log_reference": "LOG-9", "learning": "Clarify step-down criteria."})
    assert result["status"] == "resolved"
    assert result["end_reason"] == "Disagreement resolved and recorded by the Business Team"
    completed = [h["task"] for h in result["history"] if h["kind"] == "task_completed"]
    assert completed.count("Record the ongoing disagreement") == stage - 1


def test_unresolved_at_the_lscp_closes_and_is_recorded(api):
    instance_id = api.start(PROTOCOL, START)["id"]
    task = to_stage(api, instance_id, 4)
    assert task["title"] == "Stage 4 – LSCP" and task["role"] == "LSCP"
    api.complete(task["id"], discussion("unresolved"))
    assert notifications(api, instance_id)[-1][0] == "Manager who resolved it informs the Business Team"
    for t in api.instance(instance_id)["ready_tasks"]:
        api.complete(t["id"], {"log_reference": "LOG-1"})
    result = api.instance(instance_id)
    assert result["status"] == "closed" and result["end_reason"] == "Closed – unresolved after the LSCP stage"
    escalations = [h["data"]["stage"] for h in result["history"] if h["kind"] == "escalated"]
    assert escalations == [2, 3, 4]


@pytest.mark.parametrize("stage,role,counterpart,notify", [
    (1, "Professional", "The professional in the other agency whose decision is challenged",
     "Nobody yet: the Business Team is told from Stage 2"),
    (2, "Manager", "The other professional's manager", "WSSCP Business Team"),
    (3, "Senior Manager", "Senior manager in the other agency", "WSSCP Business Team"),
    (4, "LSCP", "Senior managers of both agencies, before the LSCP", "WSSCP Business Team"),
])
def test_routing_table_rule_for_each_stage(api, stage, role, counterpart, notify):
    instance_id = api.start(PROTOCOL, START)["id"]
    task = to_stage(api, instance_id, stage)
    assert (task["role"], task["counterpart_role"]) == (role, counterpart)
    routed = [h for h in api.instance(instance_id)["history"] if h["kind"] == "routed"][-1]
    assert routed["data"] == {"decision": "wsscp_routing", "stage_role": role, "counterpart_role": counterpart,
                              "notify": notify}


@pytest.mark.parametrize("stage,due", [
    (1, "2026-12-03T09:00:00+00:00"), (2, "2026-12-08T09:00:00+00:00"),
    (3, "2026-12-08T09:00:00+00:00"), (4, "2026-12-08T09:00:00+00:00"),
])
def test_each_stage_deadline_records_a_breach(api, clock, stage, due):
    instance_id = api.start(PROTOCOL, START)["id"]
    task = to_stage(api, instance_id, stage)
    assert task["due_at"] == due
    clock.move_to(london(2026, 12, 9, 12, 0))
    api.sweep()
    after = api.ready(instance_id, STAGES[stage - 1])
    assert after["id"] == task["id"] and after["overdue"] is True
    assert api.kinds(instance_id).count("deadline_breached") == 1


def test_stage_1_deadline_over_christmas(api, clock):
    clock.move_to(london(2026, 12, 23, 16, 0))  # Wednesday; 25 and 28 December are bank holidays
    task = api.ready(api.start(PROTOCOL, START)["id"])
    assert task["due_at"] == "2026-12-29T16:00:00+00:00"


def test_bad_input_is_refused_and_changes_nothing(api):
    body = api.start(PROTOCOL, {**START, "service_area": "housing", "raising_agency": "Nowhere"}, expect=400)
    assert body["fields"] == {"service_area": "Choose one of: early_help, child_in_need, child_protection, looked_after",
                              "raising_agency": "Choose one of the agencies listed"}
    instance_id = api.start(PROTOCOL, START)["id"]
    task = api.ready(instance_id)
    before = api.instance(instance_id)
    body = api.complete(task["id"], {**discussion("unresolved"), "unresolved_reasons": ""}, expect=400)
    assert body["fields"] == {"unresolved_reasons": "Required when Outcome is 'Unresolved – escalate to managers (Stage 2)'"}
    assert api.instance(instance_id) == before
