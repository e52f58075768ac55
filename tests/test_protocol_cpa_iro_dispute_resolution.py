"""CPA/IRO dispute resolution (seed 003) through the JSON API, with two real parties.

The IRO/CPA service (raising side) and the social work team (the other side) each have their own management
chain, every role held by a different person: CPA/IRO → Team Manager → Principal Manager → Head of QAPI, and
Social Worker → Practice Manager → Group Manager → Service Lead → Head of CSC → DCS & Executive Director.
The Embedded Co-ordinator is in the IRO/CPA service. Each test proves what a person would notice: whose inbox
a task lands in, who is told, which deadline passes on which working day, and that nothing moves on without
the evidence the seed asks for.
"""
from __future__ import annotations

import pytest

from conftest import london, make_chain, make_user
from workflow_app.extensions import db
from workflow_app.services import people

PROTOCOL = "cpa_iro_dispute_resolution"
IRO = "IRO Service (QAPI)"
SWT = "Children's Services Social Work"
RAISING_CHAIN = [("cpa.iro", ["CPA/IRO"]), ("iro.tm", ["Team Manager"]), ("iro.principal", ["Principal Manager"]),
                 ("iro.qapi", ["Head of QAPI"])]
COUNTER_CHAIN = [("sw.kim", ["Social Worker"]), ("sw.pm", ["Practice Manager"]), ("sw.gm", ["Group Manager"]),
                 ("sw.sl", ["Service Lead"]), ("sw.head", ["Head of CSC"]), ("sw.dcs", ["DCS & Executive Director"])]
STARTS = {1: "cpa.iro", 2: "iro.tm", 3: "iro.principal", 4: "iro.qapi"}  # raising side, by chain
COMPLETES = {1: "sw.pm", 2: "sw.gm", 3: "sw.sl", 4: "sw.head"}  # the other side, by chain
STARTER_ROLES = {1: "CPA/IRO", 2: "Team Manager", 3: "Principal Manager", 4: "Head of QAPI"}
COMPLETER_ROLES = {1: "Practice Manager", 2: "Group Manager", 3: "Service Lead", 4: "Head of CSC"}

START = {"case_reference": "MOSAIC-77", "raising_agency": IRO, "counterpart_agency": SWT,
         "counterpart_person": "sw.kim", "social_worker": "Kim Lowe", "manager_involved": "Pat Grey (PM)",
         "discussion_method": "telephone", "concern": "Care plan not updated after the review.",
         "desired_outcome": "Updated care plan within 10 days.", "informal_case_note_date": "2026-12-01"}
STAGE_START = {"date_of_alert": "2026-12-01", "reason": "Care plan not updated.", "wanted": "Update it."}
RESPONSE = {"response": "We will update the plan.", "date_of_response": "2026-12-02"}
FORMAL_DATE = {"formal_process_date": "2026-12-07", "formal_reason": "No agreement after two discussions."}


def informal(outcome: str) -> dict:
    data = {"outcome": outcome, "discussed_on": "2026-12-01"}
    data.update({"resolution_case_note": "Resolved: plan updated."} if outcome == "resolved"
                else {"escalation_notes": "Discussed with TM and PM; plan still not updated."})
    return data


def response(outcome: str) -> dict:
    data = {"counterpart_outcome": outcome, "counterpart_response": "We discussed it by telephone."}
    if outcome == "unresolved":
        data["counterpart_not_resolved_because"] = "We think the plan is up to date."
    return data


def review(outcome: str) -> dict:
    return ({"outcome": "resolved", "final_comments": "Satisfactory."} if outcome == "resolved"
            else {"outcome": "unresolved", "not_satisfactory_because": "Does not address the plan."})


@pytest.fixture
def org(api):
    """Both agencies with their chains; returns the API client signed in as the CPA/IRO."""
    for name in (IRO, SWT):
        people.get_or_create_agency(name)
    db.session.commit()
    make_chain(IRO, RAISING_CHAIN)
    make_chain(SWT, COUNTER_CHAIN)
    make_user("iro.coordinator", roles=["Embedded Co-ordinator"], agency=IRO, line_manager="iro.principal",
              email="iro.coordinator@example.org")
    return api.as_user("cpa.iro")


