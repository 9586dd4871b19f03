"""indexes for the dashboard's searches, filters and lists; longer unsubscribe channels

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 06:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

# LIKE 'prefix%' needs byte-wise comparison, which an index under the collation lacks.
PREFIX_INDEXES = [
    ('ix_subscribers_email_prefix', 'subscribers', 'email'),
    ('ix_subscribers_first_name_prefix', 'subscribers', 'first_name'),
    ('ix_suppressions_email_prefix', 'suppressions', 'email'),
]


def upgrade() -> None:
    _resize_channel(40, 100)
    op.create_index('ix_subscribers_status_id', 'subscribers', ['status', 'id'])
    op.create_index('ix_enrollments_course_subscriber', 'enrollments', ['course', 'subscriber_id'])
    op.create_index('ix_memberships_list_subscriber', 'memberships', ['list', 'subscriber_id'])
    op.drop_index('ix_memberships_list', table_name='memberships')
    op.create_index('ix_suppressions_created_at_id', 'suppressions', ['created_at', 'id'])
    op.create_index('ix_suppressions_reason', 'suppressions', ['reason'])
    if op.get_context().dialect.name == 'postgresql':
        for name, table, column in PREFIX_INDEXES:
            op.create_index(name, table, [sa.text(f'lower({column}) text_pattern_ops')])


def downgrade() -> None:
    if op.get_context().dialect.name == 'postgresql':
        for name, table, _column in PREFIX_INDEXES:
            op.drop_index(name, table_name=table)
    op.drop_index('ix_suppressions_reason', table_name='suppressions')
    op.drop_index('ix_suppressions_created_at_id', table_name='suppressions')
    op.create_index('ix_memberships_list', 'memberships', ['list'])
    op.drop_index('ix_memberships_list_subscriber', table_name='memberships')
    op.drop_index('ix_enrollments_course_subscriber', table_name='enrollments')
    op.drop_index('ix_subscribers_status_id', table_name='subscribers')
    _resize_channel(100, 40)


def _resize_channel(old: int, new: int) -> None:
    """"operator:<address>" needs more than 40 characters. SQLite rebuilds the table for
    this, and the rebuild loses the expression index on lower(email): it is made again."""
    if op.get_context().dialect.name == 'postgresql':
        op.alter_column(
            'subscribers', 'unsubscribe_channel',
            type_=sa.String(new), existing_type=sa.String(old),
        )
        return
    with op.batch_alter_table('subscribers') as batch_op:
        batch_op.alter_column(
            'unsubscribe_channel', type_=sa.String(new), existing_type=sa.String(old)
        )
    op.execute('DROP INDEX IF EXISTS uq_subscribers_email_lower')
    op.create_index(
        'uq_subscribers_email_lower', 'subscribers', [sa.text('lower(email)')], unique=True
    )
