"""The Safeguarding Children Partnership escalation (seed 001) walked end to end through the JSON API."""
from __future__ import annotations

import pytest

from conftest import london, make_user

PROTOCOL = "partnership_escalation"
START = {
    "case_reference": "CASE-42",
    "raising_professional": "Sam Patel, designated safeguarding lead",
    "raising_agency": "Northfield Academy",
    "other_professional": "Jo Reed, social worker",
    "other_agency": "Children's Social Care",
    "disagreement": "Referral closed with no further action.",
    "desired_outcome": "A child and family assessment.",
}
STAGE_TASKS = ["stage1_discussion", "stage2_discussion", "stage3_discussion", "stage4_discussion", "stage5_mediation"]


def record(outcome: str, **extra) -> dict:
    data = {"date_held": "2026-12-01", "participants": "Both parties", "outcome": outcome,
            "action_plan": "Meet again within 5 working days."}
    if outcome != "resolved":
        data["evidence_explored"] = "Two meetings held; positions unchanged."
    return {**data, **extra}


def escalate_to(api, instance_id: int, stage: int) -> dict:
    """Complete stages 1..stage-1 as unresolved; return the ready task of ``stage``."""
    for number in range(1, stage):
        task = api.ready(instance_id, STAGE_TASKS[number - 1])
        api.complete(task["id"], record("unresolved"))
    return api.ready(instance_id, STAGE_TASKS[stage - 1])


def test_protocol_is_listed(api):
    protocols = api.request("GET", "/api/protocols")
    assert {"key": PROTOCOL, "name": "Safeguarding Children Partnership escalation", "version": 1} in protocols


@pytest.mark.parametrize("stage", [1, 2, 3, 4, 5])
def test_resolved_at_each_stage(api, stage):
    instance = api.start(PROTOCOL, START)
    assert instance["status"] == "running"
    assert instance["version"] == 1
    task = escalate_to(api, instance["id"], stage)
    result = api.complete(task["id"], record("resolved"))
    assert result["status"] == "resolved"
    assert result["ready_tasks"] == []
    ended = [h for h in result["history"] if h["kind"] == "ended"]
    assert ended == [ended[0]] and ended[0]["data"] == {"status": "resolved", "reason": "Disagreement resolved"}
    completed = [h["task"] for h in result["history"] if h["kind"] == "task_completed"]
    assert len(completed) == stage
    assert completed[-1].startswith(f"Stage {stage} ")


def test_unresolved_through_every_stage_and_management_level(api):
    instance_id = api.start(PROTOCOL, START)["id"]
    titles = []
    for name, outcome in [("stage1_discussion", "unresolved"), ("stage2_discussion", "unresolved"),
                          ("stage3_discussion", "refer_higher"), ("stage3_discussion", "refer_higher"),
                          ("stage3_discussion", "unresolved"), ("stage4_discussion", "unresolved"),
                          ("stage5_mediation", "unresolved")]:
        task = api.ready(instance_id, name)
        titles.append(task["title"])
        api.complete(task["id"], record(outcome))
    result = api.instance(instance_id)
    assert result["status"] == "closed"
    assert result["end_reason"] == "Closed – unresolved after Partnership mediation"
    assert titles[2] == titles[3] == titles[4] == "Stage 3 – Senior manager to senior manager discussion"
    levels = [h["data"]["management_level"] for h in result["history"]
              if h["kind"] == "escalated" and h["element_id"] == "refer_next_level"]
    assert levels == [2, 3]
    stages = [h["data"]["stage"] for h in result["history"]
              if h["kind"] == "escalated" and h["element_id"] == "escalate_stage"]
    assert stages == [2, 3, 4, 5]