def ready(api, instance_id) -> dict:
    return {t["name"]: t for t in api.instance(instance_id)["ready_tasks"]}


def inbox(api, username) -> set:
    return {(t["instance_id"], t["name"]) for t in api.as_user(username).request("GET", "/api/tasks?view=mine")}


def act(api, instance_id, name: str, username: str, data: dict, expect: int = 200):
    """``username`` has task ``name`` in their own inbox, and completes it."""
    task = ready(api, instance_id)[name]
    assert task["assigned_to"] == username, (name, task["assigned_to"], username)
    assert (instance_id, name) in inbox(api, username)
    return api.as_user(username).complete(task["id"], data, expect=expect)


def history(api, instance_id, kind: str, element_id: str | None = None) -> list[dict]:
    return [h for h in api.instance(instance_id)["history"]
            if h["kind"] == kind and (element_id is None or h["element_id"] == element_id)]


def sent_to(api, instance_id, element_id: str) -> list[list[str]]:
    return [sorted(h["data"]["sent_to"]) for h in api.instance(instance_id)["history"]
            if h["element_id"] == element_id and "sent_to" in h["data"]]


def start_formal(org) -> int:
    """Raised 1 December 2026 09:00; both sides say 'not resolved'; the formal process starts at once."""
    instance_id = org.start(PROTOCOL, START)["id"]
    act(org, instance_id, "informal_response", "sw.kim", response("unresolved"))
    act(org, instance_id, "informal_resolution", "cpa.iro", informal("unresolved"))
    act(org, instance_id, "confirm_formal_date", "cpa.iro", FORMAL_DATE)
    return instance_id


def run_stage(api, instance_id: int, n: int, verdict: str) -> None:
    act(api, instance_id, f"start_stage{n}", STARTS[n], STAGE_START)
    act(api, instance_id, f"complete_stage{n}", COMPLETES[n], RESPONSE)
    act(api, instance_id, f"review_stage{n}", STARTS[n], review(verdict))


def sign_off(api, instance_id: int) -> dict:
    task = ready(api, instance_id)["sign_off"]
    assert task["role"] == "CPA/IRO" and task["party"] == "raising"
    return act(api, instance_id, "sign_off", "cpa.iro", {"sign_off_outcome": "issues_resolution_concluded"})


# -- informal stage -----------------------------------------------------------------------------------------

def test_both_sides_and_the_coordinator_act_at_the_informal_stage(org):
    instance = org.start(PROTOCOL, START)
    tasks = ready(org, instance["id"])
    assert {n: (t["party"], t["agency"], t["role"], t["assigned_to"]) for n, t in tasks.items()} == {
        "informal_resolution": ("raising", IRO, "CPA/IRO", "cpa.iro"),
        "informal_response": ("counterpart", SWT, "Social Worker", "sw.kim"),
        "track_progress": (None, None, "Embedded Co-ordinator", "iro.coordinator")}
    # "ISSUE RESOLVED within 20 working days?": both sides have the same deadline, skipping 25 and 28 December.
    assert tasks["informal_resolution"]["due_at"] == tasks["informal_response"]["due_at"] == "2026-12-31T09:00:00+00:00"
    assert inbox(org, "sw.kim") == {(instance["id"], "informal_response")}
    assert inbox(org, "iro.coordinator") == {(instance["id"], "track_progress")}
    # Neither side can complete the other's task.
    org.as_user("sw.kim").complete(tasks["informal_resolution"]["id"], informal("resolved"), expect=403)
    org.complete(tasks["informal_response"]["id"], response("resolved"), expect=403)


def test_start_form_requires_two_agencies_and_the_case_note(org):
    body = org.start(PROTOCOL, {**START, "counterpart_agency": IRO}, expect=400)
    assert "social work team" in body["fields"]["counterpart_agency"]
    body = org.start(PROTOCOL, {**START, "counterpart_person": "iro.tm"}, expect=400)
    assert body["fields"]["counterpart_person"] == f"Iro Tm works for {IRO}, not {SWT}"
    without_note = {k: v for k, v in START.items() if k != "informal_case_note_date"}
    assert org.start(PROTOCOL, without_note, expect=400)["fields"] == {
        "informal_case_note_date": "This field is required"}


