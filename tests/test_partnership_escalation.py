"""The Safeguarding Children Partnership escalation (seed 001) walked end to end through the JSON API.

Both agencies act at every stage: every role is held by a different person, with real line managers, in two
agencies (Northfield Academy raises, Children's Social Care is the other agency), so the tests prove that each
side's chain is climbed person by person, that each person finds their own task in their own inbox, and that
each notification the seed describes reaches the person it names.
"""
from __future__ import annotations

import pytest

from conftest import london, make_chain, make_user

PROTOCOL = "partnership_escalation"
SCHOOL, CSC = "Northfield Academy", "Children's Social Care"
START = {
    "case_reference": "CASE-42",
    "raising_agency": SCHOOL,
    "other_agency": CSC,
    "other_professional": "jo.reed",
    "disagreement": "Referral closed with no further action.",
    "desired_outcome": "A child and family assessment.",
}
# Each side's management chain, bottom up: (username, roles). Stage 3 is held at two management levels.
RAISING = [("sam.patel", ["Professional"]), ("mia.lm", ["Line Manager"]), ("sue.senior", ["Senior Manager"]),
           ("hal.head", ["Senior Manager"]), ("dan.director", ["Director / Chief Executive"])]
OTHER = [("jo.reed", ["Professional"]), ("max.lm", ["Line Manager"]), ("ann.senior", ["Senior Manager"]),
         ("ken.head", ["Senior Manager"]), ("cara.director", ["Director / Chief Executive"])]
STRATEGIC_LEAD = "strategic.lead"
# Who holds each rung: stage (and management level) -> (raising side, other side)
RUNGS = {1: ("sam.patel", "jo.reed"), 2: ("mia.lm", "max.lm"), 3: ("sue.senior", "ann.senior"),
         3.2: ("hal.head", "ken.head"), 4: ("dan.director", "cara.director")}


@pytest.fixture
def people(app):
    make_chain(SCHOOL, RAISING)
    make_chain(CSC, OTHER)
    make_user(STRATEGIC_LEAD, roles=["Partnership Business Office"], email="strategic.lead@example.org")


# -- helpers ---------------------------------------------------------------------------------------

def raising(outcome: str, **extra) -> dict:
    data = {"date_held": "2026-12-01", "discussion_method": "telephone", "participants": "Both parties",
            "outcome": outcome, "action_plan": "Joint visit by Friday; review in 5 working days."}
    if outcome != "resolved":
        data["evidence_explored"] = "Two calls and a meeting held; positions unchanged."
    return {**data, **extra}


record = raising  # the raising side's discussion form, under the name other test modules import


def other(outcome: str, **extra) -> dict:
    data = {"counterpart_position": "The threshold for assessment is not met.", "counterpart_outcome": outcome}
    if outcome == "resolved":
        data["counterpart_plan"] = "Joint visit by Friday; review in 5 working days."
    else:
        data["counterpart_evidence"] = "Case discussed twice with the school; new information reviewed."
    return {**data, **extra}


def start(api, **changes) -> int:
    return api.as_user("sam.patel").start(PROTOCOL, {**START, **changes})["id"]


def ready(api, instance_id: int) -> dict[str, dict]:
    tasks = api.instance(instance_id)["ready_tasks"]
    by_name = {t["name"]: t for t in tasks}
    assert len(by_name) == len(tasks)
    return by_name


def inbox(api, username: str, instance_id: int) -> list[str]:
    """The element ids of this instance's tasks in the person's own inbox (My tasks)."""
    return sorted(t["name"] for t in api.as_user(username).request("GET", "/api/tasks?view=mine")
                  if t["instance_id"] == instance_id)


def complete(api, task: dict, data: dict, expect: int = 200) -> dict:
    """Complete a task as the person it is assigned to."""
    assert task["assigned_to"], task
    return api.as_user(task["assigned_to"]).complete(task["id"], data, expect=expect)


def notices(api, instance_id: int, element_id: str | None = None) -> list[list[str]]:
    """``sent_to`` of each notification (of one diagram element), in order."""
    return [sorted(h["data"]["sent_to"]) for h in api.instance(instance_id)["history"]
            if h["kind"] == "notification_sent" and (element_id is None or h["element_id"] == element_id)]


def expect_both_sides(api, instance_id: int, stage: int, rung) -> tuple[dict, dict]:
    """Both sides' tasks of a stage are ready, each assigned to that rung's person and in their own inbox."""
    tasks = ready(api, instance_id)
    mine, theirs = tasks[f"stage{stage}_discussion"], tasks[f"stage{stage}_acknowledge"]
    raising_person, other_person = RUNGS[rung]
    assert (mine["party"], mine["agency"], mine["assigned_to"]) == ("raising", SCHOOL, raising_person)
    assert (theirs["party"], theirs["agency"], theirs["assigned_to"]) == ("counterpart", CSC, other_person)
    assert inbox(api, raising_person, instance_id) == [f"stage{stage}_discussion"]
    assert inbox(api, other_person, instance_id) == [f"stage{stage}_acknowledge"]
    return mine, theirs


def refer_up(api, instance_id: int, stage: int, rung, by: str = "raising") -> None:
    """Both sides act at ``stage``; ``by`` records 'unresolved' with evidence, the other side 'resolved'."""
    mine, theirs = expect_both_sides(api, instance_id, stage, rung)
    complete(api, mine, raising("unresolved" if by == "raising" else "resolved"))
    complete(api, theirs, other("unresolved" if by == "counterpart" else "resolved"))


