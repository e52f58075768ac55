"""Process owners' reports and search on a crafted data set whose answers are known."""
from __future__ import annotations

import csv
import io
import json

import pytest

from conftest import PASSWORD, london, make_user
from test_partnership_escalation import PROTOCOL, START, record
from workflow_app.services import people

STAGE1, STAGE2 = "stage1_discussion", "stage2_discussion"
OTHER = "The other professional who disagrees, in the other agency"
MANAGER = "Line manager of the other professional (opposite number in the other agency)"


@pytest.fixture
def dataset(api, clock):
    """A: resolved at Stage 2 after 1 + 3 working days; B: resolved at Stage 1 after 2; C: Stage 1 deadline
    breached, now open at Stage 2; D: cancelled at Stage 1; E: raised a week later with the police."""
    people.get_or_create_agency("Police")
    ids = {name: api.start(PROTOCOL, {**START, "case_reference": f"CASE-{name}"})["id"] for name in "ABCD"}
    api.request("POST", f"/api/instances/{ids['D']}/cancel", json={"reason": "Raised in error"})
    clock.move_to(london(2026, 12, 2, 10, 0))
    api.complete(api.ready(ids["A"])["id"], record("unresolved"))
    clock.move_to(london(2026, 12, 3, 8, 0))
    api.complete(api.ready(ids["B"])["id"], record("resolved"))
    clock.move_to(london(2026, 12, 3, 10, 0))
    api.sweep()
    clock.move_to(london(2026, 12, 7, 11, 0))
    api.complete(api.ready(ids["A"], STAGE2)["id"], record("resolved"))
    clock.move_to(london(2026, 12, 8, 9, 0))
    ids["E"] = api.start(PROTOCOL, {**START, "case_reference": "OTHER-E", "other_agency": "Police"})["id"]
    return ids


def test_protocol_report_figures(api, dataset):
    report = api.request("GET", f"/api/reports/{PROTOCOL}")
    assert report["total"] == 5
    assert report["by_status"] == {"running": 2, "resolved": 2, "closed": 0, "cancelled": 1, "error": 0}
    reached = {k.split(" –")[0]: v for k, v in report["by_stage_reached"].items()}
    assert reached == {"Stage 1": 3, "Stage 2": 2}
    stages = {s["element_id"]: s for s in report["stages"]}
    assert list(stages) == [STAGE1, STAGE2]
    assert stages[STAGE1] | {"title": None} == {
        "element_id": STAGE1, "title": None, "stage": "1", "closed": 4, "open": 1, "median_working_days": 1.5,
        "p90_working_days": 2.0, "breaches": 1, "breach_rate": 0.2}
    assert (stages[STAGE2]["closed"], stages[STAGE2]["open"], stages[STAGE2]["median_working_days"],
            stages[STAGE2]["p90_working_days"], stages[STAGE2]["breaches"]) == (1, 1, 3.0, 3.0, 0)
    assert report["counterparts"] == [{"role": OTHER, "tasks": 5}, {"role": MANAGER, "tasks": 2}]


def test_report_pages_and_csv(app, api, dataset):
    make_user("owner", roles=["Process Owner"], protocols=[PROTOCOL])
    client = app.test_client()
    client.post("/login", data={"username": "owner", "password": PASSWORD})
    dashboard = client.get("/reports").get_data(as_text=True)
    assert "Safeguarding Children Partnership escalation" in dashboard and "5 escalations" in dashboard
    page = client.get(f"/reports/{PROTOCOL}").get_data(as_text=True)
    assert 'class="chart"' in page and "chart.umd.min.js" in page
    assert "<td>1.5</td>" in page and "20%" in page
    stages = list(csv.reader(io.StringIO(client.get(f"/reports/{PROTOCOL}/stages.csv").get_data(as_text=True))))
    assert stages[0][:3] == ["stage", "element id", "closed"]
    assert stages[1][1:] == [STAGE1, "4", "1", "1.5", "2.0", "1", "0.200"]
    status = client.get(f"/reports/{PROTOCOL}/status.csv")
    assert status.mimetype == "text/csv" and "attachment" in status.headers["Content-Disposition"]
    assert list(csv.reader(io.StringIO(status.get_data(as_text=True))))[1:3] == [["running", "2"], ["resolved", "2"]]
    assert client.get(f"/reports/{PROTOCOL}/nope.csv").status_code == 404


def test_reports_are_for_owners_of_the_protocol(app, api, dataset):
    make_user("jo.reed", roles=["Professional"], agency="Children's Social Care")
    make_user("other.owner", roles=["Process Owner"], protocols=["another_protocol"])
    for username in ("jo.reed", "other.owner"):
        api.request("GET", f"/api/reports/{PROTOCOL}", 403, user=username)
        client = app.test_client()
        client.post("/login", data={"username": username, "password": PASSWORD})
        assert client.get(f"/reports/{PROTOCOL}").status_code == 403
        assert client.get(f"/reports/{PROTOCOL}/stages.csv").status_code == 403


