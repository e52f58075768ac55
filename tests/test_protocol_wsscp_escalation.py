"""WSSCP escalation policy between external agencies (seed 002) through the JSON API.

Scenario tests: every role is held by a different person, with real line managers, in two agencies (one
``make_chain`` per agency), plus a neutral LSCP and a Business Team of two. Both agencies act at every stage;
each side climbs its own chain; the Business Team is told from Stage 2 and informed of the resolution by the
manager who resolved it.
"""
from __future__ import annotations

import pytest

from conftest import london, make_chain, make_user
from workflow_app.extensions import db
from workflow_app.persistence.models import OutboxMessage
from workflow_app.services import people

PROTOCOL = "wsscp_escalation"
RAISING, OTHER = "Northfield Academy", "Westshire Community Health"
SCOPE = ("This escalation policy applies to external agencies. If you have a concern within your service please "
         "refer to the escalation policy within your own agency")
# Kept for other test modules (notifications) that drive this protocol as the suite's "tester".
START = {
    "case_reference": "WS-1", "raising_agency": "Northfield Academy", "other_agency": "Children's Social Care",
    "service_area": "child_in_need", "decision_challenged": "Case closed while home conditions are unchanged.",
    "desired_outcome": "Keep the child in need plan.",
}
SCENARIO = {**START, "raising_agency": RAISING, "other_agency": OTHER, "other_professional": "cara.nurse"}
RAISING_CHAIN = ["rory.teacher", "rita.manager", "rob.senior", "ruth.head"]
OTHER_CHAIN = ["cara.nurse", "colin.manager", "cleo.senior", "cyril.head"]
BUSINESS_TEAM = ["bea.business", "bill.business"]
RAISING_TASK = {1: "stage1_professional", 2: "stage2_manager", 3: "stage3_senior"}
OTHER_TASK = {1: "stage1_counterpart", 2: "stage2_counterpart", 3: "stage3_counterpart"}


def discussion(outcome: str) -> dict:
    """The raising side's record of a Stage 1-3 discussion."""
    data = {"date_held": "2026-12-01", "participants": "Both workers", "outcome": outcome}
    if outcome == "resolved":
        data["agreed_actions"] = "Review at the next core group."
    else:
        data["unresolved_reasons"] = "Both agencies keep their position."
    return data


def response(outcome: str) -> dict:
    """The other agency's record of the same discussion."""
    data = {"counterpart_date_held": "2026-12-01", "counterpart_position": "The case met the closure criteria.",
            "counterpart_reflection": "We re-read the assessment with our manager.", "counterpart_outcome": outcome}
    if outcome == "resolved":
        data["counterpart_agreed_actions"] = "Keep the plan open for a core group review."
    else:
        data["counterpart_unresolved_reasons"] = "The threshold decision stands."
    return data


def escalate_to_stage_2(api, instance_id: int) -> dict:
    """Both Stage 1 tasks recorded as unresolved by whoever holds them (for other modules driving START as
    the suite's "tester", who then holds both sides' first rung): the Business Team is told from here on."""
    tasks = {t["name"]: t for t in api.instance(instance_id)["ready_tasks"]}
    api.as_user(tasks["stage1_professional"]["assigned_to"]).complete(tasks["stage1_professional"]["id"],
                                                                      discussion("unresolved"))
    return api.as_user(tasks["stage1_counterpart"]["assigned_to"]).complete(tasks["stage1_counterpart"]["id"],
                                                                             response("unresolved"))


POSITION = {"position": "Conditions at home are unchanged.", "efforts_so_far": "Three discussions at Stages 1-3."}
OTHER_POSITION = {"counterpart_position": "Closure was right.",
                  "counterpart_efforts_so_far": "Reviewed by our senior manager twice."}


def lscp(outcome: str) -> dict:
    data = {"date_held": "2026-12-10", "participants": "LSCP chair, both senior managers", "outcome": outcome}
    if outcome == "resolved":
        data["agreed_actions"] = "Re-open the child in need plan for 3 months."
    else:
        data["unresolved_reasons"] = "The agencies could not agree at the LSCP."
    return data


