"""What a process owner sees of one instance: the diagram with the path taken, stage timings."""
from __future__ import annotations

import re

from conftest import PASSWORD, london, make_user
from test_partnership_escalation import PROTOCOL, START, escalate_to, record


def test_diagram_marks_completed_active_and_breached_elements(api, clock):
    instance_id = api.start(PROTOCOL, START)["id"]
    clock.move_to(london(2026, 12, 3, 10, 0))
    api.sweep()  # Stage 1's deadline escalates to Stage 2
    view = api.request("GET", f"/api/instances/{instance_id}/diagram")
    assert view["protocol"] == PROTOCOL and view["version"] == 1
    assert 'id="partnership_escalation"' in view["xml"]
    assert view["active"] == ["stage2_discussion"]
    assert view["breached"] == ["stage1_discussion"]
    assert set(view["completed"]) == {"disagreement_raised", "open_stage_1", "route_counterpart", "notify_stage",
                                      "which_stage", "stage1_deadline", "escalate_stage"}
    assert "stage1_discussion" not in view["completed"]  # it was cancelled by the deadline, not done


def test_instance_page_shows_deadlines_against_working_days_taken(app, api, clock):
    instance_id = api.start(PROTOCOL, START)["id"]
    clock.move_to(london(2026, 12, 2, 15, 0))
    api.complete(api.ready(instance_id)["id"], record("unresolved"))  # Stage 1 in 1 working day: kept
    clock.move_to(london(2026, 12, 10, 11, 0))
    api.sweep()  # Stage 2 (due 9 Dec 15:00) breached, still open
    client = app.test_client()
    client.post("/login", data={"username": "tester", "password": PASSWORD})
    page = client.get(f"/instances/{instance_id}").get_data(as_text=True)
    table = re.search(r'<table class="list" id="stage-timings">(.*?)</table>', page, re.S).group(1)
    rows = re.findall(r"<tr class=\"[^\"]*\">\s*<td>(.*?)</tr>", table, re.S)
    stage_rows = [r for r in rows if "Stage 1 –" in r or "Stage 2 –" in r]
    assert len(stage_rows) == 2
    assert "<td>1</td>" in stage_rows[0] and "kept" in stage_rows[0]
    assert "<td>6</td>" in stage_rows[1] and "breached" in stage_rows[1]
    assert 'data-src="/instances/%d/diagram.json"' % instance_id in page
    diagram = client.get(f"/instances/{instance_id}/diagram.json").get_json()
    assert diagram["active"] == ["stage2_discussion"] and diagram["breached"] == ["stage2_discussion"]