def test_each_stage_task_shows_its_roles_from_the_routing_table(api):
    instance_id = api.start(PROTOCOL, START)["id"]
    expected = [
        ("Professional", "The other professional who disagrees, in the other agency"),
        ("Line Manager", "Line manager of the other professional (opposite number in the other agency)"),
        ("Senior Manager", "Senior manager at the same level in the other agency"),
        ("Director / Chief Executive", "Director / Chief Executive of the partner agency"),
        ("Partnership Business Office",
         "Directors / Chief Executives of both agencies (mediation by a Strategic Lead)"),
    ]
    for number, (role, counterpart) in enumerate(expected, start=1):
        task = api.ready(instance_id, STAGE_TASKS[number - 1])
        assert (task["role"], task["counterpart_role"]) == (role, counterpart)
        detail = api.request("GET", f"/api/tasks/{task['id']}")
        assert detail["counterpart_role"] == counterpart
        if number < 5:
            api.complete(task["id"], record("unresolved"))
    routed = [h for h in api.instance(instance_id)["history"] if h["kind"] == "routed"]
    assert [h["data"]["stage_role"] for h in routed] == [role for role, _ in expected]


def test_task_form_is_described_by_the_api(api):
    task = api.ready(api.start(PROTOCOL, START)["id"])
    detail = api.request("GET", f"/api/tasks/{task['id']}")
    fields = {f["name"]: f for f in detail["form"]["fields"]}
    assert fields["outcome"]["type"] == "enum" and fields["outcome"]["required"]
    assert [c["value"] for c in fields["outcome"]["choices"]] == ["resolved", "unresolved"]
    assert fields["date_held"]["type"] == "date"
    assert fields["evidence_explored"]["required_when"] == {"field": "outcome", "values": ["unresolved", "refer_higher"]}
    assert detail["due_at"] == "2026-12-03T09:00:00+00:00"  # Tuesday 09:00 + 2 working days


# -- deadlines -------------------------------------------------------------------------------------

def test_stage1_deadline_escalates_to_stage2(api, clock):
    instance_id = api.start(PROTOCOL, START)["id"]
    stage1 = api.ready(instance_id)
    clock.move_to(london(2026, 12, 3, 8, 59))
    api.sweep()
    assert api.ready(instance_id)["id"] == stage1["id"]
    clock.move_to(london(2026, 12, 3, 9, 1))
    api.sweep()
    result = api.instance(instance_id)
    stage2 = api.ready(instance_id)
    assert stage2["name"] == "stage2_discussion"
    kinds = [h["kind"] for h in result["history"]]
    assert kinds == ["started", "routed", "notification_sent", "timer_fired", "deadline_breached", "escalated", "routed",
                     "notification_sent", "task_cancelled"]
    notices = [(h["data"]["stage"], h["data"]["recipients"]) for h in result["history"] if h["kind"] == "notification_sent"]
    assert notices == [(1, "Professional"), (2, "Line Manager")]
    breach = next(h for h in result["history"] if h["kind"] == "deadline_breached")
    assert breach["data"]["due_at"] == "2026-12-03T09:00:00+00:00"
    assert breach["data"]["escalates"] is True
    assert breach["at"] == "2026-12-03T09:01:00+00:00"
    cancelled = next(h for h in result["history"] if h["kind"] == "task_cancelled")
    assert cancelled["task_id"] == stage1["id"]
    # Stage 2 is due 5 working days after Stage 1 ended.
    assert stage2["due_at"] == "2026-12-10T09:01:00+00:00"
    # The Stage 1 task can no longer be completed.
    api.complete(stage1["id"], record("resolved"), expect=409)


@pytest.mark.parametrize("stage,days_due", [(2, "2026-12-08T09:00:00+00:00"), (3, "2026-12-08T09:00:00+00:00"),
                                            (4, "2026-12-03T09:00:00+00:00"), (5, "2026-12-08T09:00:00+00:00")])
