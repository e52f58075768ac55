"""Both agencies act: party tasks go to people resolved from the organisation (line-manager chains), never the
same person twice on one side, with a fallback that history explains; e-mail contacts without an account get a
single-use link; recipients are people; scope rules refuse a start. On a small test diagram
(tests/diagrams/parties/two_party_test.bpmn) whose Stage 3 repeats per management level."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import Api, london, make_chain, make_user
from workflow_app.extensions import db
from workflow_app.persistence.models import ExternalLink, OutboxMessage
from workflow_app.services import people

DIAGRAMS = Path(__file__).parent / "diagrams" / "parties"
SCHOOL, CSC = "Northfield Academy", "Children's Social Care"
AGREED = {"date_held": "2026-12-01", "outcome": "resolved", "plan": "Joint visit on Friday."}
ACK_AGREED = {"date_held": "2026-12-01", "counterpart_outcome": "resolved", "counterpart_plan": "Joint visit."}
REFER = {"date_held": "2026-12-01", "outcome": "unresolved", "evidence": "Two calls, one meeting; no agreement."}
ACK_REFER = {"date_held": "2026-12-01", "counterpart_outcome": "unresolved",
             "counterpart_evidence": "We met twice and still disagree."}


@pytest.fixture
def party_app(app_factory, clock, tmp_path):
    (tmp_path / "no_dmn").mkdir()
    return app_factory(BPMN_DIR=DIAGRAMS, DMN_DIR=tmp_path / "no_dmn")


@pytest.fixture
def org(party_app):
    """Two agencies, each with its own chain: professional → line manager → three senior managers."""
    with party_app.app_context():
        make_chain(SCHOOL, [("sam.patel", ["Professional"]), ("mia.lm", ["Line Manager"]),
                            ("sol.sm1", ["Senior Manager"]), ("sue.sm2", ["Senior Manager"]), ("sid.sm3", ["Senior Manager"])])
        make_chain(CSC, [("jo.reed", ["Professional"]), ("cal.lm", ["Line Manager"]),
                         ("cat.sm1", ["Senior Manager"]), ("cyd.sm2", ["Senior Manager"])])
        yield Api(party_app.test_client(), "sam.patel")


def start(api, **extra):
    data = {"case_reference": "P-1", "raising_agency": SCHOOL, "other_agency": CSC, "other_person": "jo.reed", **extra}
    return api.start("two_party_test", data)


def ready(api, instance_id):
    return {t["name"]: t for t in api.instance(instance_id)["ready_tasks"]}


def inbox(api, username):
    return {(t["instance_id"], t["name"]) for t in api.as_user(username).request("GET", "/api/tasks?view=mine")}


def test_both_sides_get_their_own_task_at_stage_1(org):
    instance = start(org)
    tasks = ready(org, instance["id"])
    assert {n: (t["party"], t["assigned_to"], t["agency"]) for n, t in tasks.items()} == {
        "s1_raise": ("raising", "sam.patel", SCHOOL), "s1_ack": ("counterpart", "jo.reed", CSC)}
    assert inbox(org, "jo.reed") == {(instance["id"], "s1_ack")}
    assert inbox(org, "sam.patel") == {(instance["id"], "s1_raise")}
    assigned = [(h["party"], h["data"]["assigned_to"], h["data"]["how"]) for h in instance["history"]
                if h["kind"] == "task_assigned"]
    assert sorted(assigned) == [("counterpart", "jo.reed", "named on the start form"),
                                ("raising", "sam.patel", "raised the escalation")]
    # The other side cannot complete the raising side's task, and vice versa.
    org.as_user("jo.reed").complete(tasks["s1_raise"]["id"], AGREED, expect=403)
    org.complete(tasks["s1_ack"]["id"], ACK_AGREED, expect=403)


def test_plan_is_agreed_only_when_both_sides_confirm(org):
    instance_id = start(org)["id"]
    tasks = ready(org, instance_id)
    after_one = org.complete(tasks["s1_raise"]["id"], AGREED)
    assert after_one["status"] == "running"  # one side's "agreed" is not a mutually agreed plan
    result = org.as_user("jo.reed").complete(tasks["s1_ack"]["id"], ACK_AGREED)
    assert result["status"] == "resolved"
    completed = [(h["party"], h["actor"]) for h in result["history"] if h["kind"] == "task_completed"]
    assert completed == [("raising", "sam.patel"), ("counterpart", "jo.reed")]


def test_either_side_refers_up_and_each_chain_climbs_person_by_person(org):
    instance_id = start(org)["id"]
    tasks = ready(org, instance_id)
    org.complete(tasks["s1_raise"]["id"], AGREED)
    org.as_user("jo.reed").complete(tasks["s1_ack"]["id"], ACK_REFER)  # the other side says unresolved
    tasks = ready(org, instance_id)
    assert {n: t["assigned_to"] for n, t in tasks.items()} == {"s2_raise": "mia.lm", "s2_ack": "cal.lm"}
    assert inbox(org, "cal.lm") == {(instance_id, "s2_ack")}
    # The line managers are told, with the evidence attached.
    told = [h for h in org.instance(instance_id)["history"] if h["kind"] == "notification_sent"][-1]
    assert sorted(told["data"]["sent_to"]) == ["cal.lm", "mia.lm"]
    assert told["data"]["no_one_holds"] == []
    mail = db.session.query(OutboxMessage).filter_by(recipient_email="cal.lm@example.org").one()
    assert "Counterpart evidence: We met twice and still disagree." in mail.body

    org.as_user("mia.lm").complete(tasks["s2_raise"]["id"], REFER)
    org.as_user("cal.lm").complete(tasks["s2_ack"]["id"], ACK_REFER)
    holders = []
    for level in range(3):
        tasks = ready(org, instance_id)
        assert "s3_raise" in tasks, (level, list(tasks), org.instance(instance_id)["history"][-3:])
        holders.append((tasks["s3_raise"]["assigned_to"], tasks["s3_ack"]["assigned_to"]))
        if level < 2:
            org.as_user(holders[-1][0]).complete(tasks["s3_raise"]["id"], {**REFER, "outcome": "refer_higher"})
            if holders[-1][1]:
                org.as_user(holders[-1][1]).complete(tasks["s3_ack"]["id"], ACK_REFER)
    # Each level climbs one rung on each side; the other agency's chain ends after two senior managers.
    assert holders[0] == ("sol.sm1", "cat.sm1")
    assert holders[1] == ("sue.sm2", "cyd.sm2")
    assert holders[2][0] == "sid.sm3"
    # Nobody above cyd.sm2: the chain has run out, so the one other Senior Manager in CSC (the suite's
    # "tester", who holds every role there) gets it — never someone from the other agency.
    assert holders[2][1] == "tester"
    history = org.instance(instance_id)["history"]
    ran_out = [h for h in history if h["kind"] == "task_assigned" and h["data"].get("chain_ran_out")]
    assert len(ran_out) == 1 and ran_out[0]["party"] == "counterpart"
    assert ran_out[0]["data"]["how"] == ("Cyd Sm2 has no line manager recorded; Test User is the only Senior "
                                         "Manager in Children's Social Care")
    # Never the same person twice on one side.
    raising = [h["data"]["assigned_to"] for h in history if h["kind"] == "task_assigned" and h["party"] == "raising"]
    assert raising == ["sam.patel", "mia.lm", "sol.sm1", "sue.sm2", "sid.sm3"]


def test_fallback_goes_to_role_holders_in_that_agency_only(org, party_app):
    """When the chain runs out, the task is available to the role's holders in that side's agency — not the
    other agency's, and not someone who already held a rung on that side."""
    with party_app.app_context():
        make_user("cleo.sm", roles=["Senior Manager"], agency=CSC)
        make_user("other.sm", roles=["Senior Manager"], agency=SCHOOL)
    instance_id = start(org)["id"]
    for raise_as, ack_as in [("sam.patel", "jo.reed"), ("mia.lm", "cal.lm")]:
        tasks = ready(org, instance_id)
        org.as_user(raise_as).complete(tasks[[n for n in tasks if n.endswith("raise")][0]]["id"], REFER)
        org.as_user(ack_as).complete(tasks[[n for n in tasks if n.endswith("ack")][0]]["id"], ACK_REFER)
    for level in range(2):
        tasks = ready(org, instance_id)
        if level == 0:
            org.as_user("sol.sm1").complete(tasks["s3_raise"]["id"], {**REFER, "outcome": "refer_higher"})
            org.as_user("cat.sm1").complete(tasks["s3_ack"]["id"], ACK_REFER)
    tasks = ready(org, instance_id)
    assert tasks["s3_ack"]["assigned_to"] == "cyd.sm2"
    org.as_user("sue.sm2").complete(tasks["s3_raise"]["id"], {**REFER, "outcome": "refer_higher"})
    org.as_user("cyd.sm2").complete(tasks["s3_ack"]["id"], ACK_REFER)
    task = ready(org, instance_id)["s3_ack"]
    assert task["assigned_to"] is None  # cyd.sm2 has no manager: available to CSC senior managers who are left
    available = {t["id"] for t in org.as_user("cleo.sm").request("GET", "/api/tasks?view=available")}
    assert task["id"] in available
    assert task["id"] not in {t["id"] for t in org.as_user("other.sm").request("GET", "/api/tasks?view=available")}
    org.as_user("other.sm").complete(task["id"], ACK_REFER, expect=403)  # the other agency's senior manager
    org.as_user("cat.sm1").complete(task["id"], ACK_REFER, expect=403)  # already held a rung on this side
    org.as_user("cleo.sm").complete(task["id"], ACK_REFER)


