"""one class per student: a partial unique index on memberships(user_id) for role 'student'

Revision ID: d4f8a2c6e1b7
Revises: c7e4a1f2d9b3
Create Date: 2026-11-21 23:50:00.000000

Two class invites accepted by one student at the same moment could leave two student
memberships. Before the index is made, such pairs are resolved the way a later accept resolves
them: the newest membership (highest id) stays.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd4f8a2c6e1b7'
down_revision = 'c7e4a1f2d9b3'
branch_labels = None
depends_on = None


def upgrade():
    op.execute(sa.text(
        "DELETE FROM memberships WHERE role = 'student' AND id NOT IN "
        "(SELECT MAX(id) FROM memberships WHERE role = 'student' GROUP BY user_id)"))
    op.create_index('uq_memberships_one_class', 'memberships', ['user_id'], unique=True,
                    postgresql_where=sa.text("role = 'student'"), sqlite_where=sa.text("role = 'student'"))


def downgrade():
    op.drop_index('uq_memberships_one_class', table_name='memberships')