@pytest.fixture
def org(api):
    """Two agencies, each with its own chain (professional → manager → senior manager → head of service), a
    second manager in each agency who is nobody's line manager, a neutral LSCP and a Business Team of two."""
    people.get_or_create_agency(OTHER)
    db.session.commit()
    make_chain(RAISING, [(RAISING_CHAIN[0], ["Professional"]), (RAISING_CHAIN[1], ["Manager"]),
                         (RAISING_CHAIN[2], ["Senior Manager"]), (RAISING_CHAIN[3], ["Head of Service"])])
    make_chain(OTHER, [(OTHER_CHAIN[0], ["Professional"]), (OTHER_CHAIN[1], ["Manager"]),
                       (OTHER_CHAIN[2], ["Senior Manager"]), (OTHER_CHAIN[3], ["Head of Service"])])
    make_user("rae.manager", roles=["Manager"], agency=RAISING, email="rae.manager@example.org")
    make_user("cas.manager", roles=["Manager"], agency=OTHER, email="cas.manager@example.org")
    make_user("cat.professional", roles=["Professional"], agency=OTHER, email="cat.professional@example.org")
    make_user("lena.lscp", roles=["LSCP"], email="lena.lscp@example.org")
    for username in BUSINESS_TEAM:
        make_user(username, roles=["Business Team"], email=f"{username}@example.org")
    return api.as_user(RAISING_CHAIN[0])


def start(org, **changes) -> int:
    return org.start(PROTOCOL, {**SCENARIO, **changes})["id"]


def ready(api, instance_id: int) -> dict[str, dict]:
    return {t["name"]: t for t in api.instance(instance_id)["ready_tasks"]}


def inbox(api, username: str, view: str = "mine") -> set[tuple[int, str]]:
    return {(t["instance_id"], t["name"]) for t in api.as_user(username).request("GET", f"/api/tasks?view={view}")}


def history(api, instance_id: int, kind: str) -> list[dict]:
    return [h for h in api.instance(instance_id)["history"] if h["kind"] == kind]


def complete_as_holder(api, instance_id: int, name: str, data: dict, expect: int = 200):
    task = ready(api, instance_id)[name]
    return api.as_user(task["assigned_to"]).complete(task["id"], data, expect=expect)


def finish_stage(api, instance_id: int, stage: int, raising_outcome="unresolved", other_outcome="unresolved",
                 other_first=False):
    steps = [(RAISING_TASK[stage], discussion(raising_outcome)), (OTHER_TASK[stage], response(other_outcome))]
    for name, data in (reversed(steps) if other_first else steps):
        result = complete_as_holder(api, instance_id, name, data)
    return result


def to_stage(api, instance_id: int, stage: int) -> None:
    for number in range(1, min(stage, 4)):
        finish_stage(api, instance_id, number)


def sent_to(entry: dict) -> list[str]:
    return sorted(entry["data"]["sent_to"])


# -- the start form and its scope ---------------------------------------------------------------------

def test_listed_with_its_start_form(api):
    assert {"key": PROTOCOL, "name": "WSSCP escalation policy (between external agencies)", "version": 1} \
        in api.request("GET", "/api/protocols")


def test_a_concern_within_one_agency_is_refused_with_the_policy_s_words(org):
    body = org.start(PROTOCOL, {**SCENARIO, "other_agency": RAISING, "other_professional": ""}, expect=400)
    assert body["error"] == SCOPE
    assert body["fields"]["other_agency"] == SCOPE
    assert org.request("GET", "/api/instances") == []
    assert inbox(org, RAISING_CHAIN[0]) == set()


def test_bad_input_is_refused_and_changes_nothing(org):
    body = org.start(PROTOCOL, {**SCENARIO, "service_area": "housing", "raising_agency": "Nowhere"}, expect=400)
    assert body["fields"] == {"service_area": "Choose one of: early_help, child_in_need, child_protection, looked_after",
                              "raising_agency": "Choose one of the agencies listed"}
    body = org.start(PROTOCOL, {**SCENARIO, "other_professional": RAISING_CHAIN[1]}, expect=400)
    assert "works for Northfield Academy" in body["fields"]["other_professional"]
    assert org.request("GET", "/api/instances") == []


# -- Stage 1: both professionals act -------------------------------------------------------------------