def test_acknowledgement_deadline_is_counted_in_working_days(org, clock):
    clock.move_to(london(2026, 12, 24, 10, 0))  # Thursday before Christmas
    instance_id = start(org)["id"]
    ack = ready(org, instance_id)["s1_ack"]
    # 2 working days: Christmas Day (Friday) and Boxing Day (Monday 28th, in lieu) are not working days,
    # so Tuesday 29th is the first working day and Wednesday 30th the second.
    assert ack["due_at"] == "2026-12-30T10:00:00+00:00"
    clock.move_to(london(2026, 12, 30, 9, 59))
    org.sweep()
    assert "deadline_breached" not in org.kinds(instance_id)
    clock.move_to(london(2026, 12, 30, 10, 1))
    org.sweep()
    breach = [h for h in org.instance(instance_id)["history"] if h["kind"] == "deadline_breached"]
    assert [b["element_id"] for b in breach] == ["s1_ack"]
    assert ready(org, instance_id)["s1_ack"]["overdue"] is True  # stays with Jo, overdue


def test_evidence_is_required_to_refer_up(org):
    instance_id = start(org)["id"]
    task = ready(org, instance_id)["s1_raise"]
    body = org.complete(task["id"], {"date_held": "2026-12-01", "outcome": "unresolved"}, expect=400)
    assert "evidence" in body["fields"]
    assert ready(org, instance_id)["s1_raise"]["state"] == "ready"