def escalate_to(api, instance_id: int, stage: int) -> None:
    """Refer stages 1..stage-1 up, alternating the side that refers; beyond Stage 3, Stage 3 is held at both
    management levels of the chains (senior manager, then head of service) before the Directors."""
    for number in range(1, min(stage, 5)):
        if number == 3:
            mine, theirs = expect_both_sides(api, instance_id, 3, 3)
            complete(api, mine, raising("refer_higher"))
            complete(api, theirs, other("resolved"))
            refer_up(api, instance_id, 3, 3.2, by="counterpart")
        else:
            refer_up(api, instance_id, number, number, by="raising" if number % 2 else "counterpart")


def assignments(api, instance_id: int, party: str) -> list[str]:
    return [h["data"]["assigned_to"] for h in api.instance(instance_id)["history"]
            if h["kind"] == "task_assigned" and h["party"] == party]


# -- the protocol and its start form ---------------------------------------------------------------

def test_protocol_is_listed(api):
    protocols = api.request("GET", "/api/protocols")
    assert {"key": PROTOCOL, "name": "Safeguarding Children Partnership escalation", "version": 1} in protocols


def test_start_form_names_both_parties(api, people):
    from workflow_app.services.deployments import bundle_for, latest_deployment
    fields = {f.name: f for f in bundle_for(latest_deployment(PROTOCOL)).start_form.fields}
    assert fields["raising_agency"].party_field == ("agency", "raising")
    assert fields["other_agency"].party_field == ("agency", "counterpart")
    assert fields["other_professional"].party_field == ("person", "counterpart")
    assert fields["other_professional"].choices_from == "people" and not fields["other_professional"].required
    assert fields["other_contact_name"].party_field == ("contact_name", "counterpart")
    assert fields["other_contact_email"].party_field == ("contact_email", "counterpart")
    assert "raising_professional" not in fields  # the raising professional is whoever signs in and raises it


def test_a_disagreement_inside_one_agency_is_refused(api, people):
    body = api.as_user("sam.patel").start(PROTOCOL, {**START, "other_agency": SCHOOL}, expect=400)
    assert "between agencies of the Safeguarding Children Partnership" in body["fields"]["other_agency"]
    assert api.request("GET", "/api/instances") == []


def test_the_other_professional_must_work_for_the_other_agency(api, people):
    body = api.as_user("sam.patel").start(PROTOCOL, {**START, "other_professional": "mia.lm"}, expect=400)
    assert body["fields"]["other_professional"] == f"Mia Lm works for {SCHOOL}, not {CSC}"


def test_start_form_is_validated(api, people):
    body = api.start(PROTOCOL, {"case_reference": "  "}, expect=400)
    assert body["fields"]["case_reference"] == "This field is required"
    assert body["fields"]["disagreement"] == "This field is required"
    assert api.request("GET", "/api/instances") == []
    api.start("no_such_protocol", START, expect=404)
    api.request("POST", "/api/instances", 400, json={"data": START})
    api.request("POST", "/api/instances", 400, data="not json", content_type="application/json")


# -- Stage 1 and "Plan agreed by both sides?" -------------------------------------------------------

def test_both_professionals_act_and_only_both_resolved_is_a_resolution(api, people):
    instance_id = start(api)
    # "This must occur immediately": both professionals are told at once.
    assert notices(api, instance_id, "notify_stage1") == [["jo.reed", "sam.patel"]]
    mine, theirs = expect_both_sides(api, instance_id, 1, 1)
    assert mine["due_at"] == theirs["due_at"] == "2026-12-03T09:00:00+00:00"  # Tuesday 09:00 + 2 working days
    # Neither professional can act for the other side.
    api.as_user("sam.patel").complete(theirs["id"], other("resolved"), expect=403)
    api.as_user("jo.reed").complete(mine["id"], raising("resolved"), expect=403)
    # One side saying "resolved" is not a mutually agreed plan: the stage waits for the other side.
    complete(api, mine, raising("resolved"))
    assert api.instance(instance_id)["status"] == "running"
    assert list(ready(api, instance_id)) == ["stage1_acknowledge"]
    result = complete(api, theirs, other("resolved"))
    assert result["status"] == "resolved" and result["end_reason"] == "Disagreement resolved"
    completed = [(h["task"], h["party"], h["actor"]) for h in result["history"] if h["kind"] == "task_completed"]
    assert completed == [
        (mine["title"], "raising", "sam.patel"),
        (theirs["title"], "counterpart", "jo.reed"),
    ]


@pytest.mark.parametrize("who_refers", ["raising", "counterpart"])
def test_either_side_may_refer_up_with_evidence(api, people, who_refers):
    instance_id = start(api)
    refer_up(api, instance_id, 1, 1, by=who_refers)
    expect_both_sides(api, instance_id, 2, 2)
    escalated = [h["data"] for h in api.instance(instance_id)["history"] if h["kind"] == "escalated"]
    assert escalated == [{"stage": 2, "management_level": 1}]


