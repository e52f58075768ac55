"""The HTML pages staff use: raise an escalation, inbox, task form with errors, instance page, CSRF."""
from __future__ import annotations

import re

import pytest

from conftest import PASSWORD, Api, make_user
from test_partnership_escalation import PROTOCOL, START, record


@pytest.fixture
def client(app):
    with app.app_context():
        client = app.test_client()
        make_user("sam.patel", roles=["Professional"], agency="Northfield Academy")
        response = client.post("/login", data={"username": "sam.patel", "password": PASSWORD})
        assert response.status_code == 302
        yield client


def text(response) -> str:
    return response.get_data(as_text=True)


def test_start_page_lists_the_protocol_and_its_form(client):
    page = text(client.get("/protocols"))
    assert "Safeguarding Children Partnership escalation" in page
    form = text(client.get(f"/protocols/{PROTOCOL}/start"))
    for label in ("Case / child reference", "What the disagreement is about", "What outcome is wanted",
                  "Other professional&#39;s agency"):
        assert label in form


def test_raise_then_complete_stage_one_in_the_browser(client):
    response = client.post(f"/protocols/{PROTOCOL}/start", data=START, follow_redirects=True)
    page = text(response)
    assert response.status_code == 200
    assert "Escalation 1 started." in page
    assert "Stage 1 – Direct professional to professional discussion" in page
    assert "sam.patel" in page  # who raised it, in history

    inbox = text(client.get("/inbox"))
    assert "CASE-42" in inbox and "Stage 1 – Direct professional to professional discussion" in inbox
    assert "2 working days left" in inbox
    task_id = re.search(r'href="/tasks/([0-9a-f-]{36})"', inbox).group(1)

    task_page = text(client.get(f"/tasks/{task_id}"))
    assert "The other professional who disagrees, in the other agency" in task_page  # routed counterpart
    assert "Thu 03 Dec 2026, 09:00 GMT" in task_page  # deadline in the deployment's timezone

    done = client.post(f"/tasks/{task_id}", data=record("unresolved"), follow_redirects=True)
    page = text(done)
    assert "completed." in page
    assert "Stage 2 – Direct manager to manager discussion" in page
    assert "Two meetings held; positions unchanged." in page  # submitted form data in the timeline


def test_errors_are_shown_next_to_fields_and_values_kept(client, api):
    client.post(f"/protocols/{PROTOCOL}/start", data=START)
    task_id = re.search(r'href="/tasks/([0-9a-f-]{36})"', text(client.get("/inbox"))).group(1)
    response = client.post(f"/tasks/{task_id}", data={"participants": "Jo and Sam", "outcome": "unresolved",
                                                      "date_held": "31/12/2026"})
    page = text(response)
    assert response.status_code == 400
    assert "Nothing was saved" in page
    assert re.search(r'id="err-date_held">Enter a date as YYYY-MM-DD<', page)
    assert re.search(r'id="err-action_plan">This field is required<', page)
    assert re.search(r'id="err-evidence_explored">Required when Outcome is', page)
    assert "Jo and Sam" in page  # what the user typed is kept
    assert "task_completed" not in str(api.instance(1)["history"])


def test_start_form_errors_create_nothing(client, api):
    response = client.post(f"/protocols/{PROTOCOL}/start", data={**START, "case_reference": ""})
    assert response.status_code == 400
    assert re.search(r'id="err-case_reference">This field is required<', text(response))
    assert api.request("GET", "/api/instances") == []


def test_stale_task_page_gets_a_clear_message(client, api):
    client.post(f"/protocols/{PROTOCOL}/start", data=START)
    task_id = re.search(r'href="/tasks/([0-9a-f-]{36})"', text(client.get("/inbox"))).group(1)
    client.post(f"/tasks/{task_id}", data=record("resolved"))
    again = client.post(f"/tasks/{task_id}", data=record("unresolved"))
    assert again.status_code == 409
    page = text(again)
    assert "already completed by sam.patel" in page
    assert "This task is no longer open" in page
    assert api.instance(1)["status"] == "resolved"


def test_instance_list_filters_by_status(client, api):
    client.post(f"/protocols/{PROTOCOL}/start", data=START)
    client.post(f"/protocols/{PROTOCOL}/start", data={**START, "case_reference": "CASE-99"})
    task_id = api.instance(2)["ready_tasks"][0]["id"]
    client.post(f"/tasks/{task_id}", data=record("resolved"))
    resolved = text(client.get("/instances?status=resolved"))
    assert "CASE-99" in resolved and "CASE-42" not in resolved
    running = text(client.get("/instances?status=running"))
    assert "CASE-42" in running and "CASE-99" not in running


def test_unknown_pages_are_friendly(client):
    assert "There is no escalation number 77" in text(client.get("/instances/77"))
    response = client.get("/no/such/page")
    assert response.status_code == 404 and "There is no such page" in text(response)


def test_forms_need_a_csrf_token(app_factory, clock):
    app = app_factory(WTF_CSRF_ENABLED=True)
    with app.app_context():
        client = app.test_client()
        token_of = lambda page: re.search(r'name="csrf_token" value="([^"]+)"', text(page)).group(1)
        refused = client.post("/login", data={"username": "tester", "password": PASSWORD})
        assert refused.status_code == 400 and "This form has expired" in text(refused)
        login = client.post("/login", data={"username": "tester", "password": PASSWORD,
                                            "csrf_token": token_of(client.get("/login"))})
        assert login.status_code == 302
        response = client.post(f"/protocols/{PROTOCOL}/start", data=START)
        assert response.status_code == 400
        assert "This form has expired" in text(response)
        assert Api(client).request("GET", "/api/instances") == []
        token = token_of(client.get(f"/protocols/{PROTOCOL}/start"))
        ok = client.post(f"/protocols/{PROTOCOL}/start", data={**START, "csrf_token": token})
        assert ok.status_code == 302
        assert len(Api(client).request("GET", "/api/instances")) == 1