def test_same_agency_on_both_sides_is_refused_with_the_protocol_s_words(org):
    body = org.start("two_party_test", {"case_reference": "P-2", "raising_agency": SCHOOL, "other_agency": SCHOOL},
                     expect=400)
    assert body["fields"]["other_agency"] == "This policy applies between external agencies only."
    assert org.request("GET", "/api/instances") == []


def test_named_person_must_work_for_the_other_agency(org):
    body = org.start("two_party_test", {"case_reference": "P-3", "raising_agency": SCHOOL, "other_agency": CSC,
                                        "other_person": "mia.lm"}, expect=400)
    assert "works for Northfield Academy" in body["fields"]["other_person"]


def _link_from_outbox(email: str) -> str:
    message = db.session.query(OutboxMessage).filter_by(recipient_email=email, kind="external_task").one()
    return re.search(r"(/respond/\S+)", message.body).group(1)


def test_contact_without_an_account_responds_once_through_a_signed_link(org, party_app, clock):
    instance = start(org, other_person="", other_contact_name="Pat Doyle", other_contact_email="pat@health.example")
    ack = ready(org, instance["id"])["s1_ack"]
    assert ack["assigned_to"] is None and ack["external_contact"] == {"name": "Pat Doyle", "email": "pat@health.example"}
    path = _link_from_outbox("pat@health.example")
    client = party_app.test_client()  # no one signed in
    page = client.get(path)
    assert page.status_code == 200 and "Stage 1 – acknowledge and state your position" in page.get_data(as_text=True)
    # Nothing else is reachable without signing in.
    assert client.get(f"/instances/{instance['id']}").status_code == 302
    assert client.get("/inbox").status_code == 302
    # A tampered link is refused and changes nothing.
    tampered = client.get(path[:-3] + ("aaa" if not path.endswith("aaa") else "bbb"))
    assert tampered.status_code == 410 and "not valid" in tampered.get_data(as_text=True)
    bad = client.post(path, data={"date_held": "2026-12-01", "counterpart_outcome": "unresolved"})
    assert bad.status_code == 400  # evidence missing: nothing saved, link still usable
    done = client.post(path, data={**ACK_REFER})
    assert done.status_code == 200 and "recorded" in done.get_data(as_text=True)
    completed = [h for h in org.instance(instance["id"])["history"] if h["kind"] == "task_completed"]
    assert completed[-1]["party"] == "counterpart" and "Pat Doyle" in completed[-1]["actor"]
    replay = client.post(path, data={**ACK_REFER})
    assert replay.status_code == 410 and "already been used" in replay.get_data(as_text=True)
    assert len([h for h in org.instance(instance["id"])["history"] if h["kind"] == "task_completed"]) == 1