def test_evidence_is_required_before_either_side_refers_up(api, people):
    instance_id = start(api)
    mine, theirs = expect_both_sides(api, instance_id, 1, 1)
    no_evidence = raising("unresolved")
    del no_evidence["evidence_explored"]
    body = complete(api, mine, no_evidence, expect=400)
    assert body["fields"] == {
        "evidence_explored": "Required when Outcome is 'Unresolved – refer to both line managers (Stage 2)'"}
    no_evidence = other("unresolved")
    del no_evidence["counterpart_evidence"]
    body = complete(api, theirs, no_evidence, expect=400)
    assert body["fields"] == {
        "counterpart_evidence": "Required when Outcome is 'Unresolved – refer to both line managers (Stage 2)'"}
    no_plan = other("resolved")
    del no_plan["counterpart_plan"]
    body = complete(api, theirs, no_plan, expect=400)
    assert body["fields"] == {"counterpart_plan": "Required when Outcome is "
                                                  "'Resolved – I confirm the plan of action agreed with the raising agency'"}
    assert set(ready(api, instance_id)) == {"stage1_discussion", "stage1_acknowledge"}


def test_task_forms_are_described_by_the_api(api, people):
    tasks = ready(api, start(api))
    detail = api.as_user("sam.patel").request("GET", f"/api/tasks/{tasks['stage1_discussion']['id']}")
    fields = {f["name"]: f for f in detail["form"]["fields"]}
    assert [c["value"] for c in fields["outcome"]["choices"]] == ["resolved", "unresolved"]
    assert [c["value"] for c in fields["discussion_method"]["choices"]] == ["face_to_face", "telephone", "online_meeting"]
    assert fields["date_held"]["type"] == "date"
    assert fields["evidence_explored"]["required_when"] == {"field": "outcome", "values": ["unresolved", "refer_higher"]}
    assert detail["due_at"] == "2026-12-03T09:00:00+00:00"
    detail = api.as_user("jo.reed").request("GET", f"/api/tasks/{tasks['stage1_acknowledge']['id']}")
    fields = {f["name"]: f for f in detail["form"]["fields"]}
    assert [c["value"] for c in fields["counterpart_outcome"]["choices"]] == ["resolved", "unresolved"]
    assert fields["counterpart_evidence"]["required_when"] == {"field": "counterpart_outcome",
                                                               "values": ["unresolved", "refer_higher"]}


def test_support_for_the_raising_professional_goes_to_their_line_manager(api, people):
    without = start(api)
    assert notices(api, without, "notify_support") == []
    with_support = start(api, support_needed=True, case_reference="CASE-43")
    assert notices(api, with_support, "notify_support") == [["mia.lm"]]
    assert inbox(api, "mia.lm", with_support) == []  # told, not given a task: Stage 1 stays with the professionals


# -- the whole ladder -------------------------------------------------------------------------------

def test_the_ladder_climbs_both_chains_person_by_person_to_mediation(api, people):
    instance_id = start(api)
    refer_up(api, instance_id, 1, 1, by="raising")
    # "referred to each professionals' own line manager": the line managers are told, with the evidence.
    told = [h for h in api.instance(instance_id)["history"] if h["element_id"] == "notify_stage2"]
    assert sorted(told[0]["data"]["sent_to"]) == ["max.lm", "mia.lm"]
    assert told[0]["data"]["evidence_explored"] == "Two calls and a meeting held; positions unchanged."
    refer_up(api, instance_id, 2, 2, by="counterpart")
    assert notices(api, instance_id, "notify_stage3") == [["ann.senior", "sue.senior"]]
    # Stage 3, first management level: the other side asks for the next level; both climb one rung.
    mine, theirs = expect_both_sides(api, instance_id, 3, 3)
    complete(api, mine, raising("unresolved"))
    complete(api, theirs, other("refer_higher"))
    assert notices(api, instance_id, "notify_next_level") == [["hal.head", "ken.head"]]
    mine, theirs = expect_both_sides(api, instance_id, 3, 3.2)
    complete(api, mine, raising("unresolved"))
    complete(api, theirs, other("unresolved"))
    assert notices(api, instance_id, "notify_stage4") == [["cara.director", "dan.director"]]
    refer_up(api, instance_id, 4, 4, by="raising")
    # Stage 5: the Business Office (a Strategic Lead) and both Directors are told.
    assert notices(api, instance_id, "notify_stage5") == [["cara.director", "dan.director", "strategic.lead", "tester"]]
    offer = ready(api, instance_id)["stage5_offer_mediation"]
    assert offer["party"] is None and offer["role"] == "Partnership Business Office"
    assert offer["due_at"] == "2026-12-08T09:00:00+00:00"
    assert inbox(api, STRATEGIC_LEAD, instance_id) == [] and offer["assigned_to"] is None
    assert "stage5_offer_mediation" in [t["name"] for t in api.as_user(STRATEGIC_LEAD).request(
        "GET", "/api/tasks?view=available") if t["instance_id"] == instance_id]
    api.request("POST", f"/api/tasks/{offer['id']}/claim", user=STRATEGIC_LEAD)
    api.as_user(STRATEGIC_LEAD).complete(offer["id"], {"mediation_offered_on": "2026-12-02",
                                                        "strategic_lead": "Pat Lee", "mediation_date": "2026-12-04"})
    assert notices(api, instance_id, "notify_mediation_offered") == [["cara.director", "dan.director"]]
    mediation = ready(api, instance_id)["stage5_mediation"]
    assert mediation["assigned_to"] == STRATEGIC_LEAD
    api.as_user(STRATEGIC_LEAD).complete(mediation["id"], {
        "date_held": "2026-12-04", "participants": "Both Directors, Pat Lee", "outcome": "resolved",
        "action_plan": "Assessment starts Monday.", "learning_points": "Share thresholds."})
    tasks = ready(api, instance_id)
    confirm_mine, confirm_theirs = tasks["stage5_confirm_raising"], tasks["stage5_confirm_counterpart"]
    # The Directors who held Stage 4 confirm the mediated plan (their own rung: nobody above them is asked).
    assert (confirm_mine["assigned_to"], confirm_theirs["assigned_to"]) == ("dan.director", "cara.director")
    assert inbox(api, "dan.director", instance_id) == ["stage5_confirm_raising"]
    assert inbox(api, "cara.director", instance_id) == ["stage5_confirm_counterpart"]
    complete(api, confirm_mine, {"raising_confirmation": "resolved"})
    assert api.instance(instance_id)["status"] == "running"
    result = complete(api, confirm_theirs, {"counterpart_confirmation": "resolved"})
    assert result["status"] == "resolved" and result["end_reason"] == "Disagreement resolved"
    # Each chain climbed person by person and nobody held two rungs on one side.
    raising_people = assignments(api, instance_id, "raising")
    other_people = assignments(api, instance_id, "counterpart")
    assert raising_people == ["sam.patel", "mia.lm", "sue.senior", "hal.head", "dan.director", "dan.director"]
    assert other_people == ["jo.reed", "max.lm", "ann.senior", "ken.head", "cara.director", "cara.director"]
    escalated = [(h["element_id"], h["data"]["stage"], h["data"]["management_level"])
                 for h in result["history"] if h["kind"] == "escalated"]
    assert escalated == [("escalate_to_stage2", 2, 1), ("escalate_to_stage3", 3, 1), ("refer_next_level", 3, 2),
                         ("escalate_to_stage4", 4, 1), ("escalate_to_stage5", 5, 1)]


