"""The Alembic migrations build exactly the schema the models describe, and set-up is repeatable."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from conftest import drop_everything
from workflow_app.extensions import db


@pytest.mark.filterwarnings("ignore:.*expression-based index.*")
def test_migrations_match_the_models(app_factory, clock):
    app = app_factory(deploy=False)
    with app.app_context():
        drop_everything()
        upgrade(directory=app.extensions["migrate"].directory)
        with db.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), db.metadata)
        assert differences == []
        # Autogenerate cannot compare expression indexes on SQLite; check this one exists by name.
        if db.engine.dialect.name == "sqlite":
            indexes = {row[1] for row in db.session.execute(db.text("PRAGMA index_list('instances')"))}
        else:
            indexes = set(db.session.scalars(db.text("SELECT indexname FROM pg_indexes WHERE tablename = 'instances'")))
        assert "ix_instances_case_lower" in indexes


def test_upgrading_a_database_made_by_the_first_migration_keeps_its_escalations(app_factory, clock):
    """Data written under the first schema survives `flask db upgrade` and the escalation can go on."""
    import json as jsonlib
    from datetime import datetime, timezone
    from pathlib import Path

    from conftest import Api, make_user
    from workflow_app.engine import EngineInstance, parse_bundle
    from workflow_app.engine.serialization import embed_spec, has_embedded_spec
    from workflow_app.services.calendar import WorkingCalendar
    from workflow_app.services.expressions import diagram_functions

    # The partnership diagram as it was before two-party stages (single-sided tasks, no party lanes).
    legacy = Path(__file__).resolve().parent / "diagrams" / "legacy"
    bpmn = (legacy / "partnership_escalation_v1.bpmn").read_text()
    dmn = {"partnership_routing.dmn": (legacy / "partnership_routing_v1.dmn").read_text()}
    bundle = parse_bundle(bpmn, "partnership_escalation.bpmn", dmn)
    engine = EngineInstance.new(bundle, diagram_functions(WorkingCalendar()))
    start = {"case_reference": "OLD-1", "raising_professional": "A", "raising_agency": "Northfield Academy",
             "other_professional": "B", "other_agency": "Children's Social Care", "disagreement": "x", "desired_outcome": "y"}
    engine.begin(start)
    task = engine.ready_user_tasks()[0]
    now = datetime(2026, 12, 1, 9, tzinfo=timezone.utc).replace(tzinfo=None)
    # Stored as it was then: the whole spec copied into the instance's state.
    old_state = embed_spec(engine.dumps(), bundle.spec, bundle.subprocess_specs)
    assert has_embedded_spec(old_state)

    app = app_factory(deploy=False, reset_db=True)
    with app.app_context():
        drop_everything()
        directory = app.extensions["migrate"].directory
        upgrade(directory=directory, revision="1eb2860ea8f5")
        insert = db.text
        db.session.execute(insert(
            "INSERT INTO deployments (id, protocol_key, name, version, bpmn_filename, bpmn_xml, dmn_files, content_hash,"
            " calendar, timezone, deployed_at, deployed_by, comment) VALUES (1, 'partnership_escalation', 'Old name', 1,"
            " 'partnership_escalation.bpmn', :bpmn, :dmn, 'oldhash', 'GB-ENG', 'Europe/London', :now, 'first', '')"),
            {"bpmn": bpmn, "dmn": jsonlib.dumps(dmn), "now": now})
        db.session.execute(insert(
            "INSERT INTO instances (id, deployment_id, protocol_key, status, case_reference, current_stage, state, data,"
            " started_at, started_by, updated_at, next_timer_at, lock_version) VALUES (7, 1, 'partnership_escalation',"
            " 'running', 'OLD-1', :stage, :state, :data, :now, 'someone', :now, :due, 1)"),
            {"stage": task.title, "state": old_state, "data": jsonlib.dumps(engine.data), "now": now,
             "due": task.due_at.replace(tzinfo=None)})
        db.session.execute(insert(
            "INSERT INTO tasks (id, instance_id, element_id, title, role, counterpart_role, state, due_at, created_at)"
            " VALUES (:id, 7, :element, :title, 'Professional', 'The other professional', 'ready', :due, :now)"),
            {"id": task.id, "element": task.element_id, "title": task.title, "due": task.due_at.replace(tzinfo=None),
             "now": now})
        db.session.execute(insert("INSERT INTO history (instance_id, at, kind, actor, data) VALUES (7, :now, 'started',"
                                  " 'someone', :data)"), {"now": now, "data": jsonlib.dumps(start)})
        db.session.commit()

        upgrade(directory=directory)  # to the newest schema, data in place
        # The state no longer carries the spec (the deployment's diagram supplies it), and is a fraction of it.
        from workflow_app.persistence.encryption import is_ciphertext
        from workflow_app.persistence.models import ProcessInstance
        assert is_ciphertext(db.session.scalar(insert("SELECT state FROM instances WHERE id = 7")))  # encrypted at rest
        stored = db.session.scalar(db.select(ProcessInstance.state).where(ProcessInstance.id == 7))
        assert not has_embedded_spec(stored) and len(stored) * 10 < len(old_state)
        assert db.session.scalar(insert("SELECT role_key FROM tasks WHERE id = :id"), {"id": task.id}) == "professional"
        make_user("admin.user", roles=["Administrator", "Professional"])
        make_user("old.manager", roles=["Line Manager"])
        api = Api(app.test_client(), "admin.user")
        old = api.instance(7)
        assert (old["case_reference"], old["status"], old["version"]) == ("OLD-1", "running", 1)
        assert [h["kind"] for h in old["history"]] == ["started"]
        assert old["ready_tasks"][0]["party"] is None  # a task from before parties keeps the old rules
        page = app.test_client()
        page.post("/login", data={"username": "admin.user", "password": "correct horse battery"})
        assert "Escalation raised" in page.get("/instances/7").get_data(as_text=True)
        result = api.complete(task.id, {"date_held": "2026-12-01", "participants": "A, B", "outcome": "unresolved",
                                        "action_plan": "Refer.", "evidence_explored": "Two meetings."})
        assert result["status"] == "running"  # carries on under its own (old) version of the diagram
        stage2 = result["ready_tasks"][0]
        assert stage2["name"] == "stage2_discussion" and stage2["party"] is None
        result = api.as_user("old.manager").complete(stage2["id"], {"date_held": "2026-12-02", "participants": "A, B", "outcome": "resolved",
                                             "action_plan": "Agreed."})
        assert result["status"] == "resolved"
        assert [h["kind"] for h in result["history"]][:2] == ["started", "task_completed"]
