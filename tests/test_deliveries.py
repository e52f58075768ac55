"""The delivery log a process owner reads (services/deliveries.py, /deliveries, GET /api/deliveries): the webhook
events of their protocols' escalations, with status, attempts and last error, filtered by status."""
from __future__ import annotations

import pytest

import ops_diagrams
from conftest import PASSWORD, Api, make_user
from test_webhooks import Receiver
from workflow_app.services import notifications, people


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def hook_app(app_factory, clock, dirs, receiver):
    bpmn_dir, dmn_dir = dirs
    app = app_factory(BPMN_DIR=bpmn_dir, DMN_DIR=dmn_dir, WEBHOOK_URLS=(receiver.url,), WEBHOOK_SECRET="s")
    with app.app_context():
        make_user("rita.reviewer", roles=["Reviewer"], agency="Children's Social Care")
        make_user("olive.owner", roles=[people.PROCESS_OWNER], protocols=[ops_diagrams.PROTOCOL])
        make_user("otto.other", roles=[people.PROCESS_OWNER], protocols=["partnership_escalation"])
        make_user("ada.admin", roles=[people.ADMINISTRATOR])
        yield app


@pytest.fixture
def dirs(tmp_path):
    bpmn_dir, dmn_dir = tmp_path / "bpmn", tmp_path / "dmn"
    ops_diagrams.write(bpmn_dir, dmn_dir)
    return bpmn_dir, dmn_dir


@pytest.fixture
def api(hook_app):
    return Api(hook_app.test_client(), username="rita.reviewer")


def start(api, case: str) -> int:
    return api.start(ops_diagrams.PROTOCOL, {"case_reference": case})["id"]


def one_escalation_per_status(api, clock, receiver) -> dict[str, int]:
    """Four escalations whose two events each (escalation_started, task_created) end delivered, failed,
    retrying and pending."""
    ids = {"delivered": start(api, "D-1")}
    notifications.deliver_pending()
    receiver.down = True
    ids["failed"] = start(api, "F-1")
    for _ in range(notifications.MAX_ATTEMPTS):
        notifications.deliver_pending()
        clock.shift(hours=2)
    ids["retrying"] = start(api, "R-1")
    notifications.deliver_pending()
    ids["pending"] = start(api, "P-1")
    return ids


def signed_in(app, username: str):
    client = app.test_client()
    client.post("/login", data={"username": username, "password": PASSWORD})
    return client


def test_owner_reads_each_delivery_status_and_filters_by_it(api, hook_app, clock, receiver):
    ids = one_escalation_per_status(api, clock, receiver)
    log = api.request("GET", "/api/deliveries", user="olive.owner")["deliveries"]
    assert len(log) == 8
    by_case = {(d["case_reference"], d["event"]): d for d in log}
    assert {d["status"] for d in log} == {"delivered", "failed", "retrying", "pending"}
    for status, instance_id in ids.items():
        rows = api.request("GET", f"/api/deliveries?status={status}", user="olive.owner")["deliveries"]
        assert {(r["instance_id"], r["event"]) for r in rows} == {(instance_id, "escalation_started"),
                                                                  (instance_id, "task_created")}
    delivered = by_case[("D-1", "task_created")]
    assert delivered["attempts"] == 1 and delivered["delivered_at"] and delivered["last_error"] is None
    assert delivered["target"] == receiver.url and delivered["channel"] == "webhook" and delivered["event_id"]
    retrying = by_case[("R-1", "escalation_started")]
    assert retrying["attempts"] == 1 and "503" in retrying["last_error"] and retrying["next_attempt_at"]
    failed = by_case[("F-1", "escalation_started")]
    assert failed["attempts"] == notifications.MAX_ATTEMPTS and "503" in failed["last_error"]
    assert by_case[("P-1", "task_created")]["attempts"] == 0

    page = signed_in(hook_app, "olive.owner").get("/deliveries?status=failed").get_data(as_text=True)
    assert page.count('data-status="failed"') == 2 and 'data-status="delivered"' not in page
    assert "F-1" in page and "HTTP Error 503" in page and "govuk-tag--red" in page
    unknown = api.request("GET", "/api/deliveries?status=lost", 400, user="olive.owner")
    assert "status" in str(unknown)


def test_each_owner_sees_only_the_deliveries_of_their_protocols(api, hook_app, clock, receiver):
    start(api, "D-1")
    notifications.deliver_pending()
    assert api.request("GET", "/api/deliveries", user="otto.other")["deliveries"] == []
    assert len(api.request("GET", "/api/deliveries", user="ada.admin")["deliveries"]) == 2
    refused = api.request("GET", "/api/deliveries", 403)
    assert "process owners and administrators" in refused["error"]
    assert signed_in(hook_app, "rita.reviewer").get("/deliveries").status_code == 403
    assert "No deliveries" in signed_in(hook_app, "otto.other").get("/deliveries").get_data(as_text=True)


def test_the_instance_page_links_to_that_escalations_deliveries(api, hook_app, clock, receiver):
    first, second = start(api, "A-1"), start(api, "B-1")
    notifications.deliver_pending()
    owner = signed_in(hook_app, "olive.owner")
    page = owner.get(f"/instances/{first}").get_data(as_text=True)
    assert 'id="deliveries-link"' in page and f"/deliveries?instance={first}" in page
    log = owner.get(f"/deliveries?instance={first}").get_data(as_text=True)
    assert log.count('data-status="delivered"') == 2 and "A-1" in log and "B-1" not in log
    assert 'id="deliveries-link"' not in signed_in(hook_app, "rita.reviewer").get(
        f"/instances/{second}").get_data(as_text=True)
