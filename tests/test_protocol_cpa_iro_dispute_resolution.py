"""CPA/IRO dispute resolution (seed 003) through the JSON API: informal stage, formal Stages 1-5, sign-off."""
from __future__ import annotations

import pytest

from conftest import london

PROTOCOL = "cpa_iro_dispute_resolution"
START = {"case_reference": "MOSAIC-77", "social_worker": "Kim Lowe", "manager_involved": "Pat Grey (PM)",
         "discussion_method": "telephone", "concern": "Care plan not updated after the review.",
         "desired_outcome": "Updated care plan within 10 days.", "informal_case_note": True}
STARTERS = {1: "CPA/IRO", 2: "Team Manager", 3: "Principal Manager", 4: "Head of QAPI"}
COMPLETERS = {1: "Practice Manager", 2: "Group Manager", 3: "Service Lead", 4: "Head of CSC"}
STAGE_START = {"date_of_alert": "2026-12-01", "reason": "Care plan not updated.", "wanted": "Update it."}
RESPONSE = {"response": "We will update the plan.", "date_of_response": "2026-12-02"}


def informal(outcome: str, **extra) -> dict:
    data = {"outcome": outcome, "escalation_notes": "Discussed with TM."}
    data.update({"resolution_case_note": "Resolved: plan updated."} if outcome == "resolved"
                else {"formal_process_date": "2026-12-07"})
    return {**data, **extra}


def review(outcome: str) -> dict:
    return ({"outcome": "resolved", "final_comments": "Satisfactory."} if outcome == "resolved"
            else {"outcome": "unresolved", "not_satisfactory_because": "Does not address the plan."})


def start_formal(api) -> int:
    instance_id = api.start(PROTOCOL, START)["id"]
    api.complete(api.ready(instance_id, "informal_resolution")["id"], informal("unresolved"))
    return instance_id


def run_stage(api, instance_id: int, n: int, verdict: str) -> None:
    api.complete(api.ready(instance_id, f"start_stage{n}")["id"], STAGE_START)
    api.complete(api.ready(instance_id, f"complete_stage{n}")["id"], RESPONSE)
    api.complete(api.ready(instance_id, f"review_stage{n}")["id"], review(verdict))


def notices(api, instance_id: int) -> list[tuple[str, str]]:
    return [(h["task"], h["data"]["recipients"]) for h in api.instance(instance_id)["history"]
            if h["kind"] == "notification_sent"]


def sign_off(api, instance_id: int) -> dict:
    task = api.ready(instance_id, "sign_off")
    assert task["role"] == "CPA/IRO"
    return api.complete(task["id"], {"sign_off_outcome": "issues_resolution_concluded"})


def test_informal_resolution_ends_the_process_and_the_tracking(api):
    instance_id = api.start(PROTOCOL, START)["id"]
    names = sorted(t["name"] for t in api.instance(instance_id)["ready_tasks"])
    assert names == ["informal_resolution", "track_progress"]
    assert api.ready(instance_id, "track_progress")["role"] == "Embedded Co-ordinator"
    result = api.complete(api.ready(instance_id, "informal_resolution")["id"], informal("resolved"))
    assert result["status"] == "resolved"
    assert result["end_reason"] == "Dispute resolved informally – case note entered"
    assert result["ready_tasks"] == []  # the co-ordinator's tracking task closes with the process


def test_informal_stage_switches_to_formal_after_20_working_days(api, clock):
    instance_id = api.start(PROTOCOL, START)["id"]  # Tuesday 1 December 2026, 09:00
    informal_task = api.ready(instance_id, "informal_resolution")
    assert informal_task["due_at"] == "2026-12-31T09:00:00+00:00"  # 20 working days, skipping 25 and 28 December
    clock.move_to(london(2026, 12, 30, 18, 0))
    api.sweep()
    assert api.ready(instance_id, "informal_resolution")["id"] == informal_task["id"]
    clock.move_to(london(2026, 12, 31, 10, 0))
    api.sweep()
    result = api.instance(instance_id)
    breach = next(h for h in result["history"] if h["kind"] == "deadline_breached")
    assert breach["task"] == "Informal issues resolution" and breach["data"]["escalates"] is True
    assert ("E-MAIL ALERT to Team Manager / Principal Officer / Embedded Co-ordinator",
            "Team Manager, Principal Officer, Embedded Co-ordinator") in notices(api, instance_id)
    stage1 = api.ready(instance_id, "start_stage1")
    assert stage1["role"] == "CPA/IRO" and stage1["counterpart_role"] == "Practice Manager"
    formal = next(h for h in result["history"] if h["element_id"] == "open_formal")
    assert formal["kind"] == "escalated"
    assert formal["data"]["formal_due"] == "2027-01-29T10:00:00+00:00"  # 20 working days of the formal process


