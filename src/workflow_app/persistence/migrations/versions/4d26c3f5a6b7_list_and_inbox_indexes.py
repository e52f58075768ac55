"""indexes for the inbox's "available" view and the escalations list's filters

The "available" inbox index gains ``assigned_to_id`` (ready, unassigned tasks of a role are found without
reading the assigned ones); tasks get (instance_id, state, due_at) for the list's "overdue" test; the
instances' (protocol_key, status, started_at) index gains ``id``, the end of the list's sort.

Revision ID: 4d26c3f5a6b7
Revises: 3c15a2e4f5b6
Create Date: 2026-11-25 11:00:00
"""
from alembic import op


revision = '4d26c3f5a6b7'
down_revision = '3c15a2e4f5b6'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_state_role_key')
        batch_op.create_index('ix_tasks_state_role_key_assigned', ['state', 'role_key', 'assigned_to_id'],
                              unique=False)
        batch_op.create_index('ix_tasks_instance_state_due', ['instance_id', 'state', 'due_at'], unique=False)
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.drop_index('ix_instances_protocol_status_started')
        batch_op.create_index('ix_instances_protocol_status_started_id', ['protocol_key', 'status', 'started_at', 'id'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.drop_index('ix_instances_protocol_status_started_id')
        batch_op.create_index('ix_instances_protocol_status_started', ['protocol_key', 'status', 'started_at'],
                              unique=False)
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_instance_state_due')
        batch_op.drop_index('ix_tasks_state_role_key_assigned')
        batch_op.create_index('ix_tasks_state_role_key', ['state', 'role_key'], unique=False)
