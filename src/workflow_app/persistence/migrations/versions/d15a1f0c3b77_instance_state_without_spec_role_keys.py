"""instance state without the process spec; normalised role keys and the inbox indexes

Each stored instance state is rewritten without its copy of the process spec (the deployment's diagram
supplies it when the state is loaded; see engine/serialization.py), compressed. A state whose task names the
deployment's diagram does not have is left as it was (it still loads, with its own spec). Tasks get
``role_key`` (the role casefolded) and the indexes the inbox queries use.

Revision ID: d15a1f0c3b77
Revises: c13b7e9f0a22
Create Date: 2026-11-25 05:00:00
"""
import json

from alembic import op
import sqlalchemy as sa


revision = 'd15a1f0c3b77'
down_revision = 'c13b7e9f0a22'
branch_labels = None
depends_on = None

BATCH = 500


def upgrade():
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('role_key', sa.String(length=200), nullable=True))
        batch_op.create_index('ix_tasks_state_role_key', ['state', 'role_key'], unique=False)
        batch_op.create_index('ix_tasks_assigned_state', ['assigned_to_id', 'state'], unique=False)
    connection = op.get_bind()
    for (role,) in connection.execute(sa.text("SELECT DISTINCT role FROM tasks WHERE role IS NOT NULL")).all():
        connection.execute(sa.text("UPDATE tasks SET role_key = :key WHERE role = :role"),
                           {"key": role.casefold(), "role": role})
    _rewrite_states(connection, _without_spec)


def downgrade():
    _rewrite_states(op.get_bind(), _with_spec)
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_assigned_state')
        batch_op.drop_index('ix_tasks_state_role_key')
        batch_op.drop_column('role_key')


def _without_spec(state, spec, subprocess_specs):
    from workflow_app.engine.serialization import spec_task_names, strip_spec
    return strip_spec(state, spec_task_names(spec, subprocess_specs))


def _with_spec(state, spec, subprocess_specs):
    from workflow_app.engine.serialization import embed_spec
    return embed_spec(state, spec, subprocess_specs)


def _rewrite_states(connection, rewrite):
    """Apply ``rewrite(state, spec, subprocess_specs)`` to every instance, deployment by deployment (each
    deployment's diagram parsed once), a batch of rows at a time."""
    from workflow_app.engine import parse_bundle
    deployments = connection.execute(sa.text(
        "SELECT id, bpmn_xml, bpmn_filename, dmn_files FROM deployments ORDER BY id")).all()
    for deployment_id, bpmn_xml, filename, dmn_files in deployments:
        if isinstance(dmn_files, str):
            dmn_files = json.loads(dmn_files)
        bundle = None
        last_id = 0
        while True:
            rows = connection.execute(sa.text(
                "SELECT id, state FROM instances WHERE deployment_id = :d AND id > :after ORDER BY id LIMIT :n"),
                {"d": deployment_id, "after": last_id, "n": BATCH}).all()
            if not rows:
                break
            if bundle is None:
                try:
                    bundle = parse_bundle(bpmn_xml, filename, dmn_files or {}, check_code=False)
                except Exception:  # noqa: BLE001 - a diagram this version cannot parse: its states keep their spec
                    break
            for instance_id, state in rows:
                try:
                    new_state = rewrite(state, bundle.spec, bundle.subprocess_specs) if state else None
                except Exception:  # noqa: BLE001 - a state that does not load is left exactly as it was
                    new_state = None
                if new_state is not None and new_state != state:
                    connection.execute(sa.text("UPDATE instances SET state = :s WHERE id = :i"),
                                       {"s": new_state, "i": instance_id})
            last_id = rows[-1][0]
