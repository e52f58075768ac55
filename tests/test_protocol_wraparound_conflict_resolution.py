"""Wraparound Milwaukee #010 system and provider conflict resolution (seed 000) through the JSON API.

Every role is held by a different person with a real line manager, in Wraparound Milwaukee and in the other
system or provider (one management chain per agency), so the tests prove who receives each task and notice.
"""
from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from conftest import make_chain, make_user
from workflow_app.extensions import db
from workflow_app.persistence.models import OutboxMessage
from workflow_app.services import people

PROTOCOL = "wraparound_conflict_resolution"
CHICAGO = ZoneInfo("America/Chicago")
WRAP = "Wraparound Milwaukee"
OTHER = {"A": "Milwaukee County Human Services", "B": "DMCPS", "C": "Network Provider X"}

# Management chains, bottom up: each person's line manager is the next one.
WRAP_CHAIN = [("cc.terry", ["Care Coordinator"]), ("sup.wendy", ["Wraparound Supervisor"]),
              ("liaison.lee", ["Wraparound Liaison"]), ("deputy.dana", ["Wraparound Deputy Director"])]
OTHER_CHAINS = {
    "A": [("hsw.robin", ["Human Service Worker"]), ("hsws.sam", ["Human Service Worker Supervisor"]),
          ("section.sara", ["Section Manager"]), ("dcsd.dan", ["Delinquency and Court Services Division Manager"])],
    "B": [("dmcps.casey", ["DMCPS Case Manager"]), ("dmcps.sup", ["DMCPS Supervisor"]),
          ("dmcps.pm", ["DMCPS Program Manager or Lead Supervisor"]), ("dmcps.site", ["DMCPS Site Manager"])],
    # the provider's Supervisor has a manager too: track C must not climb to them
    "C": [("provider.pat", ["Network Provider"]), ("provider.sup", ["Supervisor of the Provider"]),
          ("provider.head", ["Provider Director"])],
}
NEUTRAL = [("admin.alex", "Wraparound Administrative Staff"), ("qa.quinn", "Quality Assurance Department"),
           ("network.nora", "Provider Network")]

# (raising task, other side's task, Wraparound role, other side's role, Wraparound holder, other side's holder)
LEVELS = {
    "A": [("level_care_coordinator", "level_1_counterpart", "Care Coordinator", "Human Service Worker",
           "cc.terry", "hsw.robin"),
          ("level_supervisor", "level_2_counterpart", "Wraparound Supervisor", "Human Service Worker Supervisor",
           "sup.wendy", "hsws.sam"),
          ("level_liaison", "level_3_counterpart", "Wraparound Liaison", "Section Manager", "liaison.lee", "section.sara"),
          ("level_deputy_director", "level_4_counterpart", "Wraparound Deputy Director",
           "Delinquency and Court Services Division Manager", "deputy.dana", "dcsd.dan")],
    "B": [("level_care_coordinator", "level_1_counterpart", "Care Coordinator", "DMCPS Case Manager",
           "cc.terry", "dmcps.casey"),
          ("level_supervisor", "level_2_counterpart", "Wraparound Supervisor", "DMCPS Supervisor", "sup.wendy", "dmcps.sup"),
          ("level_liaison", "level_3_counterpart", "Wraparound Liaison", "DMCPS Program Manager or Lead Supervisor",
           "liaison.lee", "dmcps.pm"),
          ("level_deputy_director", "level_4_counterpart", "Wraparound Deputy Director", "DMCPS Site Manager",
           "deputy.dana", "dmcps.site")],
    "C": [("level_care_coordinator", "level_1_counterpart", "Care Coordinator", "Network Provider",
           "cc.terry", "provider.pat"),
          ("level_supervisor", "level_2_counterpart", "Wraparound Supervisor", "Supervisor of the Provider",
           "sup.wendy", "provider.sup"),
          # C3: 'the parties involved' are the same two Supervisors
          ("level_3c_supervisor", "level_3c_counterpart", "Wraparound Supervisor", "Supervisor of the Provider",
           "sup.wendy", "provider.sup")],
}
INITIATES = {
    "A": ["Both meet", "Human Service Worker Supervisor", "Section Manager",
          "Delinquency and Court Services Division Manager"],
    "B": ["Both meet", "DMCPS Supervisor", "DMCPS Program Manager or Lead Supervisor", "DMCPS Site Manager"],
    "C": ["Both meet (the Child & Family Team is called together if the issue requires it)",
          "Either Supervisor makes contact", "The parties involved contact the Wraparound Administrative Staff"],
}
REFERRALS = {  # the notice sent when the conflict is referred to level 2, 3, 4
    "A": ["Both Supervisors notified, with all relevant information",
          "Liaison and the other side's manager notified, with all relevant information",
          "Deputy Director and the other side's manager notified, with all relevant information"],
    "C": ["Both Supervisors notified, with all relevant information",
          "The parties contact the Administrative staff, with all relevant information"],
}
REFERRALS["B"] = REFERRALS["A"]
SCOPE = ("Policy #010 is for a conflict between Wraparound Milwaukee and another system or provider: choose Wraparound "
         "Milwaukee as your agency and the other agency as the other system or provider.")