def test_later_deadlines_record_a_breach_and_keep_the_task_open(api, clock, stage, days_due):
    instance_id = api.start(PROTOCOL, START)["id"]
    escalate_to(api, instance_id, stage)  # all at 09:00 on Tuesday 1 December
    task = api.ready(instance_id)
    assert task["due_at"] == days_due
    assert task["overdue"] is False
    clock.move_to(london(2026, 12, 10, 12, 0))
    api.sweep()
    after = api.ready(instance_id)
    assert after["id"] == task["id"]
    assert after["overdue"] is True and after["breached_at"] == "2026-12-10T12:00:00+00:00"
    breaches = [h for h in api.instance(instance_id)["history"] if h["kind"] == "deadline_breached"]
    assert len(breaches) == 1 and breaches[0]["data"]["escalates"] is False
    assert breaches[0]["task"] == task["title"]
    # The overdue task can still be completed; the sweep does not fire the same deadline twice.
    api.sweep()
    assert [h["kind"] for h in api.instance(instance_id)["history"]].count("deadline_breached") == 1
    assert api.complete(task["id"], record("resolved"))["status"] == "resolved"


def test_deadline_skips_weekend_and_christmas_bank_holidays(api, clock):
    clock.move_to(london(2026, 12, 24, 10, 0))  # Thursday; Fri 25 and Mon 28 December are bank holidays
    instance_id = api.start(PROTOCOL, START)["id"]
    task = api.ready(instance_id)
    assert task["due_at"] == "2026-12-30T10:00:00+00:00"
    clock.move_to(london(2026, 12, 29, 23, 0))
    api.sweep()
    assert api.ready(instance_id)["name"] == "stage1_discussion"
    clock.move_to(london(2026, 12, 30, 10, 0, 1))
    api.sweep()
    assert api.ready(instance_id)["name"] == "stage2_discussion"


def test_deadline_from_a_friday_lands_after_the_weekend(api, clock):
    clock.move_to(london(2026, 12, 18, 15, 30))
    task = api.ready(api.start(PROTOCOL, START)["id"])
    assert task["due_at"] == "2026-12-22T15:30:00+00:00"
    assert task["working_days_left"] == 2


def test_overdue_completion_before_the_sweep_still_escalates_first(api, clock):
    """If Stage 1's deadline passed but no sweep ran yet, submitting Stage 1 is refused: it already escalated."""
    instance_id = api.start(PROTOCOL, START)["id"]
    stage1 = api.ready(instance_id)
    clock.move_to(london(2026, 12, 4, 9, 0))
    body = api.complete(stage1["id"], record("resolved"), expect=409)
    assert "deadline passed" in body["error"]
    assert api.ready(instance_id)["name"] == "stage2_discussion"
    assert "deadline_breached" in api.kinds(instance_id)


# -- bad input and concurrency ---------------------------------------------------------------------

def test_missing_and_invalid_fields_are_reported_and_nothing_changes(api):
    instance_id = api.start(PROTOCOL, START)["id"]
    task = api.ready(instance_id)
    before = api.instance(instance_id)
    body = api.complete(task["id"], {"outcome": "maybe", "date_held": "yesterday", "stage": 5}, expect=400)
    assert body["fields"] == {
        "outcome": "Choose one of: resolved, unresolved",
        "date_held": "Enter a date as YYYY-MM-DD",
        "stage": "This form has no such field",
        "participants": "This field is required",
        "action_plan": "This field is required",
    }
    assert api.instance(instance_id) == before


def test_evidence_is_required_before_escalating(api):
    task = api.ready(api.start(PROTOCOL, START)["id"])
    data = record("unresolved")
    del data["evidence_explored"]
    body = api.complete(task["id"], data, expect=400)
    assert body["fields"] == {"evidence_explored": "Required when Outcome is 'Unresolved – refer to line managers (Stage 2)'"}
    resolved = record("resolved")
    assert api.complete(task["id"], resolved)["status"] == "resolved"


def test_start_form_is_validated(api):
    body = api.start(PROTOCOL, {"case_reference": "  "}, expect=400)
    assert body["fields"]["case_reference"] == "This field is required"
    assert body["fields"]["disagreement"] == "This field is required"
    assert api.request("GET", "/api/instances") == []
    api.start("no_such_protocol", START, expect=404)
    api.request("POST", "/api/instances", 400, json={"data": START})
    api.request("POST", "/api/instances", 400, data="not json", content_type="application/json")