def test_an_expired_link_is_refused(org, party_app, clock):
    instance = start(org, other_person="", other_contact_name="Pat Doyle", other_contact_email="pat@health.example")
    path = _link_from_outbox("pat@health.example")
    clock.shift(days=15)  # links live 14 days
    response = party_app.test_client().post(path, data={**ACK_AGREED})
    assert response.status_code == 410 and "expired" in response.get_data(as_text=True)
    assert ready(org, instance["id"])["s1_ack"]["state"] == "ready"


def test_a_recipient_nobody_can_hold_is_refused_at_deploy(party_app, tmp_path):
    from workflow_app.services import deployments
    from workflow_app.services.errors import DeploymentFailed
    xml = (DIAGRAMS / "two_party_test.bpmn").read_text().replace("@raising_manager, @counterpart_manager",
                                                                 "@raising_manager, Chief Wizard")
    with party_app.app_context():
        with pytest.raises(DeploymentFailed) as failure:
            deployments.validate("two_party_test.bpmn", xml, {})
    problem = failure.value.problems[0]
    assert problem["element_id"] == "tell_managers" and problem["line"]
    assert "'Chief Wizard'" in problem["message"] and "nobody would be told" in problem["message"]
    with party_app.app_context():
        with pytest.raises(DeploymentFailed) as failure:
            deployments.validate("two_party_test.bpmn", xml.replace("Chief Wizard", "@boss"), {})
    assert "not a recipient token" in failure.value.problems[0]["message"]
    assert people  # imported for fixtures


def test_an_expired_link_can_be_replaced_and_the_old_one_stops_working(org, party_app, clock):
    instance = start(org, other_person="", other_contact_name="Pat Doyle", other_contact_email="pat@health.example")
    old_path = _link_from_outbox("pat@health.example")
    clock.shift(days=15)
    ack = ready(org, instance["id"])["s1_ack"]
    org.request("POST", f"/api/tasks/{ack['id']}/resend-link")
    messages = db.session.query(OutboxMessage).filter_by(recipient_email="pat@health.example",
                                                         kind="external_task").order_by(OutboxMessage.id).all()
    assert len(messages) == 2
    new_path = re.search(r"(/respond/\S+)", messages[-1].body).group(1)
    client = party_app.test_client()
    assert client.get(old_path).status_code == 410
    assert client.post(new_path, data={**ACK_AGREED}).status_code == 200
    resent = [h for h in org.instance(instance["id"])["history"] if h["kind"] == "link_resent"]
    assert [(h["actor"], h["party"], h["data"]["to"]) for h in resent] == [("sam.patel", "counterpart",
                                                                            "pat@health.example")]
    # Someone outside the escalation cannot ask for links.
    make_user("nosy.parker", roles=["Professional"], agency="Riverside Health Visiting")
    org.as_user("nosy.parker").request("POST", f"/api/tasks/{ack['id']}/resend-link", expect=403)


def test_someone_of_another_agency_cannot_raise_for_this_side(org, party_app):
    with party_app.app_context():
        make_user("csc.worker", roles=["Professional"], agency=CSC, line_manager="cal.lm")
    body = org.as_user("csc.worker").start("two_party_test", {"case_reference": "P-9", "raising_agency": SCHOOL,
                                                              "other_agency": CSC, "other_person": "jo.reed"},
                                           expect=400)
    assert body["fields"]["raising_agency"].startswith("You work for Children's Social Care")
    assert org.request("GET", "/api/instances") == []
