"""Wraparound Milwaukee #010 system and provider conflict resolution (seed 000) through the JSON API."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

PROTOCOL = "wraparound_conflict_resolution"
CHICAGO = ZoneInfo("America/Chicago")
START = {"case_reference": "WRAP-12", "care_coordinator": "Terry Ames", "track": "A",
         "counterpart_name": "Robin Diaz, Human Service Worker", "issue": "Disagreement about the safety plan."}
LEVEL_TASK = {"Care Coordinator": "level_care_coordinator", "Wraparound Supervisor": "level_supervisor",
              "Wraparound Liaison": "level_liaison", "Wraparound Administrative Staff": "level_admin_staff",
              "Wraparound Deputy Director": "level_deputy_director"}
LADDERS = {
    "A": [("Care Coordinator", "Human Service Worker", "Both meet"),
          ("Wraparound Supervisor", "Human Service Worker Supervisor", "Human Service Worker Supervisor"),
          ("Wraparound Liaison", "Section Manager", "Section Manager"),
          ("Wraparound Deputy Director", "Delinquency and Court Services Division Manager",
           "Delinquency and Court Services Division Manager")],
    "B": [("Care Coordinator", "DMCPS Case Manager", "Both meet"),
          ("Wraparound Supervisor", "DMCPS Supervisor", "DMCPS Supervisor"),
          ("Wraparound Liaison", "DMCPS Program Manager or Lead Supervisor", "DMCPS Program Manager or Lead Supervisor"),
          ("Wraparound Deputy Director", "DMCPS Site Manager", "DMCPS Site Manager")],
    "C": [("Care Coordinator", "Network Provider (and the Child & Family Team if needed)", "Both meet"),
          ("Wraparound Supervisor", "Supervisor of the Provider", "Either Supervisor makes contact"),
          ("Wraparound Administrative Staff", "The parties involved", "The parties involved")],
}


def chicago(*args) -> datetime:
    return datetime(*args, tzinfo=CHICAGO)


def meeting(outcome: str, **extra) -> dict:
    return {"meeting_date": "2026-12-01", "participants": "Both parties", "outcome": outcome,
            "notes": "Agreed next steps." if outcome == "resolved" else "Positions unchanged.", **extra}


def level_task(api, instance_id: int) -> dict:
    tasks = [t for t in api.instance(instance_id)["ready_tasks"] if t["name"] in LEVEL_TASK.values()]
    assert len(tasks) == 1, tasks
    return tasks[0]


def climb(api, instance_id: int, levels: int) -> dict:
    for _ in range(levels):
        api.complete(level_task(api, instance_id)["id"], meeting("unresolved"))
    return level_task(api, instance_id)


CASES = [(track, level) for track, ladder in LADDERS.items() for level in range(1, len(ladder) + 1)]


@pytest.mark.parametrize("track,level", CASES)
def test_each_track_resolved_at_each_level_with_the_ladder_roles(api, track, level):
    instance_id = api.start(PROTOCOL, {**START, "track": track})["id"]
    task = climb(api, instance_id, level - 1)
    role, counterpart, initiates = LADDERS[track][level - 1]
    assert (task["name"], task["role"], task["counterpart_role"]) == (LEVEL_TASK[role], role, counterpart)
    routed = [h for h in api.instance(instance_id)["history"] if h["kind"] == "routed"][-1]
    assert routed["data"]["initiates"] == initiates
    assert routed["data"]["final_level"] is (level == len(LADDERS[track]))
    result = api.complete(task["id"], meeting("resolved"))
    assert result["status"] == "resolved" and result["end_reason"] == "Conflict resolved"


@pytest.mark.parametrize("track", ["A", "B", "C"])
def test_no_agreement_at_the_top_of_each_ladder_closes(api, track):
    instance_id = api.start(PROTOCOL, {**START, "track": track})["id"]
    top = climb(api, instance_id, len(LADDERS[track]) - 1)
    assert top["role"] == LADDERS[track][-1][0]
    result = api.complete(top["id"], meeting("unresolved"))
    assert result["status"] == "closed"
    assert result["end_reason"] == "Closed – no agreement at the last step of the ladder"
    levels = [h["data"]["level"] for h in result["history"] if h["kind"] == "escalated"]
    assert levels == list(range(2, len(LADDERS[track]) + 1))


@pytest.mark.parametrize("track,violation,report_to,review_task", [
    ("A", "policy", "Quality Assurance Department", "qa_review"),
    ("B", "licensing", "Quality Assurance Department", "qa_review"),
    ("C", "licensing", "Provider Network", "network_review"),
    ("C", "policy_and_licensing", "Provider Network", "network_review"),
    ("C", "policy", "Quality Assurance Department", "qa_review"),
])
def test_violation_flagged_at_start_is_reported_where_the_table_says(api, track, violation, report_to, review_task):
    instance_id = api.start(PROTOCOL, {**START, "track": track, "violation": violation})["id"]
    reported = [h for h in api.instance(instance_id)["history"] if h["kind"] == "violation_reported"]
    assert len(reported) == 1
    data = reported[0]["data"]
    assert (data["violation"], data["report_to"], data["track"], data["level"]) == (violation, report_to, track, 1)
    assert data["recipients"] == report_to and data["sent_to"] == ["tester"]  # the reviewing department
    review = api.ready(instance_id, review_task)
    assert review["role"] == report_to
    level_task(api, instance_id)  # the conflict resolution goes on alongside the review
    api.complete(review["id"], {"review_notes": "Checked against the policy.", "review_action": "corrective_action"})
    assert api.instance(instance_id)["status"] == "running"


def test_violation_flagged_at_a_later_level(api):
    instance_id = api.start(PROTOCOL, {**START, "track": "B"})["id"]
    assert "violation_reported" not in api.kinds(instance_id)
    api.complete(level_task(api, instance_id)["id"], meeting("unresolved"))
    api.complete(level_task(api, instance_id)["id"], meeting("unresolved", violation="policy"))
    reported = [h for h in api.instance(instance_id)["history"] if h["kind"] == "violation_reported"]
    assert [(r["data"]["level"], r["data"]["report_to"]) for r in reported] == [(2, "Quality Assurance Department")]
    assert level_task(api, instance_id)["role"] == "Wraparound Liaison"
    assert api.ready(instance_id, "qa_review")["role"] == "Quality Assurance Department"


def test_reminders_every_5_working_days_on_the_wisconsin_calendar(api, clock):
    clock.move_to(chicago(2026, 11, 23, 9, 0))  # Monday; Thursday 26 November is Thanksgiving
    instance_id = api.start(PROTOCOL, START)["id"]
    task = level_task(api, instance_id)
    assert task["due_at"] is None  # reminders are not deadlines
    assert api.instance(instance_id)["next_deadline_at"] == "2026-12-01T15:00:00+00:00"  # Tue 1 Dec 09:00 CST
    clock.move_to(chicago(2026, 11, 30, 17, 0))
    api.sweep()
    assert "reminder" not in api.kinds(instance_id)
    clock.move_to(chicago(2026, 12, 1, 9, 30))
    api.sweep()
    history = api.instance(instance_id)["history"]
    assert [h["task"] for h in history if h["kind"] == "reminder"] == ["Level 1 – Care Coordinator meets the other party"]
    assert [(h["task"], h["data"]["recipients"]) for h in history if h["kind"] == "notification_sent"] == \
        [("Reminder sent", "Care Coordinator")]
    assert api.instance(instance_id)["next_deadline_at"] == "2026-12-08T15:30:00+00:00"  # 5 working days later
    clock.move_to(chicago(2026, 12, 8, 10, 0))
    api.sweep()
    assert api.kinds(instance_id).count("reminder") == 2
    api.complete(task["id"], meeting("resolved"))
    assert api.instance(instance_id)["status"] == "resolved"


def test_bad_input_is_refused_and_changes_nothing(api):
    body = api.start(PROTOCOL, {**START, "track": "D"}, expect=400)
    assert body["fields"] == {"track": "Choose one of: A, B, C"}
    instance_id = api.start(PROTOCOL, START)["id"]
    before = api.instance(instance_id)
    body = api.complete(level_task(api, instance_id)["id"], {"outcome": "resolved", "violation": "maybe"}, expect=400)
    assert body["fields"] == {"meeting_date": "This field is required", "participants": "This field is required",
                              "notes": "This field is required",
                              "violation": "Choose one of: none, policy, licensing, policy_and_licensing"}
    assert api.instance(instance_id) == before
