"""The process owner's dashboard and heat map on the crafted data set of test_reports.py, whose answers are known.

Each escalation is raised by Sam Patel (Northfield Academy) against Jo Reed (Children's Social Care) and every
stage's two tasks are completed by the people they are assigned to; the process owner is a third person. By
Tuesday 8 December 2026: A resolved at Stage 2 (7 Dec), B resolved at Stage 1 (3 Dec), C open at Stage 2 after
both its Stage 1 deadlines were missed (3 Dec), D cancelled (1 Dec), E raised on 8 Dec, open at Stage 1.
"""
from __future__ import annotations

import html
import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from conftest import PASSWORD, london, make_user
from test_partnership_escalation import PROTOCOL, people  # noqa: F401
from test_reports import ACK1, ACK2, STAGE1, STAGE2, dataset  # noqa: F401
from workflow_app.services import dashboard

STAGE1_TITLE = "Stage 1 – Professional to professional discussion: record the discussion and plan"


def signed_in(app, username: str):
    client = app.test_client()
    response = client.post("/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.status_code
    return client, response.headers["Location"]


@pytest.fixture
def owner(app, dataset):
    make_user("olu.owner", roles=["Process Owner"], agency="Partnership Office", protocols=[PROTOCOL])
    return signed_in(app, "olu.owner")


def text_of(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def table_rows(page: str, table_id: str) -> list[list[str]]:
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', page, re.S).group(0)
    body = table.split("<tbody", 1)[1]
    return [[text_of(cell) for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]


def figure(page: str, figure_id: str) -> str:
    return text_of(re.search(rf'<p[^>]*id="{figure_id}"[^>]*>(.*?)</p>', page, re.S).group(1))


def test_the_owner_lands_on_the_dashboard_and_sees_the_protocols_figures(app, owner):
    client, landing = owner
    assert landing == "/reports"
    page = client.get(landing).get_data(as_text=True)
    assert "Safeguarding Children Partnership escalation" in page
    assert figure(page, "figure-open") == "2 open escalations now"  # C (Stage 2) and E (Stage 1)
    assert figure(page, "figure-missed") == "2 deadlines missed in December"  # both sides of C at Stage 1
    assert figure(page, "figure-total") == "5 escalations in all"
    open_rows = table_rows(page, "open-by-stage")
    assert [(row[0].split(" –")[0], row[1]) for row in open_rows] == [("Stage 1", "1"), ("Stage 2", "1")]
    # Each stage links to the escalations list showing exactly those escalations.
    assert f"/instances?protocol={PROTOCOL}&amp;status=running&amp;stage=Stage+1" in page
    # Oldest first, each linked to its page: C raised on 1 December, E on 8 December.
    oldest = table_rows(page, "oldest-open")
    assert [row[0] for row in oldest] == ["CASE-C", "OTHER-E"]
    assert oldest[0][2].startswith("Tue 01 Dec 2026") and oldest[1][2].startswith("Tue 08 Dec 2026")
    assert [row[3] for row in oldest] == ["5", "0"]  # working days since 1 and 8 December, on 8 December
    assert re.search(r'href="/instances/\d+">CASE-C</a>', page)
    # The trend: twelve months, January to December 2026; December raised 5, closed 3 (A, B resolved, D cancelled).
    trend = table_rows(page, "trend")
    assert [row[0] for row in trend] == [f"{m} 2026" for m in
                                         "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()]
    assert trend[-1] == ["Dec 2026", "5", "3"] and all(row[1:] == ["0", "0"] for row in trend[:-1])
    assert '"Raised", "values": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5]' in html.unescape(page)
    assert 'data-src="/reports/partnership_escalation/heatmap.json"' in page
    assert "diagram-minimap.umd.prod.js" in page and "heatmap.js" in page


def test_a_new_month_starts_with_no_missed_deadlines_and_the_trend_moves_on(app, api, owner, clock, dataset):
    client, _ = owner
    clock.move_to(london(2027, 1, 4, 9, 0))
    page = client.get("/reports").get_data(as_text=True)
    assert figure(page, "figure-missed") == "0 deadlines missed in January"
    trend = table_rows(page, "trend")
    assert trend[0][0] == "Feb 2026" and trend[-2] == ["Dec 2026", "5", "3"] and trend[-1] == ["Jan 2027", "0", "0"]
    # C, raised in December, is withdrawn by the person who raised it in January: it counts as closed in the
    # month it ended.
    api.as_user("sam.patel").request("POST", f"/api/instances/{dataset['C']}/cancel",
                                     json={"reason": "Agreed at a strategy meeting"})
    page = client.get("/reports").get_data(as_text=True)
    assert table_rows(page, "trend")[-2:] == [["Dec 2026", "5", "3"], ["Jan 2027", "0", "1"]]
    assert figure(page, "figure-open") == "1 open escalation now"
    assert [row[0] for row in table_rows(page, "oldest-open")] == ["OTHER-E"]


def test_months_are_the_protocols_own():
    """3 a.m. UTC on 1 January is still 31 December in Chicago: that month is the current one there."""
    starts = dashboard.month_starts(datetime(2027, 1, 1, 3, 0, tzinfo=timezone.utc), ZoneInfo("America/Chicago"))
    assert len(starts) == 13
    assert starts[-2] == datetime(2026, 12, 1, tzinfo=ZoneInfo("America/Chicago"))
    assert starts[0] == datetime(2026, 1, 1, tzinfo=ZoneInfo("America/Chicago"))
    assert starts[-1] == datetime(2027, 1, 1, tzinfo=ZoneInfo("America/Chicago"))


def test_heatmap_numbers_per_task(app, owner):
    client, _ = owner
    response = client.get(f"/reports/{PROTOCOL}/heatmap.json")
    assert response.status_code == 200 and response.is_json
    view = response.get_json()
    assert view["protocol"] == PROTOCOL and view["xml"].lstrip().startswith("<?xml")
    elements = {e["id"]: e for e in view["elements"]}
    assert set(elements) == {ACK1, STAGE1, ACK2, STAGE2}
    # Stage 1, both sides: reached by all five escalations; the other side acknowledged A and B after 1 and 2
    # working days (C's closed at its deadline, D's cancelled: only tasks done count towards the median).
    assert {k: elements[ACK1][k] for k in ("reached", "open", "median_days", "breaches", "breach_rate")} == {
        "reached": 5, "open": 1, "median_days": 1.5, "breaches": 1, "breach_rate": 0.2}
    stage1 = elements[STAGE1]
    assert (stage1["reached"], stage1["median_days"], stage1["breach_rate"]) == (5, 2.0, 0.2)
    # Stage 2: A and C reached it; A's both sides took 3 working days; no deadline missed.
    assert {k: elements[STAGE2][k] for k in ("reached", "open", "median_days", "breaches", "breach_rate")} == {
        "reached": 2, "open": 1, "median_days": 3.0, "breaches": 0, "breach_rate": 0.0}
    assert view["max_reached"] == 5
    # Every element it names is in the deployed diagram the viewer draws.
    assert all(f'id="{element_id}"' in view["xml"] for element_id in elements)


def test_an_owner_sees_only_the_protocols_they_own(app, dataset):
    make_user("wsscp.owner", roles=["Process Owner"], protocols=["wsscp_escalation"])
    client, landing = signed_in(app, "wsscp.owner")
    assert landing == "/reports"
    page = client.get("/reports").get_data(as_text=True)
    assert "WSSCP" in page and "Safeguarding Children Partnership escalation" not in page
    assert figure(page, "figure-total") == "0 escalations in all"
    assert client.get(f"/reports?protocol={PROTOCOL}").status_code == 403
    assert client.get(f"/reports/{PROTOCOL}/heatmap.json").status_code == 403
    assert client.get("/reports?protocol=no_such_protocol").status_code == 404


def test_an_owner_of_several_protocols_switches_between_them(app, dataset):
    make_user("two.owner", roles=["Process Owner"], protocols=[PROTOCOL, "wsscp_escalation"])
    client, _ = signed_in(app, "two.owner")
    page = client.get("/reports?protocol=wsscp_escalation").get_data(as_text=True)
    nav = re.search(r'<nav class="moj-sub-navigation".*?</nav>', page, re.S).group(0)
    assert nav.count("<li") == 2 and re.search(r'aria-current="page" href="/reports\?protocol=wsscp_escalation"', nav)
    assert figure(page, "figure-total") == "0 escalations in all"
    page = client.get(f"/reports?protocol={PROTOCOL}").get_data(as_text=True)
    assert figure(page, "figure-total") == "5 escalations in all"


def test_staff_are_refused_the_dashboard_and_the_heatmap(app, dataset):
    client, landing = signed_in(app, "jo.reed")  # took part in every escalation, owns no protocol
    assert landing == "/inbox"
    response = client.get("/reports")
    assert response.status_code == 403
    assert "process owners" in response.get_data(as_text=True)
    assert client.get(f"/reports/{PROTOCOL}/heatmap.json").status_code == 403
    anonymous = app.test_client().get(f"/reports/{PROTOCOL}/heatmap.json")
    assert anonymous.status_code in (302, 401)
