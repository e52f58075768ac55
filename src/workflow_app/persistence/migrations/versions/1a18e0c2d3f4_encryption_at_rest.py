"""encryption at rest: free-text form data and contact details as ciphertext

Revision ID: 1a18e0c2d3f4
Revises: f15b2c3d4e5a
Create Date: 2026-11-25 08:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '1a18e0c2d3f4'
down_revision = 'f15b2c3d4e5a'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