# A start form for other test modules (call create_agencies() first).
START = {"case_reference": "WRAP-12", "track": "A", "raising_agency": WRAP, "counterpart_agency": OTHER["A"],
         "issue": "Disagreement about the safety plan."}
STAGE_TASKS = {t for levels in LEVELS.values() for level in levels for t in level[:2]} | {"level_admin_staff"}


def create_agencies() -> None:
    """Wraparound Milwaukee and the three other systems or providers (START needs them)."""
    for name in (WRAP, *OTHER.values()):
        people.get_or_create_agency(name)
    db.session.commit()


@pytest.fixture
def org(api):
    """Wraparound Milwaukee and the three other systems/providers, each with its own management chain."""
    create_agencies()
    make_chain(WRAP, WRAP_CHAIN)
    for track, chain in OTHER_CHAINS.items():
        make_chain(OTHER[track], chain)
    for username, role in NEUTRAL:  # Wraparound Milwaukee's departments serve every escalation
        make_user(username, roles=[role], email=f"{username}@example.org")
    return api


def chicago(*args) -> datetime:
    return datetime(*args, tzinfo=CHICAGO)


def start_data(track: str = "A", **extra) -> dict:
    return {"case_reference": "WRAP-12", "track": track, "raising_agency": WRAP, "counterpart_agency": OTHER[track],
            "counterpart_person": OTHER_CHAINS[track][0][0], "issue": "Disagreement about the safety plan.", **extra}


def start(api, track: str = "A", **extra) -> int:
    return api.as_user("cc.terry").start(PROTOCOL, start_data(track, **extra))["id"]


def wrap_says(outcome: str, final: bool = False, **extra) -> dict:
    data = {"meeting_date": "2026-12-01", "participants": "Both parties", "outcome": outcome,
            "notes": "Agreed next steps." if outcome == "resolved" else "Wraparound position unchanged."}
    if outcome == "unresolved" and not final:
        data["relevant_information"] = "Wraparound: safety plan dated 20 November, visit notes."
    return {**data, **extra}


def other_says(outcome: str, final: bool = False, **extra) -> dict:
    data = {"counterpart_meeting_date": "2026-12-01", "counterpart_outcome": outcome,
            "counterpart_notes": "Agreed next steps." if outcome == "resolved" else "Our position unchanged."}
    if outcome == "unresolved" and not final:
        data["counterpart_relevant_information"] = "Other side: court order and case plan."
    return {**data, **extra}


def ready(api, instance_id: int) -> dict[str, dict]:
    return {t["name"]: t for t in api.instance(instance_id)["ready_tasks"]}


def inbox(api, username: str) -> set[str]:
    return {t["id"] for t in api.as_user(username).request("GET", "/api/tasks?view=mine")}


def history(api, instance_id: int, kind: str) -> list[dict]:
    return [h for h in api.instance(instance_id)["history"] if h["kind"] == kind]


def level_pair(api, instance_id: int, track: str, n: int) -> tuple[dict, dict]:
    """Both sides' tasks at level ``n``: each assigned to the person the chain names, in that person's inbox."""
    r_el, c_el, r_role, c_role, r_user, c_user = LEVELS[track][n - 1]
    tasks = ready(api, instance_id)
    assert STAGE_TASKS & set(tasks) == {r_el, c_el} | ({"level_admin_staff"} if r_el == "level_3c_supervisor" else set())
    r, c = tasks[r_el], tasks[c_el]
    assert (r["party"], r["agency"], r["role"], r["assigned_to"]) == ("raising", WRAP, r_role, r_user)
    assert (c["party"], c["agency"], c["role"], c["assigned_to"]) == ("counterpart", OTHER[track], c_role, c_user)
    assert r["counterpart_role"] == c_role
    assert r["id"] in inbox(api, r_user) and c["id"] in inbox(api, c_user)
    assert r["due_at"] is None and c["due_at"] is None  # the policy sets no deadlines: reminders only
    return r, c


