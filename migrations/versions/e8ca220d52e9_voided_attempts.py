"""voided attempts: who declared a scored attempt void, when and why

Revision ID: e8ca220d52e9
Revises: f3b7d9e2a4c6
Create Date: 2026-11-22 07:01:07.513276

School and region admins may declare a scored attempt void (the suspicion flags point at it, a
proxy took it): its status becomes 'voided' and it leaves the leaderboard, the statistics and
the certificate. Three nullable columns: adding them rewrites nothing on PostgreSQL.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e8ca220d52e9'
down_revision = 'f3b7d9e2a4c6'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('quiz_attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('voided_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('voided_by', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('void_reason', sa.String(length=200), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_quiz_attempts_voided_by_users'), 'users', ['voided_by'], ['id'], ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('quiz_attempts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_quiz_attempts_voided_by_users'), type_='foreignkey')
        batch_op.drop_column('void_reason')
        batch_op.drop_column('voided_by')
        batch_op.drop_column('voided_at')
