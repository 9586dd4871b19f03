"""report snapshots: heavy dashboard reports computed in the background; indexes for
what stays live (an issue's progress, complaints in a window)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 07:00:00
"""

from alembic import op
import sqlalchemy as sa

import core.types


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'report_snapshots',
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('computed_at', core.types.UTCDateTime(), nullable=False),
        sa.Column('seconds', sa.Float(), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_report_snapshots')),
    )
    op.create_index('ix_deliveries_broadcast_id_status', 'deliveries', ['broadcast_id', 'status'])
    op.create_index('ix_events_type_occurred_at', 'events', ['type', 'occurred_at'])


def downgrade() -> None:
    op.drop_index('ix_events_type_occurred_at', table_name='events')
    op.drop_index('ix_deliveries_broadcast_id_status', table_name='deliveries')
    op.drop_table('report_snapshots')
