"""Process owners' reports and search on a crafted data set whose answers are known.

Both agencies act at every stage: each escalation is raised by Sam Patel (Northfield Academy) against Jo Reed
(Children's Social Care), and each stage's two tasks (the raising side's discussion record, the other side's
acknowledgement) are completed by the people they are assigned to, so the figures count both sides' tasks.
"""
from __future__ import annotations

import csv
import html
import io
import json
import re

import pytest

from conftest import PASSWORD, london, make_user
from test_partnership_escalation import PROTOCOL, START, complete, other, people, raising, ready  # noqa: F401
from workflow_app.services import people as people_service

STAGE1, STAGE2 = "stage1_discussion", "stage2_discussion"  # the raising side's task at each stage
ACK1, ACK2 = "stage1_acknowledge", "stage2_acknowledge"  # the other side's task at each stage
STAGE2_REACHED = "Stage 2 – Direct manager to manager discussion: record the discussion and plan"


def both_sides(api, instance_id: int, raising_outcome: str, other_outcome: str) -> None:
    """Both sides of the instance's current stage record their answer, each as the person assigned."""
    tasks = ready(api, instance_id)
    stage = [name for name in tasks if name.endswith("_discussion")][0].split("_")[0]
    complete(api, tasks[f"{stage}_discussion"], raising(raising_outcome))
    complete(api, tasks[f"{stage}_acknowledge"], other(other_outcome))


@pytest.fixture
def dataset(api, clock, people):
    """A: referred up by the raising side after 1 working day, both sides agree a plan at Stage 2 after 3 more;
    B: both sides agree at Stage 1 after 2; C: Stage 1 deadline breached on both sides (the silent other side's
    acknowledgement closes), the raising side then refers up with evidence: open at Stage 2; D: cancelled at
    Stage 1; E: raised a week later against the police."""
    people_service.get_or_create_agency("Police")
    make_user("pc.lee", roles=["Professional"], agency="Police", email="pc.lee@example.org")
    sam = api.as_user("sam.patel")
    ids = {name: sam.start(PROTOCOL, {**START, "case_reference": f"CASE-{name}"})["id"] for name in "ABCD"}
    sam.request("POST", f"/api/instances/{ids['D']}/cancel", json={"reason": "Raised in error"})
    clock.move_to(london(2026, 12, 2, 10, 0))
    both_sides(api, ids["A"], "unresolved", "resolved")
    clock.move_to(london(2026, 12, 3, 8, 0))
    both_sides(api, ids["B"], "resolved", "resolved")
    clock.move_to(london(2026, 12, 3, 10, 0))
    api.sweep()
    assert list(ready(api, ids["C"])) == [STAGE1]  # Jo's acknowledgement closed at the deadline
    complete(api, ready(api, ids["C"])[STAGE1], raising("unresolved"))
    assert set(ready(api, ids["C"])) == {STAGE2, ACK2}
    clock.move_to(london(2026, 12, 7, 11, 0))
    both_sides(api, ids["A"], "resolved", "resolved")
    clock.move_to(london(2026, 12, 8, 9, 0))
    ids["E"] = sam.start(PROTOCOL, {**START, "case_reference": "OTHER-E", "other_agency": "Police",
                                    "other_professional": "pc.lee"})["id"]
    return ids


def test_protocol_report_figures(api, dataset):
    report = api.request("GET", f"/api/reports/{PROTOCOL}")
    assert report["total"] == 5
    assert report["by_status"] == {"running": 2, "resolved": 2, "closed": 0, "cancelled": 1, "error": 0}
    # The stage reached is named once per stage (by the raising side's task), not once per side.
    assert len(report["by_stage_reached"]) == 2
    reached = {k.split(" –")[0]: v for k, v in report["by_stage_reached"].items()}
    assert reached == {"Stage 1": 3, "Stage 2": 2}
    assert report["by_stage_reached"][STAGE2_REACHED] == 2
    stages = {s["element_id"]: s for s in report["stages"]}
    # Each side's task has its own row, in stage order (within a stage, by title: "acknowledge ..." first).
    assert list(stages) == [ACK1, STAGE1, ACK2, STAGE2]
    # The other side: A and B acknowledged after 1 and 2 working days, C's closed unanswered at its deadline,
    # D's was cancelled, E's is open.
    assert stages[ACK1] | {"title": None} == {
        "element_id": ACK1, "title": None, "stage": "1", "closed": 4, "open": 1, "median_working_days": 1.5,
        "p90_working_days": 2.0, "breaches": 1, "breach_rate": 0.2}
    # The raising side: A, B and C recorded after 1, 2 and 2 working days (C after its deadline), D cancelled.
    assert stages[STAGE1] | {"title": None} == {
        "element_id": STAGE1, "title": None, "stage": "1", "closed": 4, "open": 1, "median_working_days": 2.0,
        "p90_working_days": 2.0, "breaches": 1, "breach_rate": 0.2}
    for element_id in (STAGE2, ACK2):  # A's both sides after 3 working days; C's open
        assert (stages[element_id]["closed"], stages[element_id]["open"], stages[element_id]["median_working_days"],
                stages[element_id]["p90_working_days"], stages[element_id]["breaches"]) == (1, 1, 3.0, 3.0, 0)
    # Every task carries the role routed on the other side: both sides' tasks at Stage 1 (5 escalations) and
    # at Stage 2 (A and C).
    assert report["counterparts"] == [{"role": "Professional", "tasks": 10}, {"role": "Line Manager", "tasks": 4}]


