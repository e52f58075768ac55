"""`flask setup` fills a fresh installation with a year of escalations produced by the engine itself under a moving
clock: a spread of protocols, stages reached, kept and breached deadlines, resolutions at each level, both sides
acting; the README's named escalations are open for their people; a second run changes nothing."""
from __future__ import annotations

from datetime import timedelta

import pytest

from conftest import Api, drop_everything
from workflow_app.extensions import db
from workflow_app.persistence.models import HistoryEntry, OutboxMessage, ProcessInstance, TaskRecord


@pytest.mark.slow
def test_setup_makes_a_realistic_year_of_demo_escalations_once(app_factory, clock):
    app = app_factory(deploy=False, DEMO_SCALE=0.6)
    with app.app_context():
        drop_everything()
        runner = app.test_cli_runner()
        first = runner.invoke(args=["setup"])
        assert first.exit_code == 0, first.output
        assert "partnership_escalation: version 1 deployed" in first.output
        assert "escalations created over the past year" in first.output

        instances = db.session.query(ProcessInstance).all()
        by_protocol = {}
        for instance in instances:
            by_protocol.setdefault(instance.protocol_key, []).append(instance)
        assert len(by_protocol) == 5 and all(len(v) >= 4 for v in by_protocol.values())
        statuses = {i.status for i in instances}
        assert {"resolved", "closed", "running"} <= statuses
        # Spread over the year, not all raised today.
        starts = sorted(i.started_at for i in instances)
        assert starts[-1] - starts[0] > timedelta(days=200)
        # Resolved at more than one level of the partnership ladder.
        partnership = by_protocol["partnership_escalation"]
        resolved_stages = {i.stage_reached for i in partnership if i.status == "resolved"}
        assert len(resolved_stages) >= 2, resolved_stages
        # Deadlines both kept and breached.
        tasks = db.session.query(TaskRecord).filter(TaskRecord.due_at.is_not(None), TaskRecord.state != "ready").all()
        assert any(t.breached_at is not None for t in tasks)
        assert any(t.breached_at is None and t.completed_at <= t.due_at for t in tasks)
        # Both sides acted: completions by each party, in most partnership escalations.
        both = 0
        for instance in partnership:
            parties = {h.party for h in instance.history if h.kind == "task_completed"}
            both += {"raising", "counterpart"} <= parties
        assert both >= len(partnership) // 2
        # Every completion was made by a person of the right side (the engine's own assignment), never by one
        # person on both sides of one escalation.
        for instance in instances:
            sides: dict[str, set] = {}
            for h in instance.history:
                if h.kind == "task_completed" and h.party:
                    sides.setdefault(h.party, set()).add(h.actor)
            if len(sides) == 2:
                assert not (sides["raising"] & sides["counterpart"]), instance.case_reference
        # Mail the simulated past would have sent is kept, not sent to demo addresses.
        assert db.session.query(OutboxMessage).filter(OutboxMessage.status == "suppressed").count() > 0
        assert db.session.query(HistoryEntry).filter(HistoryEntry.kind == "notification_delivered").count() == 0

        # Every role of every protocol has a demo person.
        from workflow_app.services.deployments import bundle_for, latest_deployments
        from workflow_app.services.people import list_users
        held = {role.name for user in list_users() for role in user.roles}
        lanes = {lane for d in latest_deployments() for lane in bundle_for(d).lanes}
        assert lanes <= held

        # The README's named escalations are open for their people today.
        owner = Api(app.test_client(), "owner")
        listed = {i["case_reference"]: i for i in owner.request("GET", "/api/instances?case=DEMO-0")}
        assert set(listed) == {"DEMO-001", "DEMO-002"}
        holders = {(t["name"], t["assigned_to"]) for t in owner.instance(listed["DEMO-001"]["id"])["ready_tasks"]}
        assert holders == {("stage1_discussion", "sam.patel"), ("stage1_acknowledge", "jo.reed")}
        holders = {(t["name"], t["assigned_to"]) for t in owner.instance(listed["DEMO-002"]["id"])["ready_tasks"]}
        assert holders == {("stage2_discussion", "manager.school"), ("stage2_acknowledge", "manager.csc")}
        # The process owner's report shows the year: breaches and working-day medians per stage.
        report = owner.request("GET", "/api/reports/partnership_escalation")
        assert report["total"] == len(partnership)
        assert any(stage["breaches"] for stage in report["stages"])

        second = runner.invoke(args=["setup"])
        assert second.exit_code == 0, second.output
        assert "partnership_escalation: version 1 unchanged" in second.output
        assert "demo data" not in second.output
        assert db.session.query(ProcessInstance).count() == len(instances)
