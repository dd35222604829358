"""scored attempts by subtree: a partial index for statistics and flags

Revision ID: f3b7d9e2a4c6
Revises: e2a9c4b7f1d3
Create Date: 2026-11-22 02:40:00.000000

Quiz statistics and flags read the scored attempts of one org's subtree. Through
ix_quiz_attempts_open (quiz, status, deadline) a class's statistics of a city-wide quiz read
every scored attempt of the city to filter them by path. Partial (scored only): a start inserts
nothing into it. With the id, the even sample of a big subtree is chosen from the index alone.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f3b7d9e2a4c6'
down_revision = 'e2a9c4b7f1d3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('quiz_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_quiz_attempts_scored', ['quiz_id', 'org_path', 'id'], unique=False,
                              postgresql_ops={'org_path': 'varchar_pattern_ops'},
                              postgresql_where=sa.text("status = 'scored'"),
                              sqlite_where=sa.text("status = 'scored'"))


def downgrade():
    with op.batch_alter_table('quiz_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_quiz_attempts_scored')