def search(api, query: str) -> list[str]:
    return [i["case_reference"] for i in api.request("GET", f"/api/instances?{query}")]


@pytest.mark.parametrize("query,expected", [
    ("", ["OTHER-E", "CASE-D", "CASE-C", "CASE-B", "CASE-A"]),
    ("status=resolved", ["CASE-B", "CASE-A"]),
    ("status=cancelled", ["CASE-D"]),
    (f"protocol={PROTOCOL}&status=running", ["OTHER-E", "CASE-C"]),
    ("protocol=unknown_protocol", []),
    ("stage=Stage 2 – Direct manager to manager discussion", ["CASE-C", "CASE-A"]),
    ("agency=Police", ["OTHER-E"]),
    ("agency=northfield academy", ["OTHER-E", "CASE-D", "CASE-C", "CASE-B", "CASE-A"]),
    ("case=case-", ["CASE-D", "CASE-C", "CASE-B", "CASE-A"]),
    ("from=2026-12-08", ["OTHER-E"]),
    ("to=2026-12-07", ["CASE-D", "CASE-C", "CASE-B", "CASE-A"]),
    ("overdue=1", ["OTHER-E"]),  # E's Stage 1 was due at 09:00; C's Stage 2 is due at 10:00
    ("sort=case", ["CASE-A", "CASE-B", "CASE-C", "CASE-D", "OTHER-E"]),
    ("sort=oldest&status=resolved", ["CASE-A", "CASE-B"]),
])
def test_search_filters(api, dataset, clock, query, expected):
    clock.move_to(london(2026, 12, 10, 9, 30))
    assert search(api, query) == expected


def test_search_rejects_bad_filters_and_paginates(api, dataset):
    body = api.request("GET", "/api/instances?from=31/12/2026&sort=sideways", 400)
    assert body["fields"] == {"from": "Enter a date as YYYY-MM-DD", "sort": "Sort by one of: started, oldest, case, status, deadline, updated"}
    response = api.client.get("/api/instances?sort=case&page=1", headers={"Authorization": f"Bearer {api._token('tester')}"})
    assert response.headers["X-Total-Count"] == "5" and response.headers["X-Page"] == "1/1"
    from workflow_app.services import reports
    from workflow_app.services.people import get_user
    page = reports.search(get_user("tester"), reports.InstanceFilter(sort="case", page=2), per_page=2)
    assert [i.case_reference for i in page.items] == ["CASE-C", "CASE-D"] and page.pages == 3


def test_escalations_page_filters(app, api, dataset):
    client = app.test_client()
    client.post("/login", data={"username": "tester", "password": PASSWORD})
    page = client.get("/instances?status=resolved").get_data(as_text=True)
    assert "2 escalations" in page and "CASE-A" in page and "CASE-C" not in page
    bad = client.get("/instances?from=nope").get_data(as_text=True)
    assert "Enter a date as YYYY-MM-DD" in bad


def test_history_exports(app, api, dataset):
    client = app.test_client()
    client.post("/login", data={"username": "tester", "password": PASSWORD})
    instance_id = dataset["A"]
    rows = list(csv.reader(io.StringIO(client.get(f"/instances/{instance_id}/history.csv").get_data(as_text=True))))
    assert rows[0] == ["at", "kind", "party", "actor", "task", "task_id", "element_id", "data"]
    kinds = [r[1] for r in rows[1:]]
    assert kinds == ["started", "routed", "notification_sent", "task_completed", "escalated", "routed",
                     "notification_sent", "task_completed", "ended"]
    completed = [r for r in rows[1:] if r[1] == "task_completed"][0]
    assert completed[3] == "tester" and json.loads(completed[7])["outcome"] == "unresolved"
    exported = json.loads(client.get(f"/instances/{instance_id}/history.json").get_data(as_text=True))
    assert [h["kind"] for h in exported["history"]] == kinds
    assert exported["history"] == api.instance(instance_id)["history"]
    record_page = client.get(f"/instances/{instance_id}/record").get_data(as_text=True)
    assert "Dispute record — escalation #%d" % instance_id in record_page
    assert "9 entries" in record_page and "@media print" not in record_page  # print rules live in app.css


def test_history_cannot_be_edited_or_deleted(app, api, dataset):
    instance_id = dataset["A"]
    token = {"Authorization": f"Bearer {api._token('tester')}"}
    for method in ("PUT", "PATCH", "DELETE"):
        response = api.client.open(f"/api/instances/{instance_id}", method=method, headers=token, json={"history": []})
        assert response.status_code == 405
    assert len(api.instance(instance_id)["history"]) == 9