def test_report_pages_and_csv(app, api, dataset):
    make_user("owner", roles=["Process Owner"], protocols=[PROTOCOL])
    client = app.test_client()
    client.post("/login", data={"username": "owner", "password": PASSWORD})
    dashboard = client.get("/reports").get_data(as_text=True)  # its figures: tests/test_dashboard.py
    assert "Safeguarding Children Partnership escalation" in dashboard
    assert f'href="/reports/{PROTOCOL}">Full report' in dashboard
    page = client.get(f"/reports/{PROTOCOL}").get_data(as_text=True)
    assert 'class="chart"' in page and "chart.umd.min.js" in page
    assert '<td class="govuk-table__cell">1.5</td>' in page and "20%" in page
    stages = list(csv.reader(io.StringIO(client.get(f"/reports/{PROTOCOL}/stages.csv").get_data().decode("utf-8-sig"))))
    assert stages[0][:3] == ["stage", "element id", "closed"]
    assert stages[1][1:] == [ACK1, "4", "1", "1.5", "2.0", "1", "0.200"]
    assert stages[2][1:] == [STAGE1, "4", "1", "2.0", "2.0", "1", "0.200"]
    status = client.get(f"/reports/{PROTOCOL}/status.csv")
    assert status.mimetype == "text/csv" and "attachment" in status.headers["Content-Disposition"]
    assert list(csv.reader(io.StringIO(status.get_data().decode("utf-8-sig"))))[1:3] == [["running", "2"], ["resolved", "2"]]
    assert client.get(f"/reports/{PROTOCOL}/nope.csv").status_code == 404


def test_reports_are_for_owners_of_the_protocol(app, api, dataset):
    # Jo took part in every escalation (the other side's professional), but does not own the protocol.
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
    (f"stage={STAGE2_REACHED}", ["CASE-C", "CASE-A"]),
    ("agency=Police", ["OTHER-E"]),
    ("agency=northfield academy", ["OTHER-E", "CASE-D", "CASE-C", "CASE-B", "CASE-A"]),
    ("case=case-", ["CASE-D", "CASE-C", "CASE-B", "CASE-A"]),
    ("case_reference=case-b", ["CASE-B"]),  # exact, letter case ignored (an integration's look-up)
    ("case_reference=CASE-", []),  # a prefix is not a match
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


