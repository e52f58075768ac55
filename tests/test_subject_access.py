"""Subject access: everything held about one case reference (or one professional), and nothing about another."""
from __future__ import annotations

import json

from conftest import PASSWORD, make_user
from test_partnership_escalation import complete, other, people, raising, ready, start  # noqa: F401
from workflow_app.extensions import db
from workflow_app.persistence.models import ProcessInstance
from workflow_app.services import people as people_service

OFFICER = "dpo"


def officer_client(app):
    make_user(OFFICER, roles=[people_service.DATA_PROTECTION_OFFICER])
    client = app.test_client()
    client.post("/login", data={"username": OFFICER, "password": PASSWORD})
    return client


def test_export_for_a_case_reference_holds_every_escalation_of_it_and_nothing_else(app, api, people):
    first, second = start(api, case_reference="CASE-7"), start(api, case_reference="case-7")
    other_case = start(api, case_reference="CASE-8", disagreement="About another child entirely.")
    tasks = ready(api, first)
    complete(api, tasks["stage1_discussion"], raising("unresolved"))
    api.as_user("jo.reed").request("GET", f"/api/instances/{first}")
    client = officer_client(app)

    search = client.get("/governance/subject-access?kind=case&q=CASE-7").get_data(as_text=True)
    assert "2 escalations hold data" in search

    response = client.get("/governance/subject-access.json?kind=case&q=CASE-7")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    document = response.get_json()
    assert [e["id"] for e in document["escalations"]] == [first, second]
    db.session.expire_all()
    for exported in document["escalations"]:
        instance = db.session.get(ProcessInstance, exported["id"])
        assert [h["id"] for h in exported["history"]] == [h.id for h in instance.history]
        assert exported["data"] == instance.data and len(exported["parties"]) == 2
    first_export = document["escalations"][0]
    assert ("jo.reed", "API (instance)") in {(a["user"], a["what"]) for a in first_export["access_log"]}
    assert any(h["kind"] == "task_completed" and h["data"]["outcome"] == "unresolved" for h in first_export["history"])
    text = json.dumps(document)
    assert "CASE-8" not in text and "About another child entirely." not in text
    other_history = {h.id for h in db.session.get(ProcessInstance, other_case).history}
    exported_history = {h["id"] for e in document["escalations"] for h in e["history"]}
    assert other_history and not other_history & exported_history
    assert {a["instance"] for e in document["escalations"] for a in e["access_log"]} == {first, second}

    page = client.get("/governance/subject-access.html?kind=case&q=CASE-7").get_data(as_text=True)
    assert f'id="escalation-{first}"' in page and f'id="escalation-{second}"' in page
    assert f'id="escalation-{other_case}"' not in page and "CASE-8" not in page
    # The export is itself recorded as a view of each escalation it holds.
    assert client.get(f"/governance/instances/{first}/access").get_data(as_text=True).count("subject access export") == 2


def test_search_by_a_professionals_name(app, api, people):
    mine = start(api, case_reference="CASE-1")
    make_user("lee.other", roles=["Professional"], agency="Children's Social Care")
    theirs = api.as_user("sam.patel").start("partnership_escalation", {
        "case_reference": "CASE-2", "raising_agency": "Northfield Academy", "other_agency": "Children's Social Care",
        "other_professional": "lee.other", "disagreement": "x", "desired_outcome": "y"})["id"]
    client = officer_client(app)
    document = client.get("/governance/subject-access.json?kind=person&q=Jo Reed").get_json()
    assert [e["id"] for e in document["escalations"]] == [mine]
    document = client.get("/governance/subject-access.json?kind=person&q=sam.patel").get_json()
    assert [e["id"] for e in document["escalations"]] == [mine, theirs]


def test_only_the_data_protection_officer_exports(app, api, people):
    start(api, case_reference="CASE-1")
    client = app.test_client()
    client.post("/login", data={"username": "tester", "password": PASSWORD})
    assert client.get("/governance/subject-access.json?kind=case&q=CASE-1").status_code == 403


def test_search_by_an_e_mail_address_finds_the_contact_s_escalations(app, api, people):
    """Addresses are encrypted at rest; a search for one (any letter case) still finds its escalations."""
    theirs = start(api, case_reference="CASE-20", other_professional="", other_contact_name="Lee Moss",
                   other_contact_email="Lee.Moss@example.org")
    start(api, case_reference="CASE-21")
    client = officer_client(app)
    document = client.get("/governance/subject-access.json?kind=person&q=lee.moss@EXAMPLE.org").get_json()
    assert [e["id"] for e in document["escalations"]] == [theirs]
    assert document["escalations"][0]["parties"][1]["contact_email"] == "Lee.Moss@example.org"
    # A user's own address finds what they did too.
    by_user = client.get("/governance/subject-access.json?kind=person&q=jo.reed@example.org").get_json()
    assert {e["case_reference"] for e in by_user["escalations"]} == {"CASE-21"}


def test_the_json_api_answers_subject_access_for_the_officer_only(app, api, people):
    mine = start(api, case_reference="CASE-30")
    start(api, case_reference="CASE-31")
    make_user(OFFICER, roles=[people_service.DATA_PROTECTION_OFFICER])
    document = api.as_user(OFFICER).request("GET", "/api/subject-access?kind=case&q=case-30")
    assert [e["id"] for e in document["escalations"]] == [mine]
    assert document["subject"] == {"kind": "case", "query": "case-30"} and document["generated_by"] == OFFICER
    log = api.request("GET", f"/api/instances/{mine}/access-log")  # the tester owns the protocol
    assert ("dpo", "subject access export") in {(v["user"], v["what"]) for v in log["views"]}
    refused = api.as_user("jo.reed").request("GET", "/api/subject-access?kind=case&q=CASE-30", expect=403)
    assert "data protection officer" in refused["error"]
    bad = api.as_user(OFFICER).request("GET", "/api/subject-access?kind=child&q=x", expect=400)
    assert "kind" in bad["fields"]