@pytest.mark.parametrize("stage", [1, 2, 3, 4])
def test_satisfactory_response_at_each_stage_is_closed_by_the_right_role_then_signed_off(api, stage):
    instance_id = start_formal(api)
    for n in range(1, stage):
        run_stage(api, instance_id, n, "unresolved")
    assert api.ready(instance_id, f"start_stage{stage}")["role"] == STARTERS[stage]
    api.complete(api.ready(instance_id, f"start_stage{stage}")["id"], STAGE_START)
    respond = api.ready(instance_id, f"complete_stage{stage}")
    assert respond["role"] == COMPLETERS[stage] and respond["due_at"] == "2026-12-08T09:00:00+00:00"
    api.complete(respond["id"], RESPONSE)
    closer = api.ready(instance_id, f"review_stage{stage}")
    assert closer["role"] == STARTERS[stage]
    api.complete(closer["id"], review("resolved"))
    result = sign_off(api, instance_id)
    assert result["status"] == "resolved" and result["end_reason"] == "Issues Resolution Concluded"
    completed = [h for h in result["history"] if h["kind"] == "task_completed"]
    assert completed[-2]["data"]["final_comments"] == "Satisfactory."
    assert completed[-1]["data"]["sign_off_outcome"] == "issues_resolution_concluded"
    assert result["ready_tasks"] == []


def test_response_not_in_timescales_escalates_to_the_next_stage(api, clock):
    instance_id = start_formal(api)
    api.complete(api.ready(instance_id, "start_stage1")["id"], STAGE_START)
    respond = api.ready(instance_id, "complete_stage1")
    clock.move_to(london(2026, 12, 8, 9, 30))
    api.sweep()
    assert api.ready(instance_id, "start_stage2")["role"] == "Team Manager"
    history = api.instance(instance_id)["history"]
    breach = next(h for h in history if h["kind"] == "deadline_breached")
    assert breach["task"] == "PM completes Stage 1" and breach["data"]["escalates"] is True
    assert [h["data"]["stage"] for h in history if h["element_id"] == "escalate_to_stage2"] == [2]
    api.complete(respond["id"], RESPONSE, expect=409)


def test_stage_5_informs_the_dcs_and_has_the_formal_20_day_limit(api, clock):
    instance_id = start_formal(api)  # formal process starts Tuesday 1 December 09:00
    for n in (1, 2, 3, 4):
        run_stage(api, instance_id, n, "unresolved")
    assert notices(api, instance_id)[-1] == ("DCS & Executive Director informed", "DCS & Executive Director")
    task = api.ready(instance_id, "stage5_resolution")
    assert task["role"] == "DCS & Executive Director"
    assert task["due_at"] == "2026-12-31T09:00:00+00:00"  # 20 working days from the start of the formal process
    clock.move_to(london(2026, 12, 31, 12, 0))
    api.sweep()
    assert api.ready(instance_id, "stage5_resolution")["overdue"] is True
    result = api.complete(task["id"], {"outcome": "unresolved", "decision": "No agreement."})
    assert result["status"] == "closed" and result["end_reason"] == "Closed – not resolved at Stage 5"


def test_stage_5_resolution_goes_to_sign_off(api):
    instance_id = start_formal(api)
    for n in (1, 2, 3, 4):
        run_stage(api, instance_id, n, "unresolved")
    api.complete(api.ready(instance_id, "stage5_resolution")["id"], {"outcome": "resolved", "decision": "Plan agreed."})
    assert sign_off(api, instance_id)["status"] == "resolved"


@pytest.mark.parametrize("stage", [1, 2, 3, 4])
def test_routing_rule_for_each_formal_stage(api, stage):
    instance_id = start_formal(api)
    for n in range(1, stage):
        run_stage(api, instance_id, n, "unresolved")
    task = api.ready(instance_id, f"start_stage{stage}")
    assert (task["role"], task["counterpart_role"]) == (STARTERS[stage], COMPLETERS[stage])
    routed = [h for h in api.instance(instance_id)["history"] if h["kind"] == "routed"][-1]
    assert routed["data"]["stage_role"] == STARTERS[stage] and routed["data"]["counterpart_role"] == COMPLETERS[stage]
    api.complete(task["id"], STAGE_START)
    assert notices(api, instance_id)[-1] == (f"{task['title']}", COMPLETERS[stage].replace("Practice Manager", "PM")
                                             .replace("Group Manager", "GM").replace("Service Lead", "SL"))


def test_bad_input_is_refused_and_changes_nothing(api):
    instance_id = api.start(PROTOCOL, START)["id"]
    task = api.ready(instance_id, "informal_resolution")
    before = api.instance(instance_id)
    body = api.complete(task["id"], {"outcome": "unresolved"}, expect=400)
    assert body["fields"] == {"formal_process_date": "Required when Issue resolved within 20 working days? is "
                                                     "'No – the formal process starts'"}
    assert api.instance(instance_id) == before
    instance_id = start_formal(api)
    run_stage(api, instance_id, 1, "resolved")
    body = api.complete(api.ready(instance_id, "sign_off")["id"], {"sign_off_outcome": "done"}, expect=400)
    assert body["fields"] == {"sign_off_outcome": "Choose one of: issues_resolution_concluded"}