@pytest.mark.parametrize("stage", [2, 3, 4])
def test_plan_agreed_by_both_sides_resolves_at_each_stage(api, people, stage):
    instance_id = start(api)
    escalate_to(api, instance_id, stage)
    mine, theirs = expect_both_sides(api, instance_id, stage, stage)
    complete(api, theirs, other("resolved"))
    result = complete(api, mine, raising("resolved"))
    assert result["status"] == "resolved" and result["end_reason"] == "Disagreement resolved"
    assert result["ready_tasks"] == []
    reached = [h for h in result["history"] if h["kind"] == "ended"]
    assert reached[0]["data"] == {"status": "resolved", "reason": "Disagreement resolved"}


def test_answers_of_an_earlier_stage_never_decide_a_later_one(api, people):
    """Stage 1: the raising side resolved, the other side referred up. At Stage 2 the raising side refers up and
    the other side resolves, and the other side answers last: the Stage 1 answers it carried must not win."""
    instance_id = start(api)
    refer_up(api, instance_id, 1, 1, by="counterpart")
    mine, theirs = expect_both_sides(api, instance_id, 2, 2)
    complete(api, mine, raising("unresolved"))
    complete(api, theirs, other("resolved"))
    assert set(ready(api, instance_id)) == {"stage3_discussion", "stage3_acknowledge"}
    told = next(h for h in api.instance(instance_id)["history"] if h["element_id"] == "notify_stage3")
    assert (told["data"]["outcome"], told["data"]["counterpart_outcome"]) == ("unresolved", "resolved")


def test_unresolved_mediation_closes_the_escalation(api, people):
    instance_id = start(api)
    escalate_to(api, instance_id, 5)
    offer = ready(api, instance_id)["stage5_offer_mediation"]
    api.as_user(STRATEGIC_LEAD).request("POST", f"/api/tasks/{offer['id']}/claim")
    api.as_user(STRATEGIC_LEAD).complete(offer["id"], {"mediation_offered_on": "2026-12-02",
                                                        "strategic_lead": "Pat Lee", "mediation_date": "2026-12-04"})
    mediation = ready(api, instance_id)["stage5_mediation"]
    body = api.as_user(STRATEGIC_LEAD).complete(mediation["id"], {
        "date_held": "2026-12-04", "participants": "Both Directors", "outcome": "unresolved",
        "action_plan": "None agreed."}, expect=400)
    assert body["fields"] == {"evidence_explored": "Required when Outcome is "
                                                   "'Unresolved after mediation – close the escalation'"}
    result = api.as_user(STRATEGIC_LEAD).complete(mediation["id"], {
        "date_held": "2026-12-04", "participants": "Both Directors", "outcome": "unresolved",
        "action_plan": "None agreed.", "evidence_explored": "Two mediation sessions."})
    assert result["status"] == "closed"
    assert result["end_reason"] == "Closed – unresolved after Partnership mediation"


