"""two-party tasks: task party/agency/rung/contact/seq, history party, escalation parties, external links

Revision ID: a7c31d2e9b40
Revises: 7927a8b737d8
Create Date: 2026-11-25 02:00:00

Existing rows keep NULL parties: their tasks behave as before (role holders in the escalation's agencies).
"""
from alembic import op
import sqlalchemy as sa


revision = 'a7c31d2e9b40'
down_revision = '7927a8b737d8'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('party', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('agency_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('rung', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('contact_name', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('contact_email', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('seq', sa.Integer(), nullable=True))
        batch_op.create_index('ix_tasks_agency_id', ['agency_id'], unique=False)
        batch_op.create_foreign_key('fk_tasks_agency_id_agencies', 'agencies', ['agency_id'], ['id'])
    with op.batch_alter_table('history', schema=None) as batch_op:
        batch_op.add_column(sa.Column('party', sa.String(length=20), nullable=True))

    op.create_table('escalation_parties',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('party', sa.String(length=20), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=True),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('contact_name', sa.String(length=200), nullable=True),
    sa.Column('contact_email', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], ),
    sa.ForeignKeyConstraint(['instance_id'], ['instances.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['person_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('instance_id', 'party', name='uq_escalation_party')
    )
    with op.batch_alter_table('escalation_parties', schema=None) as batch_op:
        batch_op.create_index('ix_escalation_parties_instance_id', ['instance_id'], unique=False)

    op.create_table('external_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.String(length=36), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('contact_name', sa.String(length=200), nullable=False),
    sa.Column('contact_email', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['instance_id'], ['instances.id'], ),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('external_links', schema=None) as batch_op:
        batch_op.create_index('ix_external_links_task_id', ['task_id'], unique=False)
        batch_op.create_index('ix_external_links_instance_id', ['instance_id'], unique=False)


def downgrade():
    op.drop_table('external_links')
    op.drop_table('escalation_parties')
    with op.batch_alter_table('history', schema=None) as batch_op:
        batch_op.drop_column('party')
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_constraint('fk_tasks_agency_id_agencies', type_='foreignkey')
        batch_op.drop_index('ix_tasks_agency_id')
        batch_op.drop_column('seq')
        batch_op.drop_column('contact_email')
        batch_op.drop_column('contact_name')
        batch_op.drop_column('rung')
        batch_op.drop_column('agency_id')
        batch_op.drop_column('party')
