"""The case manager's role in conflict resolution (seed 004): the case manager mediates between the client and
family (raising side, usually an e-mail contact without an account) and the service provider (the other side),
or advocates for the client. Every role is held by a different person in two agencies with real line managers."""
from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from conftest import make_chain, make_user
from workflow_app.extensions import db
from workflow_app.persistence.models import OutboxMessage
from workflow_app.services import people

PROTOCOL = "case_manager_mediation"
EASTERN = ZoneInfo("America/New_York")
CMA, PROVIDER = "Lakeside Case Management", "Riverside Supported Living"
CLIENT = {"name": "Alex Kim", "email": "alex.kim@family.example"}  # the client's mother, no account
START = {"case_reference": "CM-5", "client_name": "Jordan Kim", "cm_role": "mediator",
         "conflict_type": "miscommunication", "description": "Staff and client disagree about curfew.",
         "case_manager_agency": CMA, "client_contact_name": CLIENT["name"], "client_contact_email": CLIENT["email"],
         "provider": PROVIDER, "provider_person": "pat.staff"}
MEETING = {"meeting_date": "2026-12-04", "parties": "Jordan, Alex Kim (mother), Pat (key worker), case manager",
           "meeting_form": "face_to_face"}
CLIENT_CONCERNS = {"client_concerns": "The curfew is too early and staff shout.", "client_wishes": "22:00 at weekends."}
PROVIDER_CONCERNS = {"provider_concerns": "Jordan comes back late and unsafe at night."}
DISCUSSION = {"source": "miscommunication", "discussion_notes": "Texts by 20:00; weekly check-in."}
SOLUTIONS = {"issues": [{"issue": "Curfew time", "solution": "Agree 22:00 on weekends"},
                        {"issue": "Late notice", "solution": "Text staff by 20:00"}],
             "goals": "Fewer incidents.", "follow_up_working_days": 3}
CLIENT_AGREES = {"outcome": "resolved"}
PROVIDER_AGREES = {"counterpart_outcome": "resolved"}
CLIENT_RESOLVED = {"client_progress": "No arguments since the meeting.", "outcome": "resolved"}
PROVIDER_RESOLVED = {"provider_progress": "Back on time every night.", "counterpart_outcome": "resolved"}


def eastern(*args) -> datetime:
    return datetime(*args, tzinfo=EASTERN)


@pytest.fixture
def org(api):
    """The case management agency (the case manager, a care team member, their lead) and the provider agency
    (a key worker and her manager, who also holds the Service Provider role); the client's mother has no account."""
    people.get_or_create_agency(CMA)
    people.get_or_create_agency(PROVIDER)
    db.session.commit()
    make_chain(CMA, [("casey.cm", ["Case Manager"]), ("morgan.lead", [])])
    make_user("tara.team", roles=["Care Team"], agency=CMA, line_manager="morgan.lead", email="tara.team@example.org")
    make_chain(PROVIDER, [("pat.staff", ["Service Provider"]), ("lee.manager", ["Service Provider"])])
    return api.as_user("casey.cm")


# -- helpers -------------------------------------------------------------------------------------------

def tasks(api, instance_id) -> dict[str, dict]:
    return {t["name"]: t for t in api.instance(instance_id)["ready_tasks"]}


def inbox(api, username) -> set[tuple[int, str]]:
    return {(t["instance_id"], t["name"]) for t in api.as_user(username).request("GET", "/api/tasks?view=mine")}


def history(api, instance_id, kind=None, element=None) -> list[dict]:
    return [h for h in api.instance(instance_id)["history"]
            if (kind is None or h["kind"] == kind) and (element is None or h.get("element_id") == element)]


def as_case_manager(api, instance_id, element, data, username="casey.cm", expect=200):
    """The case manager's task: it is theirs (assigned and in their inbox), and they complete it."""
    task = tasks(api, instance_id)[element]
    assert (task["party"], task["assigned_to"], task["role"]) == (None, username, "Case Manager"), task
    assert (instance_id, element) in inbox(api, username)
    return api.as_user(username).complete(task["id"], data, expect=expect)