def both_unresolved(api, instance_id: int, track: str, n: int, final: bool = False) -> dict:
    r, c = level_pair(api, instance_id, track, n)
    api.as_user(LEVELS[track][n - 1][4]).complete(r["id"], wrap_says("unresolved", final))
    if n == 3 and track == "C":
        admin = ready(api, instance_id)["level_admin_staff"]
        api.as_user("admin.alex").complete(admin["id"], assistance())
    return api.as_user(LEVELS[track][n - 1][5]).complete(c["id"], other_says("unresolved", final))


def climb(api, instance_id: int, track: str, levels: int) -> None:
    for n in range(1, levels + 1):
        both_unresolved(api, instance_id, track, n)


def assistance() -> dict:
    return {"assistance_date": "2026-12-03", "assistance_given": "Met both Supervisors; proposed a joint review."}


# -- the ladders --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("track", ["A", "B"])
def test_both_sides_act_at_every_level_and_each_chain_climbs_person_by_person(org, api, track):
    instance_id = start(api, track)
    for n in range(1, 5):
        r, c = level_pair(api, instance_id, track, n)
        r_user, c_user = LEVELS[track][n - 1][4:]
        final = n == 4
        # nobody else may act for either side
        other_person = LEVELS[track][n % 4][4]
        api.as_user(other_person).complete(r["id"], wrap_says("unresolved", final), expect=403)
        api.as_user(r_user).complete(r["id"], wrap_says("unresolved", final))
        assert STAGE_TASKS & set(ready(api, instance_id)) == {c["name"]}  # the level waits for the other side
        result = api.as_user(c_user).complete(c["id"], other_says("unresolved", final))
        if final:
            break
        notice = [h for h in history(api, instance_id, "notification_sent") if h["task"] == REFERRALS[track][n - 1]]
        assert len(notice) == 1
        data = notice[0]["data"]
        next_r, next_c = LEVELS[track][n][4:]
        assert sorted(data["sent_to"]) == sorted([next_r, next_c])  # each side's next rung, no one else
        assert data["recipients"] == "@raising_manager, @counterpart_manager"
        assert data["relevant_information"] == "Wraparound: safety plan dated 20 November, visit notes."
        assert data["counterpart_relevant_information"] == "Other side: court order and case plan."
        assert data["counterpart_role"] == LEVELS[track][n][3] and data["level"] == n + 1
    assert result["status"] == "closed", (result["ready_tasks"], result["history"][-6:])
    assert result["end_reason"] == "Closed – no agreement at the last step of the ladder"
    assert [h["data"]["level"] for h in result["history"] if h["kind"] == "escalated"] == [2, 3, 4]
    done = [(h["actor"], h["party"]) for h in result["history"] if h["kind"] == "task_completed"]
    assert done == [(who, side) for level in LEVELS[track] for who, side in ((level[4], "raising"), (level[5], "counterpart"))]
    assert len({who for who, _ in done}) == 8  # eight different people, climbing two chains


def test_track_c_parties_involved_contact_the_administrative_staff(org, api):
    instance_id = start(api, "C")
    climb(api, instance_id, "C", 2)
    notice = [h for h in history(api, instance_id, "notification_sent") if h["task"] == REFERRALS["C"][1]][0]["data"]
    assert notice["sent_to"] == ["admin.alex"] and notice["recipients"] == "Wraparound Administrative Staff"
    assert notice["relevant_information"] and notice["counterpart_relevant_information"]
    # the same two Supervisors (not their managers) and the Administrative staff act at Level 3
    r, c = level_pair(api, instance_id, "C", 3)
    admin = ready(api, instance_id)["level_admin_staff"]
    assert (admin["party"], admin["role"], admin["assigned_to"]) == (None, "Wraparound Administrative Staff", "admin.alex")
    assert admin["id"] in inbox(api, "admin.alex")
    assert not inbox(api, "liaison.lee") and not inbox(api, "provider.head")
    api.as_user("sup.wendy").complete(r["id"], wrap_says("unresolved", final=True))
    api.as_user("provider.sup").complete(c["id"], other_says("unresolved", final=True))
    assert api.instance(instance_id)["status"] == "running"  # waits for the Administrative staff's record
    result = api.as_user("admin.alex").complete(admin["id"], assistance())
    assert result["status"] == "closed", (result["ready_tasks"], result["history"][-6:])
    assert result["end_reason"] == "Closed – no agreement at the last step of track C"
    assert [h["data"]["level"] for h in result["history"] if h["kind"] == "escalated"] == [2, 3]