def test_escalations_count_stops_at_its_limit_but_every_page_stays_reachable(app, api, dataset, monkeypatch):
    """Above COUNT_LIMIT the list says "N+" instead of counting every match; the pages up to the one shown
    (and the next) still exist, and a count under the limit stays exact."""
    from workflow_app.services import reports
    from workflow_app.services.people import get_user
    monkeypatch.setattr(reports, "COUNT_LIMIT", 2)
    tester = get_user("tester")
    first = reports.search(tester, reports.InstanceFilter(sort="case"), per_page=1)
    assert (first.total, first.total_is_exact, first.total_text) == (2, False, "2+")
    third = reports.search(tester, reports.InstanceFilter(sort="case", page=3), per_page=1)
    assert [i.case_reference for i in third.items] == ["CASE-C"] and third.pages == 4  # page 4 is reachable
    exact = reports.search(tester, reports.InstanceFilter(status="cancelled"), per_page=1)
    assert (exact.total, exact.total_is_exact) == (1, True)
    client = app.test_client()
    client.post("/login", data={"username": "tester", "password": PASSWORD})
    # a page of 50 counts at least 51 rows, so five escalations are counted exactly
    assert "5 escalations" in client.get("/instances").get_data(as_text=True)


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
    exported_csv = client.get(f"/instances/{instance_id}/history.csv").get_data()
    assert exported_csv.startswith("\ufeff".encode())  # a UTF-8 byte order mark: Excel reads it as UTF-8
    rows = list(csv.reader(io.StringIO(exported_csv.decode("utf-8-sig"))))
    assert rows[0][:7] == ["at", "kind", "party", "actor", "task", "task_id", "element_id"]
    column = {name: i for i, name in enumerate(rows[0])}  # then one column per form field or data key
    kinds = [r[1] for r in rows[1:]]
    stage = ["routed", "notification_sent", "task_assigned", "task_assigned", "task_completed", "task_completed"]
    assert kinds == ["started", *stage, "escalated", *stage, "ended"]
    # Both sides' entries, labelled by party (and agency): who each task went to and who completed it.
    raising_label, other_label = "Raising side (Northfield Academy)", "Other side (Children's Social Care)"
    assigned = [(r[2], r[6], r[column["assigned_to"]]) for r in rows[1:] if r[1] == "task_assigned"]
    assert assigned == [(raising_label, STAGE1, "sam.patel"), (other_label, ACK1, "jo.reed"),
                        (raising_label, STAGE2, "mia.lm"), (other_label, ACK2, "max.lm")]
    completed = [r for r in rows[1:] if r[1] == "task_completed"]
    assert [(r[2], r[3], r[6]) for r in completed] == [
        (raising_label, "sam.patel", STAGE1), (other_label, "jo.reed", ACK1),
        (raising_label, "mia.lm", STAGE2), (other_label, "max.lm", ACK2)]
    assert completed[0][column["outcome"]] == "unresolved" and completed[0][column["counterpart_outcome"]] == ""
    assert completed[1][column["counterpart_outcome"]] == "resolved"
    assert rows[1][1:4] == ["started", raising_label, "sam.patel"]
    assert rows[-1][1:3] == ["ended", ""]
    exported = json.loads(client.get(f"/instances/{instance_id}/history.json").get_data(as_text=True))
    assert [h["kind"] for h in exported["history"]] == kinds
    assert [(h["party"], h["actor"]) for h in exported["history"] if h["kind"] == "task_completed"] == [
        ("raising", "sam.patel"), ("counterpart", "jo.reed"), ("raising", "mia.lm"), ("counterpart", "max.lm")]
    assert exported["history"] == api.instance(instance_id)["history"]
    record_page = client.get(f"/instances/{instance_id}/record").get_data(as_text=True)
    assert "Dispute record — escalation #%d" % instance_id in record_page
    assert "15 entries" in record_page and "@media print" not in record_page  # print rules live in app.css
    # The printable record names both sides, and labels each side's stage rows and history entries with its party.
    record_text = html.unescape(record_page)
    assert f"<dt>{raising_label}</dt><dd>Sam Patel (Professional, Northfield Academy)</dd>" in record_text
    assert f"<dt>{other_label}</dt><dd>Jo Reed (Professional, Children's Social Care)</dd>" in record_text
    titles = {r[6]: r[4] for r in completed}
    row = r"<tr>\s*<td>([^<]*)</td><td>([^<]*)</td>.*?<td>([^<]*)</td><td>[^<]*</td>\s*<td>[^<]*</td></tr>"
    timings = re.findall(row, record_text, re.S)  # (stage, side, closed by) of each row
    # People by name, protocol role and agency, not by username (issue 17).
    sam, jo = "Sam Patel (Professional, Northfield Academy)", "Jo Reed (Professional, Children's Social Care)"
    mia, max_ = "Mia Lm (Line Manager, Northfield Academy)", "Max Lm (Line Manager, Children's Social Care)"
    assert timings == [(titles[STAGE1], raising_label, sam), (titles[ACK1], other_label, jo),
                       (titles[STAGE2], raising_label, mia), (titles[ACK2], other_label, max_)]
    entries = re.findall(r"<li><p><strong>[^<]*</strong> — (.*?)</p>", record_text)
    assert len(entries) == 15
    assert [e for e in entries if "Task completed" in e] == [
        f"[{raising_label}] Task completed: {titles[STAGE1]}, by {sam}",
        f"[{other_label}] Task completed: {titles[ACK1]}, by {jo}",
        f"[{raising_label}] Task completed: {titles[STAGE2]}, by {mia}",
        f"[{other_label}] Task completed: {titles[ACK2]}, by {max_}"]


def test_history_cannot_be_edited_or_deleted(app, api, dataset):
    instance_id = dataset["A"]
    token = {"Authorization": f"Bearer {api._token('tester')}"}
    for method in ("PUT", "PATCH", "DELETE"):
        response = api.client.open(f"/api/instances/{instance_id}", method=method, headers=token, json={"history": []})
        assert response.status_code == 405
    assert len(api.instance(instance_id)["history"]) == 15
