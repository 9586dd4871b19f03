"""what a reader chose at signup

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 03:12:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN, which SQLite does in place: a batch rebuild of the table would
    # drop the expression index on lower(email).
    op.add_column('subscribers', sa.Column('wanted', sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column('subscribers', 'wanted')