def test_both_professionals_get_their_own_stage_1_task(org):
    instance_id = start(org)
    tasks = ready(org, instance_id)
    assert {n: (t["party"], t["agency"], t["assigned_to"], t["role"]) for n, t in tasks.items()} == {
        "stage1_professional": ("raising", RAISING, "rory.teacher", "Professional"),
        "stage1_counterpart": ("counterpart", OTHER, "cara.nurse", "Professional")}
    assert inbox(org, "rory.teacher") == {(instance_id, "stage1_professional")}
    assert inbox(org, "cara.nurse") == {(instance_id, "stage1_counterpart")}
    assert inbox(org, "cat.professional") == set() and inbox(org, "cat.professional", "available") == set()
    # Neither side can complete the other's task.
    org.as_user("cara.nurse").complete(tasks["stage1_professional"]["id"], discussion("resolved"), expect=403)
    org.complete(tasks["stage1_counterpart"]["id"], response("resolved"), expect=403)


def test_resolved_at_stage_1_only_when_both_professionals_agree(org):
    instance_id = start(org)
    after_one = complete_as_holder(org, instance_id, "stage1_professional", discussion("resolved"))
    assert after_one["status"] == "running"  # one side's agreement is not a mutually agreed plan
    result = complete_as_holder(org, instance_id, "stage1_counterpart", response("resolved"))
    assert result["status"] == "resolved"
    assert result["end_reason"] == "Resolved at Stage 1 – no need for further escalation"
    assert [(h["party"], h["actor"]) for h in result["history"] if h["kind"] == "task_completed"] == [
        ("raising", "rory.teacher"), ("counterpart", "cara.nurse")]
    assert history(org, instance_id, "notification_sent") == []  # the Business Team is told from Stage 2 only
    assert all(inbox(org, username, "available") == set() for username in BUSINESS_TEAM)


@pytest.mark.parametrize("raising_outcome,other_outcome", [("resolved", "unresolved"), ("unresolved", "resolved")])
def test_either_side_saying_unresolved_takes_both_to_their_managers(org, raising_outcome, other_outcome):
    instance_id = start(org)
    finish_stage(org, instance_id, 1, raising_outcome, other_outcome)
    tasks = ready(org, instance_id)
    assert {n: (t["party"], t["assigned_to"]) for n, t in tasks.items() if n.startswith("stage2")} == {
        "stage2_manager": ("raising", "rita.manager"), "stage2_counterpart": ("counterpart", "colin.manager")}
    assert inbox(org, "rita.manager") == {(instance_id, "stage2_manager")}
    assert inbox(org, "colin.manager") == {(instance_id, "stage2_counterpart")}
    # Managers who are nobody's line manager here do not get it.
    assert inbox(org, "rae.manager") == set() and inbox(org, "cas.manager") == set()
    assert [h["data"]["stage"] for h in history(org, instance_id, "escalated")] == [2]


# -- evidence ------------------------------------------------------------------------------------------

def test_no_side_escalates_or_agrees_without_recording_why(org, clock):
    instance_id = start(org)
    tasks = ready(org, instance_id)
    before = org.instance(instance_id)
    body = org.complete(tasks["stage1_professional"]["id"], {**discussion("unresolved"), "unresolved_reasons": ""},
                        expect=400)
    assert body["fields"] == {"unresolved_reasons": "Required when Outcome is 'Unresolved – escalate to the "
                                                    "managers (Stage 2)'"}
    body = org.complete(tasks["stage1_professional"]["id"], {**discussion("resolved"), "agreed_actions": ""},
                        expect=400)
    assert list(body["fields"]) == ["agreed_actions"]
    other = org.as_user("cara.nurse")
    body = other.complete(tasks["stage1_counterpart"]["id"],
                          {**response("unresolved"), "counterpart_unresolved_reasons": ""}, expect=400)
    assert list(body["fields"]) == ["counterpart_unresolved_reasons"]
    body = other.complete(tasks["stage1_counterpart"]["id"], {**response("resolved"), "counterpart_reflection": ""},
                          expect=400)
    assert list(body["fields"]) == ["counterpart_reflection"]
    assert org.instance(instance_id) == before
    # A passed deadline does not move the disagreement on either: only a record with reasons does.
    clock.move_to(london(2026, 12, 20, 9, 0))
    org.sweep()
    assert set(ready(org, instance_id)) == {"stage1_professional", "stage1_counterpart"}
    assert history(org, instance_id, "escalated") == []


