"""suspended escalations and version migration batches (issue 16)

Revision ID: a16c0d1e2f3b
Revises: d15a1f0c3b77
Create Date: 2026-12-01 09:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'a16c0d1e2f3b'
down_revision = 'd15a1f0c3b77'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.add_column(sa.Column('suspended_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('suspended_by', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('suspend_reason', sa.Text(), nullable=True))
    op.create_table('migration_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_key', sa.String(length=200), nullable=False),
    sa.Column('target_deployment_id', sa.Integer(), nullable=False),
    sa.Column('mapping', sa.JSON(), nullable=False),
    sa.Column('filters', sa.JSON(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['target_deployment_id'], ['deployments.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('migration_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_migration_batches_protocol_key'), ['protocol_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_migration_batches_status'), ['status'], unique=False)
    op.create_table('migration_batch_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('done_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['migration_batches.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['instance_id'], ['instances.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('batch_id', 'instance_id', name='uq_migration_item')
    )
    with op.batch_alter_table('migration_batch_items', schema=None) as batch_op:
        batch_op.create_index('ix_migration_items_batch_status', ['batch_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_migration_batch_items_instance_id'), ['instance_id'], unique=False)


def downgrade():
    with op.batch_alter_table('migration_batch_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_migration_batch_items_instance_id'))
        batch_op.drop_index('ix_migration_items_batch_status')
    op.drop_table('migration_batch_items')
    with op.batch_alter_table('migration_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_migration_batches_status'))
        batch_op.drop_index(batch_op.f('ix_migration_batches_protocol_key'))
    op.drop_table('migration_batches')
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.drop_column('suspend_reason')
        batch_op.drop_column('suspended_by')
        batch_op.drop_column('suspended_at')
