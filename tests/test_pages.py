"""The HTML pages staff use: raise an escalation, inbox, task form with errors, instance page, CSRF."""
from __future__ import annotations

import html
import re

import pytest

from conftest import PASSWORD, Api, make_chain
from test_partnership_escalation import (CSC, OTHER, PROTOCOL, RAISING, SCHOOL, START, complete, other,  # noqa: F401
                                         people, ready, record)


RAISING_SIDE, OTHER_SIDE = "Raising side (Northfield Academy)", "Other side (Children's Social Care)"


def sign_in(app, username: str):
    client = app.test_client()
    response = client.post("/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 302
    return client


@pytest.fixture
def client(app, api, people):  # ``api`` first: it holds the app context the ``people`` fixture needs
    """Sam Patel (Northfield Academy) signed in; Jo Reed (Children's Social Care) is the other professional."""
    return sign_in(app, "sam.patel")


def text(response) -> str:
    return response.get_data(as_text=True)


# A field's error message starts with "Error:" for screen readers (GOV.UK Frontend's error message).
ERROR = re.escape('<span class="govuk-visually-hidden">Error:</span> ')


def summary_row(page: str, key: str) -> str:
    """The value of one row of a GOV.UK summary list."""
    return re.search(rf'<dt class="govuk-summary-list__key">{re.escape(key)}</dt>'
                     r'<dd class="govuk-summary-list__value">(.*?)</dd>', page, re.S).group(1).strip()


def task_link(page: str) -> str:
    return re.search(r'href="/tasks/([0-9a-f-]{36})"', page).group(1)


def party_entries(page: str, kind_label: str) -> list[tuple[str, str]]:
    """(party label, actor) of each history entry of one kind on the instance page, in order."""
    entries = re.findall(r'<div class="what">(.*?)</div>', html.unescape(page), re.S)
    found = []
    for entry in entries:
        if f"<strong>{kind_label}</strong>" not in entry:
            continue
        party = re.search(r'<span class="party party-[a-z]+">([^<]*)</span>', entry)
        actor = re.search(r'<span class="muted">by ([^<]*)</span>', entry)
        found.append((party.group(1) if party else "", actor.group(1) if actor else ""))
    return found


def test_start_page_lists_the_protocol_and_its_form(client):
    page = text(client.get("/protocols"))
    assert "Safeguarding Children Partnership escalation" in page
    form = text(client.get(f"/protocols/{PROTOCOL}/start"))
    for label in ("Case / child reference", "What the disagreement is about", "What outcome is wanted",
                  "The other professional&#39;s agency", "The other professional (if they have an account here)"):
        assert label in form
    # The other professional is picked from the people who have an account, named with their agency.
    other = re.search(r'<select[^>]*name="other_professional".*?</select>', form, re.S).group(0)
    assert re.search(r'<option value="jo.reed"[^>]*>Jo Reed \(Children&#39;s Social Care\)</option>', other)


def test_raise_then_complete_stage_one_in_the_browser(app, client):
    response = client.post(f"/protocols/{PROTOCOL}/start", data=START, follow_redirects=True)
    page = text(response)
    assert response.status_code == 200
    assert "Escalation 1 started." in page
    assert "Stage 1 – Direct professional to professional discussion" in page
    assert "by Sam Patel" in page  # who raised it, in history, by name

    inbox = text(client.get("/inbox"))
    assert "CASE-42" in inbox and "Stage 1 – Direct professional to professional discussion" in inbox
    assert "2 working days left" in inbox
    task_id = task_link(inbox)

    task_page = html.unescape(text(client.get(f"/tasks/{task_id}")))
    assert "record the discussion and plan" in task_page  # the raising side's task, not the other side's
    assert summary_row(task_page, "Side") == f'<span class="party party-raising">{RAISING_SIDE}</span>'
    assert summary_row(task_page, "Counterpart") == "Professional"  # routed counterpart role
    assert "Thu 03 Dec 2026, 09:00" in task_page and "All times on this page are Europe/London time" in task_page

    done = client.post(f"/tasks/{task_id}", data=record("unresolved"), follow_redirects=True)
    page = text(done)
    assert "completed." in page
    assert "Two calls and a meeting held; positions unchanged." in page  # submitted form data in the timeline
    # One side's record does not move the stage: the other professional has not answered yet.
    assert "Stage 2 – Direct manager to manager discussion" not in page

    jo = sign_in(app, "jo.reed")
    inbox = text(jo.get("/inbox"))
    assert "CASE-42" in inbox and "acknowledge, record your position" in inbox
    done = jo.post(f"/tasks/{task_link(inbox)}", data=other("resolved"), follow_redirects=True)
    page = text(done)
    assert "completed." in page
    assert "Stage 2 – Direct manager to manager discussion" in page
    # Both sides' entries are in the history, each labelled with its party and agency.
    assert party_entries(page, "Task completed") == [(RAISING_SIDE, "Sam Patel (Professional, Northfield Academy)"),
                                                     (OTHER_SIDE, "Jo Reed (Professional, Children's Social Care)")]
    assert party_entries(page, "Task assigned") == [(RAISING_SIDE, ""), (OTHER_SIDE, ""),
                                                    (RAISING_SIDE, ""), (OTHER_SIDE, "")]
    assert "The threshold for assessment is not met." in page  # the other side's position, in the timeline


def test_errors_are_shown_next_to_fields_and_values_kept(client, api):
    client.post(f"/protocols/{PROTOCOL}/start", data=START)
    task_id = task_link(text(client.get("/inbox")))
    response = client.post(f"/tasks/{task_id}", data={"participants": "Jo and Sam", "outcome": "unresolved",
                                                      "date_held": "31/12/2026"})
    page = text(response)
    assert response.status_code == 400
    assert "Nothing was saved" in page
    assert re.search(rf'id="err-date_held">{ERROR}Enter a date as YYYY-MM-DD<', page)
    assert re.search(rf'id="err-action_plan">{ERROR}This field is required<', page)
    assert re.search(rf'id="err-evidence_explored">{ERROR}Required when Outcome is', page)
    assert "Jo and Sam" in page  # what the user typed is kept
    assert "task_completed" not in str(api.instance(1)["history"])


def test_start_form_errors_create_nothing(client, api):
    response = client.post(f"/protocols/{PROTOCOL}/start", data={**START, "case_reference": ""})
    assert response.status_code == 400
    assert re.search(rf'id="err-case_reference">{ERROR}This field is required<', text(response))
    assert api.request("GET", "/api/instances") == []


def test_stale_task_page_gets_a_clear_message(client, api):
    client.post(f"/protocols/{PROTOCOL}/start", data=START)
    task_id = task_link(text(client.get("/inbox")))
    client.post(f"/tasks/{task_id}", data=record("resolved"))
    again = client.post(f"/tasks/{task_id}", data=record("unresolved"))
    assert again.status_code == 409
    page = text(again)
    assert "already completed by sam.patel" in page
    assert "This task is no longer open" in page
    # The first answer stands; the plan waits for the other side's confirmation.
    assert api.instance(1)["status"] == "running"
    assert list(ready(api, 1)) == ["stage1_acknowledge"]
    assert [h["data"]["outcome"] for h in api.instance(1)["history"] if h["kind"] == "task_completed"] == ["resolved"]


def test_instance_list_filters_by_status(client, api):
    client.post(f"/protocols/{PROTOCOL}/start", data=START)
    client.post(f"/protocols/{PROTOCOL}/start", data={**START, "case_reference": "CASE-99"})
    tasks = ready(api, 2)
    client.post(f"/tasks/{tasks['stage1_discussion']['id']}", data=record("resolved"))
    complete(api, tasks["stage1_acknowledge"], other("resolved"))  # Jo confirms the plan
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
        make_chain(SCHOOL, RAISING)
        make_chain(CSC, OTHER)
        client = app.test_client()
        token_of = lambda page: re.search(r'name="csrf_token" value="([^"]+)"', text(page)).group(1)
        refused = client.post("/login", data={"username": "sam.patel", "password": PASSWORD})
        assert refused.status_code == 400 and "This form has expired" in text(refused)
        login = client.post("/login", data={"username": "sam.patel", "password": PASSWORD,
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
