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


def test_setup_command_is_idempotent(app_factory, clock):
    app = app_factory(deploy=False)
    with app.app_context():
        drop_everything()
        runner = app.test_cli_runner()
        first = runner.invoke(args=["setup"])
        assert first.exit_code == 0, first.output
        assert "partnership_escalation: version 1 deployed" in first.output
        assert "demo data: 7 escalations created" in first.output
        second = runner.invoke(args=["setup"])
        assert second.exit_code == 0, second.output
        assert "partnership_escalation: version 1 unchanged" in second.output
        assert "demo data" not in second.output
        from conftest import Api
        owner = Api(app.test_client(), "owner")  # the demo process owner sees every demo escalation
        stages = {i["case_reference"]: i["current_stage"] for i in owner.request("GET", "/api/instances")}
        assert stages["DEMO-002"].startswith("Stage 2")
        assert stages["DEMO-003"].startswith("Stage 3")
