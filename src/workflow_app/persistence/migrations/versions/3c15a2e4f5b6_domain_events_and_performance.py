"""one stream of domain events; performance indexes

Revision ID: 3c15a2e4f5b6
Revises: 2b16f1d3e4a5
Create Date: 2026-11-25 08:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '3c15a2e4f5b6'
down_revision = '2b16f1d3e4a5'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