def test_completing_a_task_twice_is_a_conflict_and_changes_nothing(api):
    for name in ("first.person", "second.person"):
        make_user(name, roles=["Professional"], agency="Children's Social Care")
    instance_id = api.start(PROTOCOL, START, user="first.person")["id"]
    task = api.ready(instance_id)
    api.complete(task["id"], record("unresolved"), user="first.person")
    after_first = api.instance(instance_id)
    body = api.complete(task["id"], record("resolved"), expect=409, user="second.person")
    assert "already completed by first.person" in body["error"]
    assert api.instance(instance_id) == after_first


def test_unknown_task_and_instance_are_404_json(api):
    assert "error" in api.request("GET", "/api/tasks/nope", 404)
    assert "error" in api.request("GET", "/api/instances/999", 404)
    assert "error" in api.complete("nope", {}, expect=404)


def test_history_records_actor_and_form_data(api):
    make_user("sam.patel", roles=["Professional"], agency="Northfield Academy")
    make_user("jo.reed", roles=["Professional"], agency="Children's Social Care")
    instance_id = api.start(PROTOCOL, START, user="sam.patel")["id"]
    task = api.as_user("jo.reed").ready(instance_id)
    api.request("POST", f"/api/tasks/{task['id']}/release", user="sam.patel")
    api.request("POST", f"/api/tasks/{task['id']}/claim", user="jo.reed")
    api.complete(task["id"], record("resolved"), user="jo.reed")
    history = api.instance(instance_id)["history"]
    assert history[0]["kind"] == "started" and history[0]["actor"] == "sam.patel"
    assert history[0]["data"]["case_reference"] == "CASE-42"
    completed = next(h for h in history if h["kind"] == "task_completed")
    assert completed["actor"] == "jo.reed"
    assert completed["data"]["outcome"] == "resolved"
    assert completed["at"] == "2026-12-01T09:00:00+00:00"
    assert [h["kind"] for h in history] == ["started", "routed", "notification_sent", "task_released", "task_claimed",
                                            "task_completed", "ended"]


def test_inbox_lists_ready_tasks_by_role(api):
    first = api.start(PROTOCOL, START)["id"]
    second = api.start(PROTOCOL, {**START, "case_reference": "CASE-43"})["id"]
    escalate_to(api, second, 2)
    assert {t["instance_id"] for t in api.request("GET", "/api/tasks")} == {first, second}
    managers = api.request("GET", "/api/tasks?role=Line Manager")
    assert [(t["instance_id"], t["case_reference"], t["protocol"]) for t in managers] == [(second, "CASE-43", PROTOCOL)]


def test_cancelling_an_escalation_closes_its_tasks_and_stops_its_timers(api, clock):
    instance_id = api.start(PROTOCOL, START)["id"]
    task = api.ready(instance_id)
    api.request("POST", f"/api/instances/{instance_id}/cancel", 400, json={"reason": " "})
    result = api.request("POST", f"/api/instances/{instance_id}/cancel", json={"reason": "Raised in error"})
    assert result["status"] == "cancelled" and result["end_reason"] == "Raised in error"
    assert result["ready_tasks"] == [] and result["next_deadline_at"] is None
    assert [h["kind"] for h in result["history"]][-2:] == ["task_cancelled", "ended"]
    api.complete(task["id"], record("resolved"), expect=409)
    clock.move_to(london(2026, 12, 10))
    api.sweep()
    assert api.instance(instance_id)["history"] == result["history"]
    api.request("POST", f"/api/instances/{instance_id}/cancel", 409, json={"reason": "again"})


def test_breach_found_at_completion_is_recorded_before_the_completion(api, clock):
    instance_id = api.start(PROTOCOL, START)["id"]
    stage2 = escalate_to(api, instance_id, 2)  # due Tuesday 8 December 09:00; no sweep runs
    clock.move_to(london(2026, 12, 9, 12, 0))
    api.complete(stage2["id"], record("resolved"))
    kinds = api.kinds(instance_id)
    assert kinds[-4:] == ["timer_fired", "deadline_breached", "task_completed", "ended"]