@pytest.mark.parametrize("answers,status", [
    (("resolved", "unresolved"), "closed"),
    (("unresolved", "resolved"), "closed"),
    (("resolved", "resolved"), "resolved"),
])
def test_a_mediated_plan_needs_both_directors(api, people, answers, status):
    instance_id = start(api)
    tasks = mediated(api, instance_id)
    complete(api, tasks["stage5_confirm_raising"], confirmation("raising", answers[0]))
    result = complete(api, tasks["stage5_confirm_counterpart"], confirmation("counterpart", answers[1]))
    assert result["status"] == status


def mediated(api, instance_id: int) -> dict[str, dict]:
    escalate_to(api, instance_id, 5)
    offer = ready(api, instance_id)["stage5_offer_mediation"]
    api.as_user(STRATEGIC_LEAD).request("POST", f"/api/tasks/{offer['id']}/claim")
    api.as_user(STRATEGIC_LEAD).complete(offer["id"], {"mediation_offered_on": "2026-12-02",
                                                        "strategic_lead": "Pat Lee", "mediation_date": "2026-12-04"})
    mediation = ready(api, instance_id)["stage5_mediation"]
    api.as_user(STRATEGIC_LEAD).complete(mediation["id"], {
        "date_held": "2026-12-04", "participants": "Both Directors", "outcome": "resolved",
        "action_plan": "Assessment starts Monday."})
    return ready(api, instance_id)


def confirmation(side: str, answer: str) -> dict:
    data = {f"{side}_confirmation": answer}
    if answer == "unresolved":
        data[f"{side}_confirmation_comments"] = "The plan leaves the school without support."
    return data


# -- deadlines --------------------------------------------------------------------------------------

def test_stage1_deadlines_record_breaches_and_nothing_escalates_without_evidence(api, people, clock):
    instance_id = start(api)
    mine, theirs = expect_both_sides(api, instance_id, 1, 1)
    clock.move_to(london(2026, 12, 3, 8, 59))
    api.sweep()
    assert set(ready(api, instance_id)) == {"stage1_discussion", "stage1_acknowledge"}
    clock.move_to(london(2026, 12, 3, 9, 1))
    api.sweep()
    history = api.instance(instance_id)["history"]
    breaches = {h["element_id"]: h for h in history if h["kind"] == "deadline_breached"}
    assert set(breaches) == {"stage1_discussion", "stage1_acknowledge"}
    assert all(b["data"]["due_at"] == "2026-12-03T09:00:00+00:00" for b in breaches.values())
    assert breaches["stage1_discussion"]["data"]["closes_task"] is False
    assert breaches["stage1_acknowledge"]["at"] == "2026-12-03T09:01:00+00:00"
    # The silent side's acknowledgement closes; both sides (and the other professional's line manager) are told.
    assert notices(api, instance_id, "stage1_no_response") == [["jo.reed", "max.lm", "sam.patel"]]
    assert notices(api, instance_id, "stage1_breach_notified") == [["jo.reed", "sam.patel"]]
    api.as_user("jo.reed").complete(theirs["id"], other("resolved"), expect=409)
    # The deadline escalated nothing: the raising professional's task stays open, overdue.
    tasks = ready(api, instance_id)
    assert list(tasks) == ["stage1_discussion"]
    assert tasks["stage1_discussion"]["overdue"] is True
    assert "escalated" not in api.kinds(instance_id)
    # Recording "resolved" alone is not a mutual plan; the raising side records the evidence before referring up.
    complete(api, tasks["stage1_discussion"], raising("resolved"))
    evidence = ready(api, instance_id)["stage1_referral_evidence"]
    assert evidence["assigned_to"] == "sam.patel" and evidence["party"] == "raising"
    assert inbox(api, "sam.patel", instance_id) == ["stage1_referral_evidence"]
    body = complete(api, evidence, {"outcome": "unresolved"}, expect=400)
    assert body["fields"] == {"evidence_explored": "This field is required"}
    assert "escalated" not in api.kinds(instance_id)
    complete(api, evidence, {"outcome": "unresolved", "evidence_explored": "Three calls to Jo; no reply."})
    # Stage 2: the other side's line manager, although Jo never acted, is Jo's own line manager.
    expect_both_sides(api, instance_id, 2, 2)
    assert notices(api, instance_id, "notify_stage2") == [["max.lm", "mia.lm"]]


def test_a_silent_other_side_after_an_unresolved_record_refers_up_at_once(api, people, clock):
    instance_id = start(api)
    mine, _ = expect_both_sides(api, instance_id, 1, 1)
    complete(api, mine, raising("unresolved"))  # with evidence
    clock.move_to(london(2026, 12, 3, 9, 1))
    api.sweep()
    expect_both_sides(api, instance_id, 2, 2)
    # Stage 2 is due 5 working days after it opened (when Stage 1's acknowledgement deadline passed).
    assert ready(api, instance_id)["stage2_discussion"]["due_at"] == "2026-12-10T09:01:00+00:00"


@pytest.mark.parametrize("stage,due", [(2, "2026-12-08T09:00:00+00:00"), (3, "2026-12-08T09:00:00+00:00"),
                                       (4, "2026-12-03T09:00:00+00:00")])
