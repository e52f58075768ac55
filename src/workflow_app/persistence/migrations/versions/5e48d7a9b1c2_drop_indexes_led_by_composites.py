"""drop the indexes whose columns lead a composite index, and the unused (state, role) index

Every change of an escalation updates its row, and a task's state change updates its row, in ways PostgreSQL
cannot apply in place (an indexed column changes), so each index of the row gets a new entry: an index no query
needs is paid for on every change. These four serve nothing their composite does not
(``instances.protocol_key``, ``instances.status``, ``tasks.instance_id``, ``tasks.assigned_to_id`` lead
``ix_instances_protocol_*``, ``ix_instances_status_timer``, ``ix_tasks_instance_state_due``,
``ix_tasks_assigned_state``), and ``ix_tasks_state_role`` is superseded by the role-key index the inbox uses.

Revision ID: 5e48d7a9b1c2
Revises: 4d26c3f5a6b7
Create Date: 2026-12-05 09:00:00
"""
from alembic import op


revision = '5e48d7a9b1c2'
down_revision = '4d26c3f5a6b7'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_state_role')
        batch_op.drop_index('ix_tasks_instance_id')
        batch_op.drop_index('ix_tasks_assigned_to_id')
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.drop_index('ix_instances_protocol_key')
        batch_op.drop_index('ix_instances_status')


def downgrade():
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.create_index('ix_instances_status', ['status'], unique=False)
        batch_op.create_index('ix_instances_protocol_key', ['protocol_key'], unique=False)
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.create_index('ix_tasks_assigned_to_id', ['assigned_to_id'], unique=False)
        batch_op.create_index('ix_tasks_instance_id', ['instance_id'], unique=False)
        batch_op.create_index('ix_tasks_state_role', ['state', 'role'], unique=False)