def as_provider(api, instance_id, element, data, expect=200):
    """The provider's task: always the key worker named on the start form (no management ladder here)."""
    task = tasks(api, instance_id)[element]
    assert (task["party"], task["agency"], task["assigned_to"], task["role"]) == (
        "counterpart", PROVIDER, "pat.staff", "Service Provider"), task
    assert (instance_id, element) in inbox(api, "pat.staff")
    assert not {name for _, name in inbox(api, "lee.manager")}  # her line manager is never asked
    return api.as_user("pat.staff").complete(task["id"], data, expect=expect)


def link_for(instance_id: int, title: str) -> str:
    """The newest single-use link e-mailed to the client's mother for a task with this title."""
    message = (db.session.query(OutboxMessage)
               .filter(OutboxMessage.recipient_email == CLIENT["email"], OutboxMessage.kind == "external_task",
                       OutboxMessage.subject == f"Please respond: {title} – escalation #{instance_id}")
               .order_by(OutboxMessage.id.desc()).first())
    assert message is not None, f"no link e-mailed for {title}"
    return re.search(r"(/respond/\S+)", message.body).group(1)


def as_client(app, api, instance_id, element, data, expect=200) -> str:
    """The client's task: reaches the client's mother by e-mail link (she has no account)."""
    task = tasks(api, instance_id)[element]
    assert (task["party"], task["assigned_to"], task["external_contact"]) == ("raising", None, CLIENT), task
    response = app.test_client().post(link_for(instance_id, task["title"]), data=data)
    assert response.status_code == expect, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def notice(api, instance_id, element) -> dict:
    sent = history(api, instance_id, "notification_sent", element)
    assert sent, f"no notification from {element}"
    return sent[-1]["data"]


def start(api, **extra) -> int:
    return api.start(PROTOCOL, {**START, **extra})["id"]


def until_plan(app, api, instance_id, *, meeting=True):
    if meeting:
        as_case_manager(api, instance_id, "schedule_meeting", MEETING)
        as_provider(api, instance_id, "provider_states_concerns", PROVIDER_CONCERNS)
        as_client(app, api, instance_id, "client_states_concerns", CLIENT_CONCERNS)
        as_case_manager(api, instance_id, "discuss_problems", DISCUSSION)
    as_case_manager(api, instance_id, "develop_solutions", SOLUTIONS)


def until_follow_up(app, api, clock, instance_id, *, meeting=True):
    until_plan(app, api, instance_id, meeting=meeting)
    as_client(app, api, instance_id, "client_agrees_plan", CLIENT_AGREES)
    as_provider(api, instance_id, "provider_agrees_plan", PROVIDER_AGREES)
    assert tasks(api, instance_id) == {}  # waiting for the follow-up date
    clock.shift(days=7)
    api.sweep()


# -- the mediator ------------------------------------------------------------------------------------------