def test_informal_resolution_needs_both_sides_then_ends_with_the_case_note(org):
    instance_id = org.start(PROTOCOL, START)["id"]
    body = act(org, instance_id, "informal_resolution", "cpa.iro", {"outcome": "resolved", "discussed_on": "2026-12-01"},
               expect=400)
    assert list(body["fields"]) == ["resolution_case_note"]
    assert act(org, instance_id, "informal_resolution", "cpa.iro", informal("resolved"))["status"] == "running"
    result = act(org, instance_id, "informal_response", "sw.kim", response("resolved"))
    assert result["status"] == "resolved"
    assert result["end_reason"] == "Dispute resolved informally – case note entered"
    assert result["ready_tasks"] == []  # the co-ordinator's tracking closes with the process
    completed = [(h["party"], h["actor"]) for h in result["history"] if h["kind"] == "task_completed"]
    assert completed == [("raising", "cpa.iro"), ("counterpart", "sw.kim")]


def test_other_side_not_resolved_starts_the_formal_process_after_the_date_is_confirmed(org):
    instance_id = org.start(PROTOCOL, START)["id"]
    body = act(org, instance_id, "informal_response", "sw.kim", {**response("unresolved"),
                                                                 "counterpart_not_resolved_because": ""}, expect=400)
    assert list(body["fields"]) == ["counterpart_not_resolved_because"]
    act(org, instance_id, "informal_response", "sw.kim", response("unresolved"))
    act(org, instance_id, "informal_resolution", "cpa.iro", informal("resolved"))  # one side alone is not enough
    assert set(ready(org, instance_id)) == {"track_progress", "confirm_formal_date"}
    assert history(org, instance_id, "notification_sent") == []  # no alert before the date is confirmed
    body = act(org, instance_id, "confirm_formal_date", "cpa.iro", {"formal_reason": "No agreement."}, expect=400)
    assert body["fields"] == {"formal_process_date": "This field is required"}
    act(org, instance_id, "confirm_formal_date", "cpa.iro", FORMAL_DATE)
    # "E-MAIL ALERT to Team Manager/Principal Officer/ Embedded Co-ordinator to confirm date of formal process"
    alert = history(org, instance_id, "notification_sent", "formal_alert")[0]
    assert sorted(alert["data"]["sent_to"]) == ["iro.coordinator", "iro.principal", "iro.tm"]
    assert alert["data"]["no_one_holds"] == [] and alert["data"]["formal_process_date"] == "2026-12-07"
    formal = history(org, instance_id, "escalated", "open_formal")[0]
    assert formal["data"]["formal_due"] == "2026-12-31T09:00:00+00:00"  # 20 working days of the formal process
    stage1 = ready(org, instance_id)["start_stage1"]
    assert (stage1["role"], stage1["counterpart_role"]) == ("CPA/IRO", "Practice Manager")
    assert stage1["assigned_to"] == "cpa.iro"  # the CPA/IRO starts Stage 1: the same rung as the informal stage


def test_informal_stage_ends_after_20_working_days_but_only_the_cpa_iro_starts_the_formal_process(org, clock):
    instance_id = org.start(PROTOCOL, START)["id"]  # Tuesday 1 December 2026, 09:00
    act(org, instance_id, "informal_resolution", "cpa.iro", informal("resolved"))
    response_task = ready(org, instance_id)["informal_response"]
    clock.move_to(london(2026, 12, 30, 18, 0))
    org.sweep()
    assert "informal_response" in ready(org, instance_id)
    clock.move_to(london(2026, 12, 31, 10, 0))
    org.sweep()
    breach = history(org, instance_id, "deadline_breached")
    assert [(b["element_id"], b["data"]["closes_task"]) for b in breach] == [("informal_response", True)]
    org.as_user("sw.kim").complete(response_task["id"], response("resolved"), expect=409)
    # The timer does not start the formal process by itself: the CPA/IRO confirms its date first.
    assert set(ready(org, instance_id)) == {"track_progress", "confirm_formal_date"}
    assert history(org, instance_id, "notification_sent", "formal_alert") == []
    act(org, instance_id, "confirm_formal_date", "cpa.iro", FORMAL_DATE)
    assert sent_to(org, instance_id, "formal_alert") == [["iro.coordinator", "iro.principal", "iro.tm"]]
    assert ready(org, instance_id)["start_stage1"]["assigned_to"] == "cpa.iro"