def test_later_stage_deadlines_fire_on_the_right_working_day(api, people, clock, stage, due):
    instance_id = start(api)
    escalate_to(api, instance_id, stage)  # all at 09:00 on Tuesday 1 December
    mine, theirs = expect_both_sides(api, instance_id, stage, stage)
    assert mine["due_at"] == theirs["due_at"] == due
    clock.move_to(london(2026, 12, 10, 12, 0))
    api.sweep()
    breaches = [h for h in api.instance(instance_id)["history"] if h["kind"] == "deadline_breached"]
    assert {b["element_id"] for b in breaches} == {f"stage{stage}_discussion", f"stage{stage}_acknowledge"}
    raising_person, other_person = RUNGS[stage]
    assert notices(api, instance_id, f"stage{stage}_breach_notified") == [sorted([raising_person, other_person])]
    silent = notices(api, instance_id, f"stage{stage}_no_response")
    manager = {2: ["ann.senior"], 3: ["ken.head"], 4: []}[stage]
    assert silent == [sorted([raising_person, other_person, *manager])]
    after = ready(api, instance_id)[f"stage{stage}_discussion"]
    assert after["id"] == mine["id"] and after["overdue"] is True
    api.sweep()  # the same deadline is not recorded twice
    assert api.kinds(instance_id).count("deadline_breached") == 2
    # Referring up still needs the evidence.
    complete(api, after, raising("resolved"))
    assert list(ready(api, instance_id)) == [f"stage{stage}_referral_evidence"]


@pytest.mark.parametrize("first", ["raising", "counterpart"])
def test_each_management_level_waits_for_both_sides_whoever_answers_first(api, people, first):
    """Stage 3 repeats: at every level the plan is decided only when both sides have answered, in either order."""
    instance_id = start(api)
    escalate_to(api, instance_id, 3)
    mine, theirs = expect_both_sides(api, instance_id, 3, 3)
    complete(api, mine, raising("refer_higher"))  # level 1: the raising side answers first
    complete(api, theirs, other("refer_higher"))
    mine, theirs = expect_both_sides(api, instance_id, 3, 3.2)
    if first == "raising":
        complete(api, mine, raising("resolved"))
        assert list(ready(api, instance_id)) == ["stage3_acknowledge"]
        result = complete(api, theirs, other("resolved"))
    else:
        complete(api, theirs, other("resolved"))
        assert list(ready(api, instance_id)) == ["stage3_discussion"]
        result = complete(api, mine, raising("resolved"))
    assert result["status"] == "resolved"
    assert [h["element_id"] for h in result["history"] if h["kind"] == "escalated"] == [
        "escalate_to_stage2", "escalate_to_stage3", "refer_next_level"]


@pytest.mark.parametrize("firsts", [("raising", "counterpart", "counterpart"), ("counterpart", "raising", "raising")])
def test_management_levels_in_every_order_never_decide_on_one_side_alone(api, people, firsts):
    """Three levels of Stage 3 with the side answering first changing or not from level to level (between them the
    two cases give all four orders of consecutive levels): no level moves on before both sides have answered."""
    chain = [("sue.senior", "ann.senior"), ("hal.head", "ken.head"), ("dan.director", "cara.director")]
    instance_id = start(api)
    escalate_to(api, instance_id, 3)
    for level, first in enumerate(firsts, start=1):
        tasks = ready(api, instance_id)
        mine, theirs = tasks["stage3_discussion"], tasks["stage3_acknowledge"]
        assert (mine["assigned_to"], theirs["assigned_to"]) == chain[level - 1]
        order = [(mine, raising("refer_higher")), (theirs, other("refer_higher"))]
        if first == "counterpart":
            order.reverse()
        complete(api, *order[0])
        assert list(ready(api, instance_id)) == [order[1][0]["name"]], level
        complete(api, *order[1])
    levels = [h["data"]["management_level"] for h in api.instance(instance_id)["history"]
              if h["element_id"] == "refer_next_level"]
    assert levels == [2, 3, 4]


def test_stage3_repeats_with_a_fresh_deadline_per_management_level(api, people, clock):
    instance_id = start(api)
    escalate_to(api, instance_id, 3)
    mine, theirs = expect_both_sides(api, instance_id, 3, 3)
    clock.move_to(london(2026, 12, 2, 11, 0))
    complete(api, mine, raising("refer_higher"))
    complete(api, theirs, other("resolved"))
    mine, theirs = expect_both_sides(api, instance_id, 3, 3.2)
    assert mine["due_at"] == theirs["due_at"] == "2026-12-09T11:00:00+00:00"  # 5 working days from Wednesday 11:00
    assert mine["title"] == "Stage 3 – Senior manager to senior manager discussion: record the discussion and plan"


def test_stage3_no_response_evidence_chooses_the_next_level_or_directors(api, people, clock):
    instance_id = start(api)
    escalate_to(api, instance_id, 3)
    mine, _ = expect_both_sides(api, instance_id, 3, 3)
    complete(api, mine, raising("resolved"))
    clock.move_to(london(2026, 12, 8, 9, 1))
    api.sweep()
    evidence = ready(api, instance_id)["stage3_referral_evidence"]
    assert evidence["assigned_to"] == "sue.senior"
    complete(api, evidence, {"outcome": "refer_higher", "evidence_explored": "Ann did not reply to three calls."})
    expect_both_sides(api, instance_id, 3, 3.2)


