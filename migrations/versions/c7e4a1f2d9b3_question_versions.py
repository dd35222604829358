"""question versions: attempts name the version of each question they drew

Revision ID: c7e4a1f2d9b3
Revises: b0a1abb55e6c
Create Date: 2026-11-21 10:05:00.000000

Attempts already stored keep the texts in their snapshot (the services read both forms), so no
data is rewritten here. A downgrade leaves attempts started since without their texts: the
older code cannot show or score them.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c7e4a1f2d9b3'
down_revision = 'b0a1abb55e6c'
branch_labels = None
depends_on = None


def upgrade():
    # SQLite: the table is rebuilt with AUTOINCREMENT, so a deleted question's id is never given to
    # a new one (attempts and kept versions name questions by id). PostgreSQL's sequence never reuses.
    sqlite = op.get_bind().dialect.name == 'sqlite'
    with op.batch_alter_table('questions', schema=None, recreate='always' if sqlite else 'auto',
                              table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))

    op.create_table('question_versions',
    sa.Column('question_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('bank_id', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('stem', sa.Text(), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('answer', sa.JSON(), nullable=False),
    sa.Column('explanation', sa.Text(), nullable=True),
    sa.Column('category', sa.String(length=40), nullable=True),
    sa.Column('legal_basis', sa.String(length=200), nullable=True),
    sa.Column('replaced_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['bank_id'], ['question_banks.id'], name=op.f('fk_question_versions_bank_id_question_banks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('question_id', 'version', name=op.f('pk_question_versions'))
    )
    with op.batch_alter_table('question_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_question_versions_bank_id'), ['bank_id'], unique=False)


def downgrade():
    with op.batch_alter_table('question_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_question_versions_bank_id'))

    op.drop_table('question_versions')
    with op.batch_alter_table('questions', schema=None) as batch_op:
        batch_op.drop_column('version')