def test_stage_4_positions_and_the_lscp_outcome_need_their_evidence(org):
    instance_id = start(org)
    to_stage(org, instance_id, 4)
    complete_as_holder(org, instance_id, "stage4_raising", {**POSITION, "efforts_so_far": ""}, expect=400)
    complete_as_holder(org, instance_id, "stage4_counterpart", {**OTHER_POSITION, "counterpart_efforts_so_far": ""},
                       expect=400)
    complete_as_holder(org, instance_id, "stage4_raising", POSITION)
    complete_as_holder(org, instance_id, "stage4_counterpart", OTHER_POSITION)
    body = complete_as_holder(org, instance_id, "stage4_lscp", {**lscp("unresolved"), "unresolved_reasons": ""},
                              expect=400)
    assert list(body["fields"]) == ["unresolved_reasons"]


# -- the whole ladder, person by person ------------------------------------------------------------------

def test_each_side_climbs_its_own_chain_and_stage_4_brings_both_senior_managers_to_the_lscp(org):
    instance_id = start(org)
    for stage in (1, 2, 3):
        tasks = ready(org, instance_id)
        assert (tasks[RAISING_TASK[stage]]["assigned_to"], tasks[OTHER_TASK[stage]]["assigned_to"]) == \
            (RAISING_CHAIN[stage - 1], OTHER_CHAIN[stage - 1])
        assert (instance_id, RAISING_TASK[stage]) in inbox(org, RAISING_CHAIN[stage - 1])
        assert (instance_id, OTHER_TASK[stage]) in inbox(org, OTHER_CHAIN[stage - 1])
        finish_stage(org, instance_id, stage)
    tasks = ready(org, instance_id)
    # Stage 4: the same senior managers take their positions to the LSCP (not their heads of service).
    assert {n: (t["party"], t["assigned_to"]) for n, t in tasks.items() if n.startswith("stage4")} == {
        "stage4_raising": ("raising", "rob.senior"), "stage4_counterpart": ("counterpart", "cleo.senior")}
    assert inbox(org, "ruth.head") == set() and inbox(org, "cyril.head") == set()
    assert "stage4_lscp" not in tasks  # the LSCP meets once it has both positions
    complete_as_holder(org, instance_id, "stage4_raising", POSITION)
    assert "stage4_lscp" not in ready(org, instance_id)
    complete_as_holder(org, instance_id, "stage4_counterpart", OTHER_POSITION)
    task = ready(org, instance_id)["stage4_lscp"]
    assert (task["title"], task["role"], task["party"], task["assigned_to"]) == \
        ("Stage 4 – LSCP", "LSCP", None, "lena.lscp")
    assigned = [(h["party"], h["data"]["assigned_to"]) for h in history(org, instance_id, "task_assigned")]
    raising = [who for party, who in assigned if party == "raising"]
    other = [who for party, who in assigned if party == "counterpart"]
    assert raising == ["rory.teacher", "rita.manager", "rob.senior", "rob.senior"]
    assert other == ["cara.nurse", "colin.manager", "cleo.senior", "cleo.senior"]
    assert not any(h["data"].get("chain_ran_out") for h in history(org, instance_id, "task_assigned"))
    assert [h["data"]["stage"] for h in history(org, instance_id, "escalated")] == [2, 3, 4]


def test_the_plan_counts_as_agreed_whichever_side_records_last(org):
    instance_id = start(org)
    to_stage(org, instance_id, 2)
    # The other manager records "resolved" after the raising one: the earlier stage's "unresolved" answers
    # must not come back at the join.
    finish_stage(org, instance_id, 2, "resolved", "resolved")
    assert "inform_business_team_2" in ready(org, instance_id)
    instance_id = start(org, case_reference="WS-2")
    to_stage(org, instance_id, 3)
    finish_stage(org, instance_id, 3, "resolved", "resolved", other_first=True)
    assert "inform_business_team_3" in ready(org, instance_id)
    assert [h["data"]["stage"] for h in history(org, instance_id, "escalated")] == [2, 3]


# -- the Business Team ---------------------------------------------------------------------------------

