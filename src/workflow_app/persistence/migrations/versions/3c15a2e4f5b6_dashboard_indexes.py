"""indexes for the process owner's dashboard: open escalations per stage, escalations closed per month

Revision ID: 3c15a2e4f5b6
Revises: 1a18e0c2d3f4
Create Date: 2026-11-25 08:00:00
"""
from alembic import op


revision = '3c15a2e4f5b6'
down_revision = '1a18e0c2d3f4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.create_index('ix_instances_protocol_status_stage', ['protocol_key', 'status', 'stage_reached'],
                              unique=False)
        batch_op.create_index('ix_instances_protocol_ended', ['protocol_key', 'ended_at'], unique=False)


def downgrade():
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.drop_index('ix_instances_protocol_ended')
        batch_op.drop_index('ix_instances_protocol_status_stage')
