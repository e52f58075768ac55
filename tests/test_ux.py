"""What staff, owners, editors and administrators notice on the pages (issue 17): labels instead of keys, people by
name, one timezone per page, length limits, the dispute so far above a task form, each role's landing page."""
from __future__ import annotations

import csv
import html
import io
import re
from types import SimpleNamespace

import pytest

from conftest import PASSWORD, london, make_chain, make_user
from test_partnership_escalation import (PROTOCOL, START, complete, other, people, raising, ready,  # noqa: F401
                                         start)
from test_protocol_case_manager_mediation import PROTOCOL as CM, START as CM_START
from test_protocol_wsscp_escalation import START as WSSCP_START
from test_protocol_wraparound_conflict_resolution import START as WRAP_START, create_agencies
from workflow_app.extensions import db
from workflow_app.persistence.models import HistoryEntry
from workflow_app.services import instances, people as people_service
from workflow_app.web import presenters


def sign_in(app, username: str):
    client = app.test_client()
    assert client.post("/login", data={"username": username, "password": PASSWORD}).status_code == 302
    return client


def page_of(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return html.unescape(response.get_data(as_text=True))


def task_page(app, username: str, task: dict) -> str:
    return page_of(sign_in(app, username), f"/tasks/{task['id']}")


# -- the listed bugs ----------------------------------------------------------------------------------------------

def test_history_names_people_and_choice_labels_never_lists_keys_or_empty_labels(app, api):
    make_user("gus.irwin", roles=["Manager"], agency="Children's Social Care")  # named "Gus Irwin"
    instance = api.start("wsscp_escalation", {**WSSCP_START, "raising_agency": "Children's Social Care",
                                              "other_agency": "Northfield Academy"})
    record = instances.get_instance(instance["id"])
    entry = HistoryEntry(kind="notification_sent", data={
        "service_area": "child_in_need", "sent_to": ["gus.irwin", "tester"], "emailed": [], "no_one_holds": []})
    shown = dict(presenters.history_details(record, entry))
    assert shown["The decision relates to"] == "Children in need"  # the start form's label and choice label
    assert shown["Told"] == ["Gus Irwin", "Test User"]  # people by name, shown joined by the page
    assert "No one holds the role" not in shown and "E-mailed" not in shown  # empty values are left out
    page = page_of(sign_in(app, "tester"), f"/instances/{instance['id']}")
    assert "['" not in page and "<dt>No one holds</dt>" not in page


def test_evidence_hint_names_only_the_outcomes_the_form_offers(app, api, people):
    tasks = ready(api, start(api))
    page = task_page(app, "sam.patel", tasks["stage1_discussion"])
    hint = re.search(r"\(required when Outcome is(.*?)\)</span>", page, re.S).group(1)
    assert "refer_higher" not in hint and "“Unresolved" in hint


def test_record_says_closed_once(app):
    closed = SimpleNamespace(status="closed", end_reason="Closed – unresolved")
    assert presenters.status_with_reason(closed) == "Closed – unresolved"
    cancelled = SimpleNamespace(status="cancelled", end_reason="raised in error")
    assert presenters.status_with_reason(cancelled) == "Cancelled — raised in error"


def test_report_counts_one_escalation_in_the_singular(app, api, people):
    start(api)
    owner = make_user("owner", roles=["Process Owner"], protocols=[PROTOCOL])
    assert owner
    page = page_of(sign_in(app, "owner"), f"/reports/{PROTOCOL}")
    assert "1 escalation ·" in page and "1 escalations" not in page
    assert 'data-horizontal="true" data-integer="true"' in page  # the stage-reached chart counts whole escalations


def test_admin_lands_on_users_and_every_page_has_a_favicon_and_labelled_navigation(app, api):
    make_user("root", roles=["Administrator"])
    admin = sign_in(app, "root")
    response = admin.get("/admin")
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/users")
    page = page_of(admin, "/inbox")
    assert '<link rel="icon" href="/static/favicon.svg"' in page
    assert admin.get("/static/favicon.svg").status_code == 200
    navs = re.findall(r"<nav([^>]*)>", page)
    labels = [re.search(r'aria-label="([^"]+)"', n).group(1) for n in navs]
    assert len(navs) == 2 and len(set(labels)) == 2  # the main navigation and the inbox views, told apart


def test_text_fields_have_a_limit_counted_on_the_page_and_enforced(app, api, people):
    client = sign_in(app, "sam.patel")
    form = page_of(client, f"/protocols/{PROTOCOL}/start")
    reference = re.search(r'<input type="text" name="case_reference"[^>]*>', form).group(0)
    assert 'maxlength="300"' in reference and 'data-count="300"' in reference
    assert re.search(r'<textarea name="disagreement"[^>]*maxlength="10000"', form)
    refused = api.as_user("sam.patel").start(PROTOCOL, {**START, "disagreement": "x" * 80_000}, expect=400)
    assert refused["fields"]["disagreement"] == "Must be at most 10,000 characters (this has 80,000)"


def test_a_case_reference_longer_than_its_column_is_refused_with_the_field_named(app, api, people):
    body = api.as_user("sam.patel").start("partnership_escalation", {**START, "case_reference": "R" * 290},
                                          expect=400)
    assert body["fields"]["case_reference"] == "Must be at most 200 characters (this has 290)"


def test_a_long_reference_is_cut_short_in_lists(app, api, people):
    long_reference = "R" * 190
    instance_id = start(api, case_reference=long_reference)
    assert instance_id
    client = sign_in(app, "sam.patel")
    for url in ("/inbox", "/instances"):
        page = page_of(client, url)
        assert long_reference not in page.replace(f'title="{long_reference}"', "")
        assert "R" * 39 + "…" in page


# -- the dispute so far, errors linked to fields --------------------------------------------------------------

def test_a_stage_two_form_shows_what_both_sides_recorded_at_stage_one(app, api, people, clock):
    instance_id = start(api)
    tasks = ready(api, instance_id)
    complete(api, tasks["stage1_discussion"], raising("unresolved", action_plan="Refer to both line managers."))
    complete(api, tasks["stage1_acknowledge"], other("unresolved"))
    stage2 = ready(api, instance_id)["stage2_discussion"]
    page = task_page(app, "mia.lm", stage2)
    so_far = re.search(r'<section class="dispute[^"]*".*?</section>', page, re.S).group(0)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", so_far))
    assert "Raising side (Northfield Academy) Stage 1" in text and "Other side (Children's Social Care)" in text
    assert "Refer to both line managers." in text  # the agreed plan, with its form label
    assert "Two calls and a meeting held; positions unchanged." in text  # the raising side's evidence
    assert "Case discussed twice with the school; new information reviewed." in text  # the other side's
    assert "Sam Patel" in text and "Jo Reed" in text
    assert page.index('class="dispute') < page.index('class="task-form"')  # above the form


def test_a_failed_submit_lists_its_errors_linked_to_the_fields(app, api, people):
    tasks = ready(api, start(api))
    client = sign_in(app, "sam.patel")
    response = client.post(f"/tasks/{tasks['stage1_discussion']['id']}", data={"outcome": "unresolved"})
    page = html.unescape(response.get_data(as_text=True))
    summary = re.search(r'<div class="govuk-error-summary".*?</ul>', page, re.S).group(0)
    assert 'href="#f-action_plan"' in summary and 'href="#f-evidence_explored"' in summary
    assert 'id="f-action_plan"' in page


# -- one timezone per page ------------------------------------------------------------------------------------

def test_each_page_names_one_timezone_once(app, api, people, clock):
    tasks = ready(api, start(api))
    page = task_page(app, "sam.patel", tasks["stage1_discussion"])
    assert "Thu 03 Dec 2026, 09:00" in page
    assert not re.search(r"\d\d:\d\d (GMT|BST|UTC|EST|CST)", page)  # no zone on each time
    assert page.count("All times on this page are Europe/London time") == 1
    create_agencies()
    wrap = api.start("wraparound_conflict_resolution", {**WRAP_START, "raising_agency": "Children's Social Care"})
    owner_page = page_of(sign_in(app, "tester"), f"/instances/{wrap['id']}")
    assert owner_page.count("All times on this page are America/Chicago time") == 1
    assert "UTC" not in owner_page


# -- each role's landing page ---------------------------------------------------------------------------------

@pytest.mark.parametrize("roles, landing", [
    (["Professional"], "/inbox"), (["Process Owner"], "/reports"), (["Policy Editor"], "/deployments"),
    (["Administrator"], "/admin/users"), (["Professional", "Process Owner"], "/inbox"),
    (["Data Protection Officer"], "/governance/")])
def test_each_role_lands_on_its_own_page(app, api, roles, landing):
    make_user("someone", roles=roles, agency="Children's Social Care")
    client = app.test_client()
    response = client.post("/login", data={"username": "someone", "password": PASSWORD})
    assert response.headers["Location"] == landing
    assert client.get("/").headers["Location"] == landing  # the brand link too
    # Inbox and "Raise an escalation" are for people who take part in escalations, not for those who oversee.
    navigation = re.search(r'<ul class="govuk-service-navigation__list".*?</ul>', page_of(client, "/instances"), re.S)
    takes_part = "Professional" in roles
    assert ("Raise an escalation" in navigation.group(0)) == takes_part
    assert (">Inbox<" in navigation.group(0)) == takes_part


def test_staff_inbox_lists_what_is_due_soonest_first(app, api, people, clock):
    first = start(api, case_reference="FIRST")
    clock.move_to(london(2026, 12, 1, 12, 0))
    second = start(api, case_reference="SECOND")
    assert first and second
    page = page_of(sign_in(app, "sam.patel"), "/inbox")
    assert page.index("FIRST") < page.index("SECOND")


# -- the friction items -----------------------------------------------------------------------------------------

def test_the_start_form_names_the_raiser_and_chooses_their_agency(app, api, people):
    form = page_of(sign_in(app, "sam.patel"), f"/protocols/{PROTOCOL}/start")
    assert re.search(r'Raised by</dt><dd class="govuk-summary-list__value">Sam Patel \(Professional, '
                     r'Northfield Academy\)</dd>', form)
    raising = re.search(r'<select name="raising_agency".*?</select>', form, re.S).group(0)
    other_agency = re.search(r'<select name="other_agency".*?</select>', form, re.S).group(0)
    assert re.search(r'<option value="Northfield Academy" selected>', raising)  # their agency, chosen already
    assert " selected>" not in other_agency  # the other side's agency is left to them


def test_protocol_cards_say_when_to_use_each_protocol_without_keys_or_calendar_codes(app, api, people):
    page = page_of(sign_in(app, "sam.patel"), "/protocols")
    cards = re.findall(r'<li class="card">(.*?)</li>', page, re.S)
    assert cards and all("When to use it" in card for card in cards)
    # Each diagram's own when_to_use words (bpmn/*.bpmn), e.g. WSSCP's:
    assert "When you believe a decision by a worker in another agency is not safe" in html.unescape(page)
    assert "GB-ENG" not in page and "<code>" not in page and PROTOCOL not in re.sub(r'href="[^"]*"', "", page)
    assert "England (United Kingdom) public holidays, Europe/London time" in page


def test_the_history_csv_opens_in_excel_with_one_column_per_field(app, api, people):
    instance_id = start(api)
    complete(api, ready(api, instance_id)["stage1_discussion"], raising("unresolved", action_plan="Refer up."))
    body = sign_in(app, "tester").get(f"/instances/{instance_id}/history.csv").get_data()
    assert body.startswith(b"\xef\xbb\xbf")  # the UTF-8 byte order mark Excel needs to read "–" and "’"
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    column = {name: i for i, name in enumerate(rows[0])}
    assert "data" not in column and {"outcome", "action_plan", "disagreement"} <= set(column)
    completed = next(r for r in rows if r[column["kind"]] == "task_completed")
    assert (completed[column["outcome"]], completed[column["action_plan"]]) == ("unresolved", "Refer up.")
    assert not any(cell.startswith("{") for cell in completed)  # no JSON cell for the form


def test_who_must_be_told_names_people_and_roles_not_tokens(app, api):
    for agency in ("Lakeside Case Management", "Riverside Supported Living"):
        people_service.get_or_create_agency(agency)
    db.session.commit()
    make_chain("Lakeside Case Management", [("casey.cm", ["Case Manager"]), ("morgan.lead", [])])
    make_chain("Riverside Supported Living", [("pat.staff", ["Service Provider"]), ("lee.manager", ["Service Provider"])])
    instance = api.as_user("casey.cm").start(CM, CM_START)
    task = next(t for t in api.instance(instance["id"])["ready_tasks"] if t["assigned_to"] == "casey.cm")
    assert "@" in str(api.instance(instance["id"])["data"]["notify"])  # the routing table's tokens
    page = task_page(app, "casey.cm", task)
    told = re.search(r'Who must be told</dt><dd class="govuk-summary-list__value">(.*?)</dd>', page, re.S).group(1)
    assert "@" not in told.replace("alex.kim@family.example", "")
    assert "Alex Kim (alex.kim@family.example)" in told  # the client's mother, who has no account
    assert "Pat Staff (Service Provider, Riverside Supported Living)" in told


def test_as_raised_and_the_record_name_people_by_name_role_and_agency(app, api, people):
    instance_id = start(api)
    tasks = ready(api, instance_id)
    page = task_page(app, "sam.patel", tasks["stage1_discussion"])
    as_raised = re.search(r"As raised</span></summary>(.*?)</details>", page, re.S).group(1)
    assert "Jo Reed (Professional, Children's Social Care)" in as_raised and "jo.reed" not in as_raised
    complete(api, tasks["stage1_discussion"], raising("unresolved", action_plan="Refer up."))
    record = page_of(sign_in(app, "tester"), f"/instances/{instance_id}/record")
    assert "by Sam Patel (Professional, Northfield Academy)" in record
    assert "sam.patel" not in record and "jo.reed" not in record
    assert "@raising" not in record and "whoever acts for the raising side" in record  # recipient tokens in words


# -- the design system, without Crown branding ----------------------------------------------------------------

def test_pages_use_the_design_system_without_crown_branding(app, api, people):
    from pathlib import Path
    stylesheet = Path(app.static_folder) / "vendor" / "design" / "design.css"
    if not stylesheet.exists():
        pytest.skip("vendor assets not built: bash scripts/vendor_assets.sh")
    css = stylesheet.read_text()
    assert "govuk-error-summary" in css and "moj-timeline" in css and "moj-filter-layout" in css
    assert "GDS Transport" not in css and "@font-face" not in css  # a system font stack instead
    client = sign_in(app, "sam.patel")
    for url in ("/inbox", f"/protocols/{PROTOCOL}/start", "/instances"):
        page = page_of(client, url)
        assert '/static/vendor/design/design.css' in page and 'type="module" src="/static/app.js"' in page
        assert "govuk-service-navigation" in page and ">workflow_app</a>" in page
        assert "GOV.UK" not in page and "crown" not in page.lower() and "govuk-header__logotype" not in page