# -- formal stages -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stage", [1, 2, 3, 4])
def test_each_stage_goes_to_the_next_person_on_each_side_and_closes_with_sign_off(org, stage):
    instance_id = start_formal(org)
    for n in range(1, stage):
        run_stage(org, instance_id, n, "unresolved")
        # "Stage N+1 is raised between your line manager and the line manager of the person you have raised
        # stage N with. This is to be done via email".
        assert sent_to(org, instance_id, f"escalate_to_stage{n + 1}") == [sorted([STARTS[n + 1], COMPLETES[n + 1]])]
    starter = ready(org, instance_id)[f"start_stage{stage}"]
    assert (starter["party"], starter["agency"], starter["role"], starter["counterpart_role"]) == (
        "raising", IRO, STARTER_ROLES[stage], COMPLETER_ROLES[stage])
    act(org, instance_id, f"start_stage{stage}", STARTS[stage], STAGE_START)
    # "... starts Stage N and notifies" the other side's person at this stage.
    expected = [COMPLETES[stage], "iro.coordinator"] if stage == 1 else [COMPLETES[stage]]
    assert sent_to(org, instance_id, f"start_stage{stage}") == [sorted(expected)]
    respond = ready(org, instance_id)[f"complete_stage{stage}"]
    assert (respond["party"], respond["agency"], respond["role"]) == ("counterpart", SWT, COMPLETER_ROLES[stage])
    assert respond["due_at"] == "2026-12-08T09:00:00+00:00"  # 5 working days
    act(org, instance_id, f"complete_stage{stage}", COMPLETES[stage], RESPONSE)
    # "... completes Stage N and notifies" the raising side's person (Stage 2: "notifies PM" too).
    expected = [STARTS[stage], "sw.pm"] if stage == 2 else [STARTS[stage]]
    assert sent_to(org, instance_id, f"complete_stage{stage}") == [sorted(expected)]
    body = act(org, instance_id, f"review_stage{stage}", STARTS[stage], {"outcome": "resolved"}, expect=400)
    assert list(body["fields"]) == ["final_comments"]
    act(org, instance_id, f"review_stage{stage}", STARTS[stage], review("resolved"))
    # "Once you have received notification that the dispute has been resolved": the CPA/IRO who raised it.
    assert sent_to(org, instance_id, "resolution_notice") == [["cpa.iro"]]
    result = sign_off(org, instance_id)
    assert result["status"] == "resolved" and result["end_reason"] == "Issues Resolution Concluded"
    assert result["ready_tasks"] == []
    assigned = [(h["party"], h["data"]["assigned_to"]) for h in result["history"] if h["kind"] == "task_assigned"
                and h["party"]]
    raising = [who for party, who in assigned if party == "raising"]
    counterpart = [who for party, who in assigned if party == "counterpart"]
    # Each side climbs its own chain, one person per rung, never the same person at two rungs.
    assert list(dict.fromkeys(raising)) == ["cpa.iro"] + [STARTS[n] for n in range(2, stage + 1)]
    assert list(dict.fromkeys(counterpart)) == ["sw.kim"] + [COMPLETES[n] for n in range(1, stage + 1)]