def test_mediation_both_sides_act_at_every_step_and_resolve_it(app, org, clock):
    instance_id = start(org)
    assert org.instance(instance_id)["parties"] == {
        "raising": {"agency": None, "named_person": None, "contact": CLIENT},
        "counterpart": {"agency": PROVIDER, "named_person": "pat.staff", "contact": None}}
    # 1. The case manager who was contacted schedules the meeting; all involved parties are told.
    as_case_manager(org, instance_id, "schedule_meeting", MEETING)
    told = notice(org, instance_id, "meeting_scheduled")
    assert told["sent_to"] == ["pat.staff"] and CLIENT["email"] in told["emailed"] and told["no_one_holds"] == []
    assert told["meeting_date"] == "2026-12-04"
    # 2. Each side states its concerns, in parallel; the discussion waits for both.
    ready = tasks(org, instance_id)
    assert set(ready) == {"client_states_concerns", "provider_states_concerns"}
    as_provider(org, instance_id, "provider_states_concerns", PROVIDER_CONCERNS)
    assert set(tasks(org, instance_id)) == {"client_states_concerns"}
    page = app.test_client().get(link_for(instance_id, ready["client_states_concerns"]["title"]))
    assert page.status_code == 200 and "Your concerns" in page.get_data(as_text=True)
    as_client(app, org, instance_id, "client_states_concerns", CLIENT_CONCERNS)
    as_case_manager(org, instance_id, "discuss_problems", DISCUSSION)
    # 3. Solutions, then both sides agree the plan.
    as_case_manager(org, instance_id, "develop_solutions", SOLUTIONS)
    assert set(tasks(org, instance_id)) == {"client_agrees_plan", "provider_agrees_plan"}
    as_client(app, org, instance_id, "client_agrees_plan", CLIENT_AGREES)
    as_provider(org, instance_id, "provider_agrees_plan", PROVIDER_AGREES)
    # 4. Follow-up after 3 working days: contact with all involved parties, each side reports progress.
    assert tasks(org, instance_id) == {}
    clock.shift(days=7)
    org.sweep()
    contact = notice(org, instance_id, "follow_up_contact")
    assert contact["sent_to"] == ["pat.staff"] and CLIENT["email"] in contact["emailed"]
    assert contact["issues"] == SOLUTIONS["issues"]
    as_client(app, org, instance_id, "client_reports_progress", CLIENT_RESOLVED)
    result = as_provider(org, instance_id, "provider_reports_progress", PROVIDER_RESOLVED)
    assert (result["status"], result["end_reason"]) == ("resolved", "Conflict resolved by mediation")
    counted = [h["data"] for h in history(org, instance_id, element="count_follow_up")]
    assert counted == [{"follow_ups": 1, "outcome": "resolved", "counterpart_outcome": "resolved"}]
    # Both sides' entries are in the history, labelled by party.
    completed = {(h["element_id"], h["party"]) for h in history(org, instance_id, "task_completed")}
    assert {("client_states_concerns", "raising"), ("provider_states_concerns", "counterpart"),
            ("client_agrees_plan", "raising"), ("provider_agrees_plan", "counterpart"),
            ("client_reports_progress", "raising"), ("provider_reports_progress", "counterpart"),
            ("schedule_meeting", None), ("discuss_problems", None), ("develop_solutions", None)} == completed
    client_actor = next(h["actor"] for h in history(org, instance_id, "task_completed")
                        if h["element_id"] == "client_states_concerns")
    assert CLIENT["name"] in client_actor


def test_a_side_that_does_not_agree_the_plan_says_why_and_the_case_manager_adjusts_it(app, org, clock):
    instance_id = start(org)
    until_plan(app, org, instance_id)
    body = as_provider(org, instance_id, "provider_agrees_plan", {"counterpart_outcome": "unresolved"}, expect=400)
    assert set(body["fields"]) == {"provider_plan_comments"}
    as_provider(org, instance_id, "provider_agrees_plan",
                {"counterpart_outcome": "unresolved", "provider_plan_comments": "22:00 is too late on Sundays."})
    as_client(app, org, instance_id, "client_agrees_plan", CLIENT_AGREES)
    # Not agreed by both: no follow-up is waiting, the case manager decides.
    assert set(tasks(org, instance_id)) == {"plan_not_agreed"}
    assert org.instance(instance_id)["next_deadline_at"] is None
    body = as_case_manager(org, instance_id, "plan_not_agreed", {"next_step": "unresolved"}, expect=400)
    assert set(body["fields"]) == {"efforts_exhausted"}
    as_case_manager(org, instance_id, "plan_not_agreed", {"next_step": "adjust_plan"})
    as_case_manager(org, instance_id, "develop_solutions", SOLUTIONS)
    as_client(app, org, instance_id, "client_agrees_plan", CLIENT_AGREES)
    as_provider(org, instance_id, "provider_agrees_plan", PROVIDER_AGREES)
    assert tasks(org, instance_id) == {} and org.instance(instance_id)["next_deadline_at"] is not None


