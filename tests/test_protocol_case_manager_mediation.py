"""The case manager's role in conflict resolution (seed 004): mediator and advocate paths, follow-up timer."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

PROTOCOL = "case_manager_mediation"
EASTERN = ZoneInfo("America/New_York")
START = {"case_reference": "CM-5", "client_name": "Jordan", "provider": "Riverside Supported Living",
         "cm_role": "mediator", "conflict_type": "miscommunication", "description": "Staff and client disagree about curfew."}
MEETING = {"meeting_date": "2026-12-02", "parties": "Client, provider manager, case manager", "meeting_form": "face_to_face"}
DISCUSSION = {"client_concerns": "Curfew is too early.", "provider_concerns": "Safety at night.", "source": "miscommunication"}
SOLUTIONS = {"issues": [{"issue": "Curfew time", "solution": "Agree 22:00 on weekends"},
                        {"issue": "Late notice", "solution": "Text staff by 20:00"}],
             "goals": "Fewer incidents.", "follow_up_working_days": 3}


def eastern(*args) -> datetime:
    return datetime(*args, tzinfo=EASTERN)


def mediate_until_follow_up(api, clock, instance_id: int, *, first: bool = True) -> dict:
    if first:
        api.complete(api.ready(instance_id, "schedule_meeting")["id"], MEETING)
        api.complete(api.ready(instance_id, "discuss_problems")["id"], DISCUSSION)
    api.complete(api.ready(instance_id, "develop_solutions")["id"], SOLUTIONS)
    assert api.instance(instance_id)["ready_tasks"] == []  # waiting for the follow-up date
    clock.shift(days=7)
    api.sweep()
    return api.ready(instance_id, "follow_up")


def test_follow_up_waits_the_configured_working_days(api, clock):
    clock.move_to(eastern(2026, 12, 23, 10, 0))  # Wednesday; Friday 25 December is a federal holiday
    instance_id = api.start(PROTOCOL, START)["id"]
    api.complete(api.ready(instance_id, "schedule_meeting")["id"], MEETING)
    api.complete(api.ready(instance_id, "discuss_problems")["id"], DISCUSSION)
    api.complete(api.ready(instance_id, "develop_solutions")["id"], SOLUTIONS)
    waiting = api.instance(instance_id)
    assert waiting["ready_tasks"] == [] and waiting["next_deadline_at"] == "2026-12-29T15:00:00+00:00"
    clock.move_to(eastern(2026, 12, 29, 9, 59))
    api.sweep()
    assert api.instance(instance_id)["ready_tasks"] == []
    clock.move_to(eastern(2026, 12, 29, 10, 1))
    api.sweep()
    assert api.ready(instance_id, "follow_up")["role"] == "Case Manager"
    fired = [h for h in api.instance(instance_id)["history"] if h["kind"] == "timer_fired"]
    assert [(f["element_id"], f["data"]["due_at"]) for f in fired] == [("follow_up_wait", "2026-12-29T10:00:00-05:00")]


def test_resolved_after_the_first_follow_up(api, clock):
    instance_id = api.start(PROTOCOL, START)["id"]
    follow_up = mediate_until_follow_up(api, clock, instance_id)
    result = api.complete(follow_up["id"], {"progress": "No incidents since the meeting.", "outcome": "resolved"})
    assert result["status"] == "resolved" and result["end_reason"] == "Conflict resolved by mediation"
    solutions = next(h for h in result["history"] if h["task"] == "Develop solutions: each issue with its solution")
    assert solutions["data"]["issues"] == SOLUTIONS["issues"]


def test_provider_change_after_repeated_failed_follow_ups(api, clock):
    instance_id = api.start(PROTOCOL, START)["id"]
    follow_up = mediate_until_follow_up(api, clock, instance_id)
    api.complete(follow_up["id"], {"progress": "Curfew still broken.", "outcome": "adjust_plan"})
    follow_up = mediate_until_follow_up(api, clock, instance_id, first=False)
    api.complete(follow_up["id"], {"progress": "Arguments continue.", "outcome": "another_meeting"})
    follow_up = mediate_until_follow_up(api, clock, instance_id)
    api.complete(follow_up["id"], {"progress": "No progress.", "outcome": "unresolved"})
    api.complete(api.ready(instance_id, "coordinate_discharge")["id"],
                 {"discharge_date": "2027-01-15", "discharge_notes": "Two weeks' notice agreed."})
    result = api.complete(api.ready(instance_id, "find_provider")["id"],
                          {"new_provider": "Lakeside Homes", "start_date": "2027-01-15"})
    assert result["status"] == "closed" and result["end_reason"] == "Closed – service provider changed"
    counted = [h["data"] for h in result["history"] if h["element_id"] == "count_follow_up"]
    assert counted == [{"follow_ups": 1, "outcome": "adjust_plan"}, {"follow_ups": 2, "outcome": "another_meeting"},
                       {"follow_ups": 3, "outcome": "unresolved"}]


@pytest.mark.parametrize("hearing,decision,status,reason", [
    (True, "resolved", "resolved", "Resolved for the client"),
    (False, "unresolved", "closed", "Closed – decided against the client"),
])
def test_advocacy_path(api, hearing, decision, status, reason):
    instance_id = api.start(PROTOCOL, {**START, "cm_role": "advocate", "conflict_type": "rights"})["id"]
    task = api.ready(instance_id, "file_complaint")
    assert task["counterpart_role"] == "Authorities and agencies deciding the complaint or appeal"
    api.complete(task["id"], {"filing": "appeal", "filed_with": "Benefits tribunal", "filed_on": "2026-12-02",
                              "paperwork_completed": True})
    api.complete(api.ready(instance_id, "provide_information")["id"], {
        "information": "Disability documentation for eligibility.", "hearing_expected": hearing,
        "reports": [{"document": "Functional assessment", "recipient": "Tribunal clerk"}]})
    if hearing:
        last = api.ready(instance_id, "speak_at_hearing")
        result = api.complete(last["id"], {"hearing_date": "2027-01-10", "statement": "Explained how the disability "
                                           "affects behaviour.", "outcome": decision})
    else:
        last = api.ready(instance_id, "record_decision")
        result = api.complete(last["id"], {"decision_notes": "Appeal refused.", "outcome": decision})
    assert (result["status"], result["end_reason"]) == (status, reason)


@pytest.mark.parametrize("role,kind,counterpart,notify", [
    ("mediator", "medical", "The client, the service provider and the care team", "Case manager's team (a team approach)"),
    ("mediator", "behavioural", "The client, the service provider and the care team", "Case manager's team (a team approach)"),
    ("mediator", "rights", "The client and the service provider", "All involved parties"),
    ("mediator", "miscommunication", "The client and the service provider", "All involved parties"),
    ("mediator", "other", "The client and the service provider", "All involved parties"),
    ("advocate", "other", "Authorities and agencies deciding the complaint or appeal", "The client (and family)"),
])
def test_routing_rules(api, role, kind, counterpart, notify):
    instance_id = api.start(PROTOCOL, {**START, "cm_role": role, "conflict_type": kind})["id"]
    routed = next(h for h in api.instance(instance_id)["history"] if h["kind"] == "routed")
    assert routed["data"] == {"decision": "case_manager_routing", "counterpart_role": counterpart, "notify": notify}
    assert api.instance(instance_id)["ready_tasks"][0]["counterpart_role"] == counterpart


def test_half_filled_issue_rows_are_refused(api, clock):
    instance_id = api.start(PROTOCOL, START)["id"]
    api.complete(api.ready(instance_id, "schedule_meeting")["id"], MEETING)
    api.complete(api.ready(instance_id, "discuss_problems")["id"], DISCUSSION)
    task = api.ready(instance_id, "develop_solutions")
    before = api.instance(instance_id)
    body = api.complete(task["id"], {**SOLUTIONS, "issues": [{"issue": "Curfew", "solution": "22:00"},
                                                             {"issue": "Noise", "solution": ""}]}, expect=400)
    assert body["fields"] == {"issues": "Row 2: fill in Solution"}
    body = api.complete(task["id"], {**SOLUTIONS, "issues": [{"issue": "", "solution": ""}], "follow_up_working_days": 0},
                        expect=400)
    assert body["fields"] == {"issues": "This field is required", "follow_up_working_days": "Must be at least 1"}
    assert api.instance(instance_id) == before


def test_issue_rows_from_the_html_form(app, api, clock):
    from conftest import PASSWORD
    instance_id = api.start(PROTOCOL, START)["id"]
    api.complete(api.ready(instance_id, "schedule_meeting")["id"], MEETING)
    api.complete(api.ready(instance_id, "discuss_problems")["id"], DISCUSSION)
    task = api.ready(instance_id, "develop_solutions")
    client = app.test_client()
    client.post("/login", data={"username": "tester", "password": PASSWORD})
    page = client.get(f"/tasks/{task['id']}").get_data(as_text=True)
    assert 'name="issues-0-issue"' in page and 'name="issues-2-solution"' in page
    form = {"issues-0-issue": "Curfew", "issues-0-solution": "22:00", "issues-1-issue": "", "issues-1-solution": "",
            "issues-2-issue": "Noise", "issues-2-solution": "Quiet hours", "goals": "", "follow_up_working_days": "5"}
    assert client.post(f"/tasks/{task['id']}", data=form).status_code == 302
    completed = [h for h in api.instance(instance_id)["history"] if h["kind"] == "task_completed"][-1]
    assert completed["data"]["issues"] == [{"issue": "Curfew", "solution": "22:00"}, {"issue": "Noise", "solution": "Quiet hours"}]
    bad = client.post(f"/tasks/{task['id']}", data=form)  # the same form sent again
    assert bad.status_code == 409
