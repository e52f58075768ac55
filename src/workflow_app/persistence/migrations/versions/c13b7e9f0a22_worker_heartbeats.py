"""worker heartbeats: each timer/mail worker's last sweep and last error, for /api/health

Revision ID: c13b7e9f0a22
Revises: c13a0b2d4e51
Create Date: 2026-11-25 03:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'c13b7e9f0a22'
down_revision = 'c13a0b2d4e51'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('worker_heartbeats',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('interval_seconds', sa.Float(), nullable=False),
    sa.Column('last_sweep_at', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_error_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    with op.batch_alter_table('worker_heartbeats', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_worker_heartbeats_last_sweep_at'), ['last_sweep_at'], unique=False)


def downgrade():
    with op.batch_alter_table('worker_heartbeats', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_worker_heartbeats_last_sweep_at'))
    op.drop_table('worker_heartbeats')