def test_persistent_problems_then_a_change_of_provider_with_evidence_and_both_sides_acting(app, org, clock):
    instance_id = start(org)
    until_follow_up(app, org, clock, instance_id)
    body = as_client(app, org, instance_id, "client_reports_progress",
                     {"client_progress": "Still arguing.", "outcome": "unresolved"}, expect=400)
    assert "The problems that persist" in body
    as_client(app, org, instance_id, "client_reports_progress",
              {"client_progress": "Still arguing.", "outcome": "unresolved",
               "client_persistent_problems": "Staff still shout."})
    as_provider(org, instance_id, "provider_reports_progress", PROVIDER_RESOLVED)
    as_case_manager(org, instance_id, "follow_up", {"progress": "Client reports shouting.", "next_step": "another_meeting"})
    # Another meeting: all involved parties are told again, and both sides state their concerns again.
    until_follow_up(app, org, clock, instance_id)
    assert len(history(org, instance_id, "notification_sent", "meeting_scheduled")) == 2
    as_client(app, org, instance_id, "client_reports_progress",
              {"client_progress": "No change.", "outcome": "unresolved", "client_persistent_problems": "Shouting."})
    as_provider(org, instance_id, "provider_reports_progress",
                {"provider_progress": "Late again.", "counterpart_outcome": "unresolved",
                 "provider_persistent_problems": "Curfew broken twice."})
    body = as_case_manager(org, instance_id, "follow_up", {"progress": "Both report problems.", "next_step": "unresolved"},
                           expect=400)
    assert set(body["fields"]) == {"efforts_exhausted"}
    assert set(tasks(org, instance_id)) == {"follow_up"}
    as_case_manager(org, instance_id, "follow_up", {"progress": "Both report problems.", "next_step": "unresolved",
                                                    "efforts_exhausted": "Two meetings, a revised plan, weekly calls."})
    as_case_manager(org, instance_id, "coordinate_discharge",
                    {"discharge_date": "2027-01-15", "discharge_notes": "Two weeks' notice agreed."})
    told = notice(org, instance_id, "discharge_notice")
    assert told["sent_to"] == ["pat.staff"] and CLIENT["email"] in told["emailed"]
    assert told["discharge_date"] == "2027-01-15"
    assert set(tasks(org, instance_id)) == {"client_new_provider", "provider_discharge"}
    as_provider(org, instance_id, "provider_discharge",
                {"provider_discharge_date": "2027-01-15", "handover_notes": "Care plan and risk assessment."})
    as_client(app, org, instance_id, "client_new_provider", {"client_needs": "Closer to college."})
    result = as_case_manager(org, instance_id, "find_provider", {"new_provider": "Lakeside Homes",
                                                                 "start_date": "2027-01-15"})
    assert (result["status"], result["end_reason"]) == ("closed", "Closed – service provider changed")
    counted = [h["data"] for h in history(org, instance_id, element="count_follow_up")]
    assert [(c["follow_ups"], c["outcome"], c["counterpart_outcome"]) for c in counted] == [
        (1, "unresolved", "resolved"), (2, "unresolved", "unresolved")]


@pytest.mark.parametrize("conflict_type,source", [("medical", "other"), ("rights", "medical_behavioural")])
def test_medical_and_behavioural_problems_bring_in_the_care_team(app, org, conflict_type, source):
    instance_id = start(org, conflict_type=conflict_type)
    as_case_manager(org, instance_id, "schedule_meeting", MEETING)
    told = notice(org, instance_id, "meeting_scheduled")
    team_told = conflict_type == "medical"  # known from the kind of conflict when the meeting is set
    assert sorted(told["sent_to"]) == (["pat.staff", "tara.team"] if team_told else ["pat.staff"])
    as_provider(org, instance_id, "provider_states_concerns", PROVIDER_CONCERNS)
    as_client(app, org, instance_id, "client_states_concerns", CLIENT_CONCERNS)
    as_case_manager(org, instance_id, "discuss_problems", {**DISCUSSION, "source": source})
    team_task = tasks(org, instance_id)["team_solutions"]
    assert (team_task["role"], team_task["assigned_to"]) == ("Care Team", "tara.team")
    assert (instance_id, "team_solutions") in inbox(org, "tara.team")
    org.as_user("tara.team").complete(team_task["id"], {"team_members": "Psychiatrist, behaviour specialist",
                                                        "team_proposals": "Review medication; de-escalation plan."})
    assert set(tasks(org, instance_id)) == {"develop_solutions"}


def test_no_team_task_for_a_simple_miscommunication(app, org):
    instance_id = start(org)
    as_case_manager(org, instance_id, "schedule_meeting", MEETING)
    as_provider(org, instance_id, "provider_states_concerns", PROVIDER_CONCERNS)
    as_client(app, org, instance_id, "client_states_concerns", CLIENT_CONCERNS)
    as_case_manager(org, instance_id, "discuss_problems", DISCUSSION)
    assert set(tasks(org, instance_id)) == {"develop_solutions"}
    assert not inbox(org, "tara.team")