def test_business_team_is_notified_at_stage_two_onwards_and_keeps_a_record(org):
    instance_id = start(org)
    expected_logs = []
    for stage, log in ((2, "log_ongoing"), (3, "log_update_3"), (4, "log_update_4")):
        finish_stage(org, instance_id, stage - 1)
        told = history(org, instance_id, "notification_sent")[-1]
        assert told["task"] == "Business Team notified of the ongoing disagreement"
        assert sent_to(told) == BUSINESS_TEAM and told["data"]["no_one_holds"] == []
        assert {k: told["data"][k] for k in ("stage", "case_reference", "raising_agency", "other_agency")} == {
            "stage": stage, "case_reference": "WS-1", "raising_agency": RAISING, "other_agency": OTHER}
        if stage == 2:  # the first record task is in either Business Team member's inbox ...
            for username in BUSINESS_TEAM:
                assert inbox(org, username, "available") == {(instance_id, log)}
            task = ready(org, instance_id)["log_ongoing"]
            org.as_user("bea.business").complete(task["id"], {"log_reference": "BT-7"})
        else:  # ... and whoever took this disagreement keeps its later records
            assert (instance_id, log) in inbox(org, "bea.business", "mine")
            assert all(not inbox(org, username, "available") for username in BUSINESS_TEAM)
    assert len(history(org, instance_id, "notification_sent")) == 3


@pytest.mark.parametrize("stage,manager,other_manager", [(2, "rita.manager", "colin.manager"),
                                                          (3, "rob.senior", "cleo.senior")])
def test_manager_who_resolved_it_informs_the_business_team(org, stage, manager, other_manager):
    instance_id = start(org)
    to_stage(org, instance_id, stage)
    result = finish_stage(org, instance_id, stage, "resolved", "resolved")
    assert result["status"] == "running"
    task = ready(org, instance_id)[f"inform_business_team_{stage}"]
    assert (task["party"], task["assigned_to"]) == ("raising", manager)  # the manager who held this stage
    assert inbox(org, manager) == {(instance_id, f"inform_business_team_{stage}")}
    org.as_user(other_manager).complete(task["id"], {"resolved_on": "2026-12-02", "resolution_summary": "x"},
                                        expect=403)
    org.as_user(manager).complete(task["id"], {"resolved_on": "2026-12-02"}, expect=400)
    org.as_user(manager).complete(task["id"], {"resolved_on": "2026-12-02",
                                               "resolution_summary": "Plan kept open; core group on 9 Dec."})
    informed = history(org, instance_id, "notification_sent")[-1]
    assert informed["task"] == f"Stage {stage} – Inform the Business Team of the resolution"
    assert sent_to(informed) == BUSINESS_TEAM
    assert informed["data"]["resolution_summary"] == "Plan kept open; core group on 9 Dec."
    assert informed["data"]["agreed_actions"] == "Review at the next core group."
    assert informed["data"]["counterpart_agreed_actions"] == "Keep the plan open for a core group review."
    mail = db.session.query(OutboxMessage).filter_by(recipient_email="bea.business@example.org") \
        .order_by(OutboxMessage.id.desc()).first()
    assert mail.subject.startswith(f"Stage {stage} – Inform the Business Team of the resolution")
    assert f"on behalf of {manager.replace('.', ' ').title()}" in mail.body
    # The Business Team records the outcome; the escalation then ends resolved, open record tasks closing.
    record = ready(org, instance_id)["record_outcome"]
    assert record["role"] == "Business Team" and (instance_id, "record_outcome") in inbox(org, "bill.business",
                                                                                           "available")
    result = org.as_user("bill.business").complete(record["id"], {"log_reference": "BT-9",
                                                                  "learning": "Clarify step-down criteria."})
    assert result["status"] == "resolved"
    assert result["end_reason"] == "Disagreement resolved and recorded by the Business Team"
    assert result["ready_tasks"] == []


@pytest.mark.parametrize("outcome,status,reason", [
    ("resolved", "resolved", "Disagreement resolved and recorded by the Business Team"),
    ("unresolved", "closed", "Closed – unresolved after the LSCP stage")])
