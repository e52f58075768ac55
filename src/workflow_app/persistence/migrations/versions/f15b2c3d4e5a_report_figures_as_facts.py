"""report figures as facts: per-stage counts, working-days histograms and per-protocol counts

The facts are computed from the existing tasks and escalations (services/report_facts.py ``rebuild``);
from then on every flush keeps them in step.

Revision ID: f15b2c3d4e5a
Revises: b18d4e5f6a7c
Create Date: 2026-11-25 06:15:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'f15b2c3d4e5a'
down_revision = 'b18d4e5f6a7c'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('report_stage_facts',
    sa.Column('protocol_key', sa.String(length=200), nullable=False),
    sa.Column('element_id', sa.String(length=200), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('stage', sa.String(length=40), nullable=True),
    sa.Column('open_count', sa.Integer(), nullable=False),
    sa.Column('closed_count', sa.Integer(), nullable=False),
    sa.Column('breaches', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('protocol_key', 'element_id')
    )
    op.create_table('report_stage_days',
    sa.Column('protocol_key', sa.String(length=200), nullable=False),
    sa.Column('element_id', sa.String(length=200), nullable=False),
    sa.Column('days', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('completed', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('protocol_key', 'element_id', 'days')
    )
    op.create_table('report_protocol_facts',
    sa.Column('protocol_key', sa.String(length=200), nullable=False),
    sa.Column('dimension', sa.String(length=20), nullable=False),
    sa.Column('value', sa.String(length=300), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('protocol_key', 'dimension', 'value')
    )
    from workflow_app.services.report_facts import rebuild
    rebuild(op.get_bind())


def downgrade():
    op.drop_table('report_protocol_facts')
    op.drop_table('report_stage_days')
    op.drop_table('report_stage_facts')