def test_stage5_offer_deadline_and_unconfirmed_plan(api, people, clock):
    instance_id = start(api)
    escalate_to(api, instance_id, 5)
    offer = ready(api, instance_id)["stage5_offer_mediation"]
    clock.move_to(london(2026, 12, 8, 9, 1))
    api.sweep()
    assert notices(api, instance_id, "stage5_breach_notified") == [
        ["cara.director", "dan.director", "strategic.lead", "tester"]]
    assert ready(api, instance_id)["stage5_offer_mediation"]["overdue"] is True
    api.as_user(STRATEGIC_LEAD).request("POST", f"/api/tasks/{offer['id']}/claim")
    api.as_user(STRATEGIC_LEAD).complete(offer["id"], {"mediation_offered_on": "2026-12-08",
                                                        "strategic_lead": "Pat Lee", "mediation_date": "2026-12-09"})
    mediation = ready(api, instance_id)["stage5_mediation"]
    api.as_user(STRATEGIC_LEAD).complete(mediation["id"], {
        "date_held": "2026-12-09", "participants": "Both Directors", "outcome": "resolved",
        "action_plan": "Assessment starts Monday."})
    tasks = ready(api, instance_id)
    assert tasks["stage5_confirm_raising"]["due_at"] == "2026-12-10T09:01:00+00:00"
    complete(api, tasks["stage5_confirm_raising"], confirmation("raising", "resolved"))
    clock.move_to(london(2026, 12, 10, 9, 2))
    api.sweep()
    result = api.instance(instance_id)
    assert notices(api, instance_id, "stage5_no_confirmation_counterpart") == [["cara.director", "strategic.lead",
                                                                                "tester"]]
    assert result["status"] == "closed"
    assert result["end_reason"] == "Closed – unresolved after Partnership mediation"
    breaches = [h["element_id"] for h in result["history"] if h["kind"] == "deadline_breached"]
    assert breaches == ["stage5_offer_mediation", "stage5_confirm_counterpart"]


def test_deadline_skips_weekend_and_christmas_bank_holidays(api, people, clock):
    clock.move_to(london(2026, 12, 24, 10, 0))  # Thursday; Fri 25 and Mon 28 December are bank holidays
    instance_id = start(api)
    mine, theirs = expect_both_sides(api, instance_id, 1, 1)
    assert mine["due_at"] == theirs["due_at"] == "2026-12-30T10:00:00+00:00"
    clock.move_to(london(2026, 12, 29, 23, 0))
    api.sweep()
    assert set(ready(api, instance_id)) == {"stage1_discussion", "stage1_acknowledge"}
    clock.move_to(london(2026, 12, 30, 10, 0, 1))
    api.sweep()
    assert list(ready(api, instance_id)) == ["stage1_discussion"]


def test_deadline_from_a_friday_lands_after_the_weekend(api, people, clock):
    clock.move_to(london(2026, 12, 18, 15, 30))
    task = ready(api, start(api))["stage1_acknowledge"]
    assert task["due_at"] == "2026-12-22T15:30:00+00:00"
    assert task["working_days_left"] == 2


def test_breach_found_at_completion_is_recorded_before_the_completion(api, people, clock):
    instance_id = start(api)
    escalate_to(api, instance_id, 2)  # due Tuesday 8 December 09:00; no sweep runs
    mine, theirs = expect_both_sides(api, instance_id, 2, 2)
    complete(api, theirs, other("resolved"))
    clock.move_to(london(2026, 12, 9, 12, 0))
    complete(api, mine, raising("resolved"))
    history = api.instance(instance_id)["history"]
    assert [(h["kind"], h["element_id"]) for h in history][-5:] == [
        ("timer_fired", "stage2_deadline"), ("deadline_breached", "stage2_discussion"),
        ("notification_sent", "stage2_breach_notified"), ("task_completed", "stage2_discussion"), ("ended", None)]


def test_an_overdue_acknowledgement_is_refused_with_a_clear_message(api, people, clock):
    instance_id = start(api)
    theirs = ready(api, instance_id)["stage1_acknowledge"]
    clock.move_to(london(2026, 12, 4, 9, 0))
    body = api.as_user("jo.reed").complete(theirs["id"], other("resolved"), expect=409)
    assert "deadline passed" in body["error"]
    assert list(ready(api, instance_id)) == ["stage1_discussion"]


# -- someone without an account --------------------------------------------------------------------