def test_each_side_answers_within_5_working_days_and_a_late_answer_moves_nothing_on(app, org, clock):
    clock.move_to(eastern(2026, 12, 23, 10, 0))  # Wednesday; Friday 25 December is a federal holiday
    instance_id = start(org)
    as_case_manager(org, instance_id, "schedule_meeting", MEETING)
    ready = tasks(org, instance_id)
    assert {ready[n]["due_at"] for n in ("client_states_concerns", "provider_states_concerns")} == {
        "2026-12-31T10:00:00-05:00"}
    as_provider(org, instance_id, "provider_states_concerns", PROVIDER_CONCERNS)
    clock.move_to(eastern(2026, 12, 31, 9, 59))
    org.sweep()
    assert history(org, instance_id, "deadline_breached") == []
    clock.move_to(eastern(2026, 12, 31, 10, 1))
    org.sweep()
    breached = history(org, instance_id, "deadline_breached")
    assert [(b["element_id"], b["data"]["due_at"]) for b in breached] == [
        ("client_states_concerns", "2026-12-31T10:00:00-05:00")]
    told = notice(org, instance_id, "client_states_concerns_overdue")
    assert told["sent_to"] == ["casey.cm"]
    # The client's task stays open and overdue; the discussion does not start without their concerns.
    ready = tasks(org, instance_id)
    assert set(ready) == {"client_states_concerns"} and ready["client_states_concerns"]["overdue"]
    as_client(app, org, instance_id, "client_states_concerns", CLIENT_CONCERNS)
    assert set(tasks(org, instance_id)) == {"discuss_problems"}


def test_follow_up_waits_the_configured_working_days(app, org, clock):
    clock.move_to(eastern(2026, 12, 23, 10, 0))
    instance_id = start(org)
    until_plan(app, org, instance_id)
    as_client(app, org, instance_id, "client_agrees_plan", CLIENT_AGREES)
    as_provider(org, instance_id, "provider_agrees_plan", PROVIDER_AGREES)
    waiting = org.instance(instance_id)
    assert waiting["ready_tasks"] == [] and waiting["next_deadline_at"] == "2026-12-29T15:00:00+00:00"
    clock.move_to(eastern(2026, 12, 29, 9, 59))
    org.sweep()
    assert tasks(org, instance_id) == {}
    clock.move_to(eastern(2026, 12, 29, 10, 1))
    org.sweep()
    assert set(tasks(org, instance_id)) == {"client_reports_progress", "provider_reports_progress"}
    fired = history(org, instance_id, "timer_fired")
    assert [(f["element_id"], f["data"]["due_at"]) for f in fired] == [("follow_up_wait", "2026-12-29T10:00:00-05:00")]
    # Each side's progress report is due 5 working days after the contact (1 January is a holiday).
    assert {t["due_at"] for t in tasks(org, instance_id).values()} == {"2027-01-06T10:01:00-05:00"}


@pytest.mark.parametrize("first_round,second_round", [("client", "provider"), ("provider", "client")])
def test_every_round_of_the_plan_waits_for_both_sides_again(app, org, first_round, second_round):
    """A loop back to the plan (or the meeting) asks both sides again; one side's answer never stands for both."""
    instance_id = start(org)
    until_plan(app, org, instance_id)
    answers = {"client": lambda: as_client(app, org, instance_id, "client_agrees_plan", CLIENT_AGREES),
               "provider": lambda: as_provider(org, instance_id, "provider_agrees_plan", {
                   "counterpart_outcome": "unresolved", "provider_plan_comments": "Not on Sundays."})}
    answers[first_round]()
    answers[second_round]()
    as_case_manager(org, instance_id, "plan_not_agreed", {"next_step": "adjust_plan"})
    as_case_manager(org, instance_id, "develop_solutions", SOLUTIONS)
    # Second round: whichever side answers first, the other side is still asked and nothing moves on.
    answers[second_round]()
    waiting = "client_agrees_plan" if second_round == "provider" else "provider_agrees_plan"
    assert set(tasks(org, instance_id)) == {waiting}
