"""operations: migration plans run by the worker, move back to an earlier task

Revision ID: 2b16f1d3e4a5
Revises: 1a18e0c2d3f4
Create Date: 2026-11-25 08:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '2b16f1d3e4a5'
down_revision = '1a18e0c2d3f4'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