CASES = [(track, level) for track, ladder in LEVELS.items() for level in range(1, len(ladder) + 1)]


@pytest.mark.parametrize("track,level", CASES)
def test_each_track_resolved_at_each_level_when_both_sides_agree(org, api, track, level):
    instance_id = start(api, track)
    climb(api, instance_id, track, level - 1)
    routed = [h["data"] for h in history(api, instance_id, "routed") if h["data"]["decision"] == "wraparound_ladder"][-1]
    assert routed["initiates"] == INITIATES[track][level - 1]
    assert routed["counterpart_role"] == LEVELS[track][level - 1][3]
    assert routed["final_level"] is (level == len(LEVELS[track]))
    r, c = level_pair(api, instance_id, track, level)
    api.as_user(LEVELS[track][level - 1][4]).complete(r["id"], wrap_says("resolved"))
    if track == "C" and level == 3:
        api.as_user("admin.alex").complete(ready(api, instance_id)["level_admin_staff"]["id"], assistance())
    result = api.as_user(LEVELS[track][level - 1][5]).complete(c["id"], other_says("resolved"))
    assert result["status"] == "resolved"
    expected = ("Conflict resolved with the Administrative staff's assistance" if (track, level) == ("C", 3)
                else f"Conflict resolved at Level {level}")
    assert result["end_reason"] == expected


@pytest.mark.parametrize("wrap,other", [("resolved", "unresolved"), ("unresolved", "resolved")])
def test_no_agreement_unless_both_sides_record_it(org, api, wrap, other):
    instance_id = start(api, "B")
    r, c = level_pair(api, instance_id, "B", 1)
    api.as_user("cc.terry").complete(r["id"], wrap_says(wrap))
    api.as_user("dmcps.casey").complete(c["id"], other_says(other))
    assert api.instance(instance_id)["status"] == "running"
    level_pair(api, instance_id, "B", 2)  # DMCPS Supervisor and Wraparound Supervisor, each with their task
    notice = history(api, instance_id, "notification_sent")[-1]["data"]
    assert sorted(notice["sent_to"]) == ["dmcps.sup", "sup.wendy"]
    side_info = "relevant_information" if wrap == "unresolved" else "counterpart_relevant_information"
    assert notice[side_info]  # the side that saw no agreement gave its relevant information
    assert notice["notes"] and notice["counterpart_notes"]  # and both sides' accounts go with it


# -- evidence -----------------------------------------------------------------------------------------------------

def test_no_referral_without_the_relevant_information_reminders_included(org, api, clock):
    clock.move_to(chicago(2026, 12, 1, 9, 0))
    instance_id = start(api, "A")
    r, c = level_pair(api, instance_id, "A", 1)
    before = api.instance(instance_id)
    body = api.as_user("cc.terry").complete(r["id"], wrap_says("unresolved", relevant_information=""), expect=400)
    assert list(body["fields"]) == ["relevant_information"] and body["fields"]["relevant_information"].startswith(
        "Required when Outcome is 'No agreement")
    body = api.as_user("hsw.robin").complete(c["id"], other_says("unresolved", counterpart_relevant_information=""),
                                             expect=400)
    assert list(body["fields"]) == ["counterpart_relevant_information"]
    assert api.instance(instance_id) == before
    # time passing (reminders firing for weeks) never refers the conflict without it
    for day in (8, 15, 22, 29):
        clock.move_to(chicago(2026, 12, day, 10, 0))
        api.sweep()
    assert "escalated" not in api.kinds(instance_id)
    assert STAGE_TASKS & set(ready(api, instance_id)) == {"level_care_coordinator", "level_1_counterpart"}
    api.as_user("cc.terry").complete(r["id"], wrap_says("unresolved"))
    api.as_user("hsw.robin").complete(c["id"], other_says("unresolved"))
    assert [h["data"]["level"] for h in history(api, instance_id, "escalated")] == [2]


