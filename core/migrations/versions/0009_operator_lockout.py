"""operators: wrong passwords in a row, and the lock they lead to

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 05:20:00
"""

from alembic import op
import sqlalchemy as sa

import core.types


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        'operators',
        sa.Column('failed_logins', sa.Integer(), nullable=False, server_default='0'),
    )
    op.add_column('operators', sa.Column('locked_until', core.types.UTCDateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column('operators', 'locked_until')
    op.drop_column('operators', 'failed_logins')