def test_the_lscp_outcome_is_reported_to_the_business_team_and_recorded(org, outcome, status, reason):
    instance_id = start(org)
    to_stage(org, instance_id, 4)
    complete_as_holder(org, instance_id, "stage4_raising", POSITION)
    complete_as_holder(org, instance_id, "stage4_counterpart", OTHER_POSITION)
    org.as_user("lena.lscp").complete(ready(org, instance_id)["stage4_lscp"]["id"], lscp(outcome))
    informed = history(org, instance_id, "notification_sent")[-1]
    assert informed["task"] == "The LSCP informs the Business Team of the outcome"
    assert sent_to(informed) == BUSINESS_TEAM
    assert (informed["data"]["stage"], informed["data"]["outcome"]) == (4, outcome)
    mail = db.session.query(OutboxMessage).filter_by(recipient_email="bill.business@example.org") \
        .order_by(OutboxMessage.id.desc()).first()
    assert "on behalf of Lena Lscp" in mail.body
    result = org.as_user("bea.business").complete(ready(org, instance_id)["record_outcome"]["id"],
                                                  {"log_reference": "BT-11"})
    assert (result["status"], result["end_reason"]) == (status, reason)


# -- routing -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stage,raising_role,counterpart_role,convened_by,notify", [
    (1, "Professional", "Professional", "The two professionals, directly", ""),
    (2, "Manager", "Manager", "The two managers, directly", "Business Team"),
    (3, "Senior Manager", "Senior Manager", "The two senior managers, directly", "Business Team"),
    (4, "Senior Manager", "Senior Manager", "LSCP", "Business Team"),
])
def test_routing_table_rule_for_each_stage(org, stage, raising_role, counterpart_role, convened_by, notify):
    instance_id = start(org)
    to_stage(org, instance_id, stage)
    routed = history(org, instance_id, "routed")[-1]
    assert routed["data"] == {"decision": "wsscp_routing", "raising_role": raising_role,
                              "counterpart_role": counterpart_role, "convened_by": convened_by, "notify": notify}
    tasks = [t for t in ready(org, instance_id).values() if t["party"]]
    assert {(t["party"], t["role"], t["counterpart_role"]) for t in tasks} == {
        ("raising", raising_role, counterpart_role), ("counterpart", counterpart_role, counterpart_role)}


# -- deadlines -----------------------------------------------------------------------------------------

def test_stage_1_deadline_for_each_side_is_2_working_days_and_tells_that_side(org, clock):
    instance_id = start(org)
    tasks = ready(org, instance_id)
    assert {t["due_at"] for t in tasks.values()} == {"2026-12-03T09:00:00+00:00"}
    complete_as_holder(org, instance_id, "stage1_professional", discussion("unresolved"))
    clock.move_to(london(2026, 12, 3, 8, 59))
    org.sweep()
    assert history(org, instance_id, "deadline_breached") == []
    clock.move_to(london(2026, 12, 3, 9, 1))
    org.sweep()
    breaches = history(org, instance_id, "deadline_breached")
    assert [(b["element_id"], b["data"]["closes_task"]) for b in breaches] == [("stage1_counterpart", False)]
    told = history(org, instance_id, "notification_sent")[-1]
    assert told["task"] == "Stage 1 overdue (other agency): professional and line manager told"
    assert sent_to(told) == ["cara.nurse", "colin.manager"]
    task = ready(org, instance_id)["stage1_counterpart"]
    assert task["overdue"] is True and task["assigned_to"] == "cara.nurse"  # stays with her, nothing moves on
    assert history(org, instance_id, "escalated") == []


def test_stage_1_deadline_over_christmas(org, clock):
    clock.move_to(london(2026, 12, 23, 16, 0))  # Wednesday; 25 and 28 December are bank holidays
    tasks = ready(org, start(org))
    assert {t["due_at"] for t in tasks.values()} == {"2026-12-29T16:00:00+00:00"}


@pytest.mark.parametrize("stage,names", [
    (2, ("stage2_manager", "stage2_counterpart")), (3, ("stage3_senior", "stage3_counterpart")),
    (4, ("stage4_raising", "stage4_counterpart"))])