def test_response_not_in_timescales_is_recorded_by_the_raising_side_before_stage_2(org, clock):
    instance_id = start_formal(org)
    act(org, instance_id, "start_stage1", "cpa.iro", STAGE_START)
    respond = ready(org, instance_id)["complete_stage1"]
    clock.move_to(london(2026, 12, 7, 18, 0))
    org.sweep()
    assert history(org, instance_id, "deadline_breached") == []
    clock.move_to(london(2026, 12, 8, 9, 30))
    org.sweep()
    breach = history(org, instance_id, "deadline_breached")
    assert [(b["element_id"], b["data"]["closes_task"]) for b in breach] == [("complete_stage1", True)]
    org.as_user("sw.pm").complete(respond["id"], RESPONSE, expect=409)
    assert set(ready(org, instance_id)) == {"track_progress", "stage1_out_of_timescales"}  # Stage 2 waits
    body = act(org, instance_id, "stage1_out_of_timescales", "cpa.iro", {"outcome": "unresolved"}, expect=400)
    assert body["fields"] == {"not_satisfactory_because": "This field is required"}
    act(org, instance_id, "stage1_out_of_timescales", "cpa.iro",
        {"outcome": "unresolved", "not_satisfactory_because": "No response; chased on 7 December."})
    escalated = history(org, instance_id, "escalated", "escalate_to_stage2")[0]
    assert escalated["data"]["not_satisfactory_because"] == "No response; chased on 7 December."
    assert sorted(escalated["data"]["sent_to"]) == ["iro.tm", "sw.gm"]
    assert ready(org, instance_id)["start_stage2"]["assigned_to"] == "iro.tm"


def test_formal_process_20_working_days_breach_is_recorded_while_stage_3_is_open(org, clock):
    instance_id = start_formal(org)  # FORMAL PROCESS STARTS Tuesday 1 December 09:00: due Thursday 31 December
    run_stage(org, instance_id, 1, "unresolved")
    run_stage(org, instance_id, 2, "unresolved")
    clock.move_to(london(2026, 12, 23, 9, 0))
    act(org, instance_id, "start_stage3", "iro.principal", STAGE_START)
    stage3 = ready(org, instance_id)["complete_stage3"]
    assert stage3["due_at"] == "2027-01-04T09:00:00+00:00"  # its own 5 working days run past the formal deadline
    clock.move_to(london(2026, 12, 30, 18, 0))
    org.sweep()
    assert history(org, instance_id, "deadline_breached") == []
    clock.move_to(london(2026, 12, 31, 9, 30))
    org.sweep()
    breach = history(org, instance_id, "deadline_breached")
    assert [(b["element_id"], b["data"]["closes_task"], b["data"]["due_at"]) for b in breach] == [
        ("formal_process", False, "2026-12-31T09:00:00+00:00")]
    # The co-ordinator and the people holding Stage 3 on both sides are told; Stage 3 stays open.
    assert sent_to(org, instance_id, "formal_deadline_notice") == [["iro.coordinator", "iro.principal", "sw.sl"]]
    still = ready(org, instance_id)["complete_stage3"]
    assert still["id"] == stage3["id"] and still["overdue"] is False and still["assigned_to"] == "sw.sl"
    act(org, instance_id, "complete_stage3", "sw.sl", RESPONSE)
    act(org, instance_id, "review_stage3", "iro.principal", review("resolved"))
    assert sign_off(org, instance_id)["status"] == "resolved"
    assert len(history(org, instance_id, "deadline_breached")) == 1


def test_formal_deadline_stops_once_the_formal_stages_are_resolved(org, clock):
    instance_id = start_formal(org)
    run_stage(org, instance_id, 1, "resolved")
    clock.move_to(london(2027, 1, 8, 12, 0))  # the sign-off is late, but the dispute was resolved at Stage 1
    org.sweep()
    assert history(org, instance_id, "deadline_breached") == []
    assert sign_off(org, instance_id)["status"] == "resolved"