def test_last_level_has_no_referral_and_needs_no_referral_information(org, api):
    instance_id = start(api, "A")
    climb(api, instance_id, "A", 3)
    r, c = level_pair(api, instance_id, "A", 4)
    names = {f["name"] for f in r["form"]["fields"]} | {f["name"] for f in c["form"]["fields"]}
    assert "relevant_information" not in names and "counterpart_relevant_information" not in names
    body = api.as_user("deputy.dana").complete(r["id"], {"outcome": "unresolved"}, expect=400)
    assert set(body["fields"]) == {"meeting_date", "participants", "notes"}


# -- the Note: violations -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("track,violation,report_to,review_task,reviewer", [
    ("A", "policy", "Quality Assurance Department", "qa_review", "qa.quinn"),
    ("B", "licensing", "Quality Assurance Department", "qa_review", "qa.quinn"),
    ("C", "licensing", "Provider Network", "network_review", "network.nora"),
    ("C", "policy_and_licensing", "Provider Network", "network_review", "network.nora"),
    ("C", "policy", "Quality Assurance Department", "qa_review", "qa.quinn"),
])
def test_violation_flagged_at_start_is_reported_where_the_table_says(org, api, track, violation, report_to, review_task,
                                                                     reviewer):
    instance_id = start(api, track, violation=violation)
    reported = history(api, instance_id, "violation_reported")
    assert len(reported) == 1
    data = reported[0]["data"]
    assert (data["violation"], data["report_to"], data["track"], data["level"]) == (violation, report_to, track, 1)
    assert data["recipients"] == report_to and data["sent_to"] == [reviewer]
    review = ready(api, instance_id)[review_task]
    assert (review["role"], review["assigned_to"]) == (report_to, reviewer) and review["id"] in inbox(api, reviewer)
    level_pair(api, instance_id, track, 1)  # the conflict resolution goes on alongside the review
    api.as_user(reviewer).complete(review["id"], {"review_notes": "Checked against the policy.",
                                                  "review_action": "corrective_action"})
    assert api.instance(instance_id)["status"] == "running"


@pytest.mark.parametrize("track,report_to,reviewer", [("B", "Quality Assurance Department", "qa.quinn"),
                                                      ("C", "Provider Network", "network.nora")])
def test_either_side_flags_a_violation_at_a_later_level(org, api, track, report_to, reviewer):
    instance_id = start(api, track)
    assert "violation_reported" not in api.kinds(instance_id)
    climb(api, instance_id, track, 1)
    r, c = level_pair(api, instance_id, track, 2)
    api.as_user("sup.wendy").complete(r["id"], wrap_says("unresolved"))
    api.as_user(LEVELS[track][1][5]).complete(c["id"], other_says("unresolved", counterpart_violation="licensing"))
    reported = history(api, instance_id, "violation_reported")
    assert [(h["data"]["level"], h["data"]["violation"], h["data"]["counterpart_violation"], h["data"]["report_to"],
             h["data"]["sent_to"]) for h in reported] == [(2, "none", "licensing", report_to, [reviewer])]
    level_pair(api, instance_id, track, 3)
    review = [t for t in api.instance(instance_id)["ready_tasks"] if t["role"] == report_to]
    assert [t["assigned_to"] for t in review] == [reviewer]


# -- reminders (the policy sets no deadline) ------------------------------------------------------------------------

