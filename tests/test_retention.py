"""Retention: under a moved clock, exactly the escalations past their period are disposed of (after the data
protection officer approves), report totals stay as they were, and a held escalation is skipped."""
from __future__ import annotations

import json
from dataclasses import asdict

import pytest
from sqlalchemy import select

from conftest import PASSWORD, london, make_user
from test_partnership_escalation import PROTOCOL, complete, other, people, raising, ready, start  # noqa: F401
from workflow_app.extensions import db
from workflow_app.persistence.models import Disposal, EscalationParty, HistoryEntry, ProcessInstance
from workflow_app.services import people as people_service
from workflow_app.services import reports, retention
from workflow_app.services.deployments import bundle_for, require_latest

OFFICER = "dpo"


@pytest.fixture
def app(app_factory, clock):
    return app_factory(RETENTION_YEARS=2)


def resolved(api, case: str) -> int:
    instance_id = start(api, case_reference=case)
    tasks = ready(api, instance_id)
    complete(api, tasks["stage1_discussion"], raising("resolved"))
    assert complete(api, tasks["stage1_acknowledge"], other("resolved"))["status"] == "resolved"
    return instance_id


def report_figures() -> dict:
    report = asdict(reports.protocol_report(PROTOCOL))
    report.pop("generated_at")
    return report


def test_disposal_removes_exactly_the_escalations_past_retention(app, api, people, clock):
    old, held, kept_on_hold = resolved(api, "CASE-OLD"), resolved(api, "CASE-HELD"), resolved(api, "CASE-KEPT")
    clock.move_to(london(2027, 6, 1, 10, 0))  # the three above ended 1 December 2026
    recent = resolved(api, "CASE-RECENT")  # ended 1 June 2027
    running = start(api, case_reference="CASE-RUNNING")
    before = report_figures()
    officer = make_user(OFFICER, roles=[people_service.DATA_PROTECTION_OFFICER])
    retention.place_hold(kept_on_hold, "Care proceedings: court order 2027/118", user=officer)
    db.session.commit()

    clock.move_to(london(2028, 11, 30, 10, 0))  # one day short of two years after the first three ended
    result = app.test_cli_runner().invoke(args=["retention", "list-due"])
    assert "0 newly due" in result.output, result.output

    clock.move_to(london(2028, 12, 2, 10, 0))
    result = app.test_cli_runner().invoke(args=["retention", "list-due"])
    assert "2 newly due" in result.output, result.output
    proposed = {d.instance_id: d for d in retention.pending()}
    assert set(proposed) == {old, held}  # the escalation on hold is not even listed
    # A hold placed after the listing: the approval skips it.
    retention.place_hold(held, "Complaint under investigation", user=officer)
    db.session.commit()

    client = app.test_client()
    client.post("/login", data={"username": OFFICER, "password": PASSWORD})
    for instance_id in (old, held):
        response = client.post(f"/governance/disposals/{proposed[instance_id].id}/approve")
        assert response.status_code == 302

    db.session.expire_all()
    outcomes = {d.instance_id: d for d in db.session.scalars(select(Disposal))}
    assert set(outcomes) == {old, held}
    assert outcomes[old].status == "disposed" and outcomes[old].approved_by == OFFICER
    assert outcomes[held].status == "skipped" and "legal hold" in outcomes[held].note
    # The record says what was removed, never the data itself.
    assert outcomes[old].removed["parties"] == 2 and outcomes[old].removed["form_fields"] > 0
    assert "CASE-OLD" not in json.dumps(outcomes[old].removed) + outcomes[old].note

    gone = db.session.get(ProcessInstance, old)
    assert gone.data == {} and gone.case_reference is None and gone.started_by == ""
    assert all(h.data == {} and h.actor is None for h in gone.history)
    assert db.session.scalars(select(EscalationParty).where(EscalationParty.instance_id == old)).all() == []
    assert all(t.completed_by is None and t.assigned_to_id is None for t in gone.tasks)
    # Nobody can open it any more, administrators and owners included.
    assert "disposed of" in api.request("GET", f"/api/instances/{old}", expect=404)["error"]

    for kept, case in ((held, "CASE-HELD"), (kept_on_hold, "CASE-KEPT"), (recent, "CASE-RECENT"),
                       (running, "CASE-RUNNING")):
        instance = db.session.get(ProcessInstance, kept)
        assert instance.case_reference == case and instance.data["case_reference"] == case
        assert api.instance(kept)["case_reference"] == case
    assert any(h.data for h in db.session.scalars(select(HistoryEntry).where(HistoryEntry.instance_id == held)))

    assert report_figures() == before  # the reports count exactly what they counted before

    # Nothing is proposed twice, nor while held; the recent one falls due in its own time; a released hold
    # lets the escalation be listed again.
    assert retention.list_due() == []
    clock.move_to(london(2029, 6, 2, 10, 0))
    assert [d.instance_id for d in retention.list_due()] == [recent]
    retention.release_hold(held, user=officer)
    assert [d.instance_id for d in retention.list_due()] == [held]


def test_a_protocols_own_retention_period_comes_from_its_diagram(app, api, people):
    instance_id = resolved(api, "CASE-1")
    instance = db.session.get(ProcessInstance, instance_id)
    assert retention.due_at(instance).year == instance.ended_at.year + 2  # the installation default (here 2)
    properties = bundle_for(require_latest(PROTOCOL)).properties
    properties["retention_years"] = "25"
    try:
        assert retention.due_at(instance).year == instance.ended_at.year + 25
    finally:
        properties.pop("retention_years")


def test_only_a_data_protection_officer_approves_or_holds(app, api, people, clock):
    instance_id = resolved(api, "CASE-1")
    clock.move_to(london(2029, 1, 5, 10, 0))
    [disposal] = retention.list_due()
    db.session.commit()
    client = app.test_client()
    client.post("/login", data={"username": "tester", "password": PASSWORD})  # owner of every protocol
    assert client.post(f"/governance/disposals/{disposal.id}/approve").status_code == 403
    assert client.post("/governance/holds", data={"instance": instance_id, "reason": "x"}).status_code == 403
    db.session.expire_all()
    assert db.session.get(Disposal, disposal.id).status == "proposed"