def test_the_other_professional_without_an_account_responds_through_the_e_mailed_link(api, people):
    from workflow_app.extensions import db
    from workflow_app.persistence.models import ExternalLink
    from workflow_app.services import external_links

    instance_id = start(api, other_professional="", other_contact_name="Lee Moss",
                        other_contact_email="lee.moss@example.org")
    theirs = ready(api, instance_id)["stage1_acknowledge"]
    assert theirs["assigned_to"] is None
    assert theirs["external_contact"] == {"name": "Lee Moss", "email": "lee.moss@example.org"}
    told = next(h for h in api.instance(instance_id)["history"] if h["element_id"] == "notify_stage1")
    assert told["data"]["sent_to"] == ["sam.patel"]
    assert sorted(told["data"]["emailed"]) == ["lee.moss@example.org", "sam.patel"]
    link = db.session.query(ExternalLink).filter_by(task_id=theirs["id"]).one()
    url = f"/respond/{external_links.token_for(link)}"
    page = api.client.get(url)
    assert page.status_code == 200 and b"acknowledge, record your position" in page.data
    answer = {"counterpart_position": "We will assess.", "counterpart_outcome": "unresolved"}
    assert api.client.post(url, data=answer).status_code == 400  # evidence is required to refer up, here too
    answer["counterpart_evidence"] = "Spoke to the school twice."
    assert api.client.post(url, data=answer).status_code == 200
    assert api.client.post(url, data=answer).status_code == 410  # single use
    completed = [h for h in api.instance(instance_id)["history"] if h["kind"] == "task_completed"]
    assert [(h["party"], h["data"]["counterpart_outcome"]) for h in completed] == [("counterpart", "unresolved")]
    # Stage 2: Lee's line manager is not known, so the other side's task goes to the holders of Line Manager in
    # the other agency (history says so); the raising side still climbs to Sam's own line manager.
    complete(api, ready(api, instance_id)["stage1_discussion"], raising("resolved"))
    tasks = ready(api, instance_id)
    assert tasks["stage2_discussion"]["assigned_to"] == "mia.lm"
    assert tasks["stage2_acknowledge"]["assigned_to"] is None
    fallback = [h["data"] for h in api.instance(instance_id)["history"]
                if h["kind"] == "task_assigned" and h["element_id"] == "stage2_acknowledge"]
    assert fallback[0]["chain_ran_out"] is True and "Max Lm" in fallback[0]["how"]
    assert "stage2_acknowledge" in [t["name"] for t in api.as_user("max.lm").request("GET", "/api/tasks?view=available")]


# -- bad input, concurrency, cancelling --------------------------------------------------------------

def test_missing_and_invalid_fields_are_reported_and_nothing_changes(api, people):
    instance_id = start(api)
    task = ready(api, instance_id)["stage1_discussion"]
    before = api.instance(instance_id)
    body = complete(api, task, {"outcome": "maybe", "date_held": "yesterday", "stage": 5}, expect=400)
    assert body["fields"] == {
        "outcome": "Choose one of: resolved, unresolved",
        "date_held": "Enter a date as YYYY-MM-DD",
        "stage": "This form has no such field",
        "discussion_method": "This field is required",
        "participants": "This field is required",
        "action_plan": "This field is required",
    }
    assert api.instance(instance_id) == before


def test_completing_a_task_twice_is_a_conflict_and_changes_nothing(api, people):
    instance_id = start(api)
    task = ready(api, instance_id)["stage1_discussion"]
    complete(api, task, raising("unresolved"))
    after_first = api.instance(instance_id)
    body = complete(api, task, raising("resolved"), expect=409)
    assert "already completed by sam.patel" in body["error"]
    assert api.instance(instance_id) == after_first


def test_unknown_task_and_instance_are_404_json(api):
    assert "error" in api.request("GET", "/api/tasks/nope", 404)
    assert "error" in api.request("GET", "/api/instances/999", 404)
    assert "error" in api.complete("nope", {}, expect=404)


def test_history_labels_each_side(api, people):
    instance_id = start(api)
    history = api.instance(instance_id)["history"]
    assert history[0]["kind"] == "started" and history[0]["actor"] == "sam.patel"
    assert history[0]["data"]["case_reference"] == "CASE-42"
    assigned = [(h["task"], h["party"], h["data"]["assigned_to"]) for h in history if h["kind"] == "task_assigned"]
    assert sorted(assigned) == sorted([
        ("Stage 1 – Direct professional to professional discussion: record the discussion and plan", "raising",
         "sam.patel"),
        ("Stage 1 – Direct professional to professional discussion: acknowledge, record your position and confirm "
         "the plan", "counterpart", "jo.reed"),
    ])


def test_inbox_lists_ready_tasks_by_role(api, people):
    first = start(api)
    second = start(api, case_reference="CASE-43")
    escalate_to(api, second, 2)
    assert [(t["instance_id"], t["name"]) for t in api.as_user("sam.patel").request("GET", "/api/tasks")] == \
        [(first, "stage1_discussion")]
    managers = api.as_user("mia.lm").request("GET", "/api/tasks?role=Line Manager")
    assert [(t["instance_id"], t["case_reference"], t["name"]) for t in managers] == [
        (second, "CASE-43", "stage2_discussion")]


def test_cancelling_an_escalation_closes_its_tasks_and_stops_its_timers(api, people, clock):
    instance_id = start(api)
    task = ready(api, instance_id)["stage1_discussion"]
    raiser = api.as_user("sam.patel")
    raiser.request("POST", f"/api/instances/{instance_id}/cancel", 400, json={"reason": " "})
    result = raiser.request("POST", f"/api/instances/{instance_id}/cancel", json={"reason": "Raised in error"})
    assert result["status"] == "cancelled" and result["end_reason"] == "Raised in error"
    assert result["ready_tasks"] == [] and result["next_deadline_at"] is None
    assert [h["kind"] for h in result["history"]][-3:] == ["task_cancelled", "task_cancelled", "ended"]
    complete(api, task, raising("resolved"), expect=409)
    clock.move_to(london(2026, 12, 10))
    api.sweep()
    assert api.instance(instance_id)["history"] == result["history"]


def test_stage4_goes_to_the_directors_even_after_one_management_level(api, people):
    instance_id = start(api)
    for number in (1, 2, 3):
        refer_up(api, instance_id, number, number)
    expect_both_sides(api, instance_id, 4, 4)