def test_reminders_every_5_working_days_reach_both_sides_holders(org, api, clock):
    clock.move_to(chicago(2026, 11, 23, 9, 0))  # Monday; Thursday 26 November is Thanksgiving
    instance_id = start(api, "A")
    level_pair(api, instance_id, "A", 1)
    assert api.instance(instance_id)["next_deadline_at"] == "2026-12-01T15:00:00+00:00"  # Tue 1 Dec 09:00 CST
    clock.move_to(chicago(2026, 11, 30, 17, 0))
    api.sweep()
    assert "reminder" not in api.kinds(instance_id)
    clock.move_to(chicago(2026, 12, 1, 9, 30))
    api.sweep()
    reminded = [h for h in history(api, instance_id, "notification_sent") if h["task"] == "Reminder sent"]
    assert sorted((h["data"]["recipients"], tuple(h["data"]["sent_to"])) for h in reminded) == [
        ("@counterpart", ("hsw.robin",)), ("@raising", ("cc.terry",))]
    assert len(history(api, instance_id, "reminder")) == 2
    assert api.instance(instance_id)["next_deadline_at"] == "2026-12-08T15:30:00+00:00"  # 5 working days later
    clock.move_to(chicago(2026, 12, 2, 9, 0))
    both_unresolved(api, instance_id, "A", 1)  # Level 2 opens on Wednesday 2 December
    clock.move_to(chicago(2026, 12, 8, 10, 0))
    api.sweep()  # the Level 1 reminders ended with their tasks; Level 2's fall on Wednesday 9 December
    assert len(history(api, instance_id, "reminder")) == 2
    clock.move_to(chicago(2026, 12, 9, 10, 0))
    api.sweep()
    reminded = [h for h in history(api, instance_id, "notification_sent") if h["task"] == "Reminder sent"][2:]
    assert sorted(tuple(h["data"]["sent_to"]) for h in reminded) == [("hsws.sam",), ("sup.wendy",)]
    assert api.instance(instance_id)["status"] == "running" and "escalated" in api.kinds(instance_id)
    assert [h["data"]["level"] for h in history(api, instance_id, "escalated")] == [2]  # reminders never escalate


# -- the start form -------------------------------------------------------------------------------------------------

def test_provider_without_an_account_responds_by_email_link_and_their_supervisor_takes_level_2(org, api):
    instance_id = start(api, "C", counterpart_person="", counterpart_contact_name="Pat Provider",
                        counterpart_contact_email="pat@provider-x.example")
    task = ready(api, instance_id)["level_1_counterpart"]
    assert (task["party"], task["agency"], task["role"]) == ("counterpart", "Network Provider X", "Network Provider")
    assert task["assigned_to"] is None
    assert task["external_contact"] == {"name": "Pat Provider", "email": "pat@provider-x.example"}
    assert task["id"] not in inbox(api, "provider.pat")
    message = db.session.query(OutboxMessage).filter_by(recipient_email="pat@provider-x.example",
                                                         kind="external_task").one()
    path = re.search(r"(/respond/\S+)", message.body).group(1)
    anonymous = api.client
    missing = anonymous.post(path, data={**other_says("unresolved"), "counterpart_relevant_information": ""})
    assert missing.status_code == 400  # no referral without the relevant information, by link too
    done = anonymous.post(path, data={**other_says("unresolved"), "counterpart_violation": "none"})
    assert done.status_code == 200
    api.as_user("cc.terry").complete(ready(api, instance_id)["level_care_coordinator"]["id"], wrap_says("unresolved"))
    tasks = ready(api, instance_id)
    assert tasks["level_supervisor"]["assigned_to"] == "sup.wendy"
    # the contact's line manager is not known: the only Supervisor of the Provider in that agency takes it
    assert (tasks["level_2_counterpart"]["assigned_to"], tasks["level_2_counterpart"]["agency"]) == (
        "provider.sup", "Network Provider X")
    assigned = [h["data"] for h in history(api, instance_id, "task_assigned")
                if h["task"] == tasks["level_2_counterpart"]["title"]]
    assert assigned[0].get("chain_ran_out") is True
    notice = [h for h in history(api, instance_id, "notification_sent") if h["task"] == REFERRALS["C"][0]][0]["data"]
    assert "sup.wendy" in notice["sent_to"]
    assert notice["counterpart_relevant_information"] == "Other side: court order and case plan."


def test_bad_input_is_refused_and_changes_nothing(org, api):
    body = api.as_user("cc.terry").start(PROTOCOL, {**start_data("A"), "track": "D"}, expect=400)
    assert body["fields"] == {"track": "Choose one of: A, B, C"}
    body = api.as_user("cc.terry").start(PROTOCOL, start_data("A", counterpart_agency=WRAP), expect=400)
    assert SCOPE in str(body)  # a conflict between Wraparound Milwaukee and another system or provider
    instance_id = start(api, "A")
    before = api.instance(instance_id)
    r, _ = level_pair(api, instance_id, "A", 1)
    body = api.as_user("cc.terry").complete(r["id"], {"outcome": "resolved", "violation": "maybe"}, expect=400)
    assert body["fields"] == {"meeting_date": "This field is required", "participants": "This field is required",
                              "notes": "This field is required",
                              "violation": "Choose one of: none, policy, licensing, policy_and_licensing"}
    assert api.instance(instance_id) == before