def test_stage_5_informs_the_dcs_whose_task_has_the_formal_deadline(org, clock):
    instance_id = start_formal(org)
    for n in (1, 2, 3, 4):
        run_stage(org, instance_id, n, "unresolved")
    assert sent_to(org, instance_id, "dcs_informed") == [["sw.dcs"]]
    task = ready(org, instance_id)["stage5_resolution"]
    assert (task["role"], task["party"], task["assigned_to"]) == ("DCS & Executive Director", None, "sw.dcs")
    assert task["due_at"] == "2026-12-31T09:00:00+00:00"  # 20 working days from the start of the formal process
    clock.move_to(london(2026, 12, 31, 12, 0))
    org.sweep()
    assert [b["element_id"] for b in history(org, instance_id, "deadline_breached")] == ["stage5_resolution"]
    assert ready(org, instance_id)["stage5_resolution"]["overdue"] is True
    body = act(org, instance_id, "stage5_resolution", "sw.dcs", {"outcome": "unresolved"}, expect=400)
    assert body["fields"] == {"decision": "This field is required"}
    result = act(org, instance_id, "stage5_resolution", "sw.dcs", {"outcome": "unresolved", "decision": "No agreement."})
    assert result["status"] == "closed" and result["end_reason"] == "Closed – not resolved at Stage 5"


def test_stage_4_not_in_timescales_and_stage_5_resolution_go_to_sign_off(org, clock):
    instance_id = start_formal(org)
    for n in (1, 2, 3):
        run_stage(org, instance_id, n, "unresolved")
    act(org, instance_id, "start_stage4", "iro.qapi", STAGE_START)
    clock.move_to(london(2026, 12, 8, 10, 0))
    org.sweep()
    act(org, instance_id, "stage4_out_of_timescales", "iro.qapi",
        {"outcome": "unresolved", "not_satisfactory_because": "Head of CSC did not respond."})
    assert sent_to(org, instance_id, "dcs_informed") == [["sw.dcs"]]
    act(org, instance_id, "stage5_resolution", "sw.dcs", {"outcome": "resolved", "decision": "Plan agreed."})
    assert sent_to(org, instance_id, "resolution_notice") == [["cpa.iro"]]
    assert sign_off(org, instance_id)["status"] == "resolved"


def test_other_side_without_an_account_gets_a_link_then_the_chain_continues_in_their_agency(org, clock):
    data = {**START, "counterpart_person": "", "counterpart_contact_name": "Kim Lowe",
            "counterpart_contact_email": "kim.lowe@council.example"}
    instance_id = org.start(PROTOCOL, data)["id"]
    task = ready(org, instance_id)["informal_response"]
    assert task["assigned_to"] is None and task["party"] == "counterpart"
    assert task["external_contact"] == {"name": "Kim Lowe", "email": "kim.lowe@council.example"}
    act(org, instance_id, "informal_resolution", "cpa.iro", informal("unresolved"))
    clock.move_to(london(2026, 12, 31, 10, 0))
    org.sweep()
    act(org, instance_id, "confirm_formal_date", "cpa.iro", FORMAL_DATE)
    act(org, instance_id, "start_stage1", "cpa.iro", STAGE_START)
    # Kim has no account, so her line manager is unknown: Stage 1 goes to the only Practice Manager of her agency.
    assert ready(org, instance_id)["complete_stage1"]["assigned_to"] == "sw.pm"
    notice = history(org, instance_id, "notification_sent", "start_stage1")[0]["data"]
    # Kim's line manager is not known to the system, so "her manager" is whoever her side's next task went to.
    assert sorted(notice["sent_to"]) == ["iro.coordinator", "sw.pm"] and notice["no_one_holds"] == []
    assert (instance_id, "complete_stage1") in inbox(org, "sw.pm")
    fallback = [h for h in history(org, instance_id, "task_assigned") if h["element_id"] == "complete_stage1"][0]
    assert fallback["data"]["chain_ran_out"] and "Practice Manager in " + SWT in fallback["data"]["how"]


def test_sign_off_accepts_only_issues_resolution_concluded(org):
    instance_id = start_formal(org)
    run_stage(org, instance_id, 1, "resolved")
    body = act(org, instance_id, "sign_off", "cpa.iro", {"sign_off_outcome": "done"}, expect=400)
    assert body["fields"] == {"sign_off_outcome": "Choose one of: issues_resolution_concluded"}