def test_stages_2_to_4_give_each_side_5_working_days_from_the_escalation(org, clock, stage, names):
    instance_id = start(org)
    for number in range(1, stage):
        clock.move_to(london(2026, 12, 1 + number, 10, 0))  # each stage finished a day later, at 10:00
        finish_stage(org, instance_id, number)
    escalated_on = stage  # escalated on 2, 3 or 4 December (Wednesday to Friday)
    due = london(2026, 12, escalated_on + 7, 10, 0)  # 5 working days later: the same weekday next week
    tasks = ready(org, instance_id)
    assert {tasks[n]["due_at"] for n in names} == {due.isoformat()}
    clock.move_to(due.replace(hour=9, minute=59))
    complete_as_holder(org, instance_id, names[0], POSITION if stage == 4 else discussion("unresolved"))
    org.sweep()
    assert history(org, instance_id, "deadline_breached") == []
    clock.move_to(due.replace(minute=1))
    org.sweep()
    breaches = [b["element_id"] for b in history(org, instance_id, "deadline_breached")]
    assert breaches == [names[1]]  # the raising side recorded in time; the other side is overdue
    # The holder is told, with whoever the disagreement would go to next: the line manager at Stage 2, the
    # Business Team (keeping the record) from Stage 2, the LSCP at Stage 4.
    told = history(org, instance_id, "notification_sent")[-1]
    assert told["task"].startswith(f"Stage {stage} overdue (other agency)")
    assert sent_to(told) == sorted({2: ["colin.manager", "cleo.senior"], 3: ["cleo.senior"],
                                    4: ["cleo.senior", "lena.lscp"]}[stage] + BUSINESS_TEAM)
    assert told["data"]["no_one_holds"] == []


def test_lscp_deadline_is_5_working_days_from_both_positions(org, clock):
    instance_id = start(org)
    to_stage(org, instance_id, 4)
    complete_as_holder(org, instance_id, "stage4_raising", POSITION)
    clock.move_to(london(2026, 12, 4, 14, 0))  # Friday
    complete_as_holder(org, instance_id, "stage4_counterpart", OTHER_POSITION)
    task = ready(org, instance_id)["stage4_lscp"]
    assert task["due_at"] == "2026-12-11T14:00:00+00:00"
    clock.move_to(london(2026, 12, 11, 14, 1))
    org.sweep()
    assert [b["element_id"] for b in history(org, instance_id, "deadline_breached")] == ["stage4_lscp"]
    told = history(org, instance_id, "notification_sent")[-1]
    assert told["task"] == "Stage 4 LSCP overdue (LSCP): LSCP and Business Team told"
    assert sent_to(told) == sorted(["lena.lscp", *BUSINESS_TEAM])
    assert ready(org, instance_id)["stage4_lscp"]["overdue"] is True


# -- the other professional without an account ------------------------------------------------------------

def test_other_professional_without_an_account_gets_an_e_mailed_link_and_the_chain_goes_on(org):
    instance_id = start(org, other_professional="", other_contact_name="Pat Doyle",
                        other_contact_email="pat.doyle@health.example")
    task = ready(org, instance_id)["stage1_counterpart"]
    assert task["assigned_to"] is None
    assert task["external_contact"] == {"name": "Pat Doyle", "email": "pat.doyle@health.example"}
    link = db.session.query(OutboxMessage).filter_by(recipient_email="pat.doyle@health.example",
                                                      kind="external_task").one()
    assert "/respond/" in link.body
    # Nobody in the other agency can take it over from the named contact.
    assert inbox(org, "cat.professional", "available") == set()
    # Her line manager is not known: Stage 2 goes to the other agency's managers, and history says why.
    complete_as_holder(org, instance_id, "stage1_professional", discussion("unresolved"))
    response_path = link.body[link.body.index("/respond/"):].split()[0]
    done = org.client.post(response_path, data=response("unresolved"))
    assert done.status_code == 200
    stage2 = ready(org, instance_id)["stage2_counterpart"]
    assert stage2["assigned_to"] is None
    assert {(instance_id, "stage2_counterpart")} <= inbox(org, "colin.manager", "available")
    assert {(instance_id, "stage2_counterpart")} <= inbox(org, "cas.manager", "available")
    ran_out = [h for h in history(org, instance_id, "task_assigned") if h["data"].get("chain_ran_out")]
    assert [h["party"] for h in ran_out] == ["counterpart"]
