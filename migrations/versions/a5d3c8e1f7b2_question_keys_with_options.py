"""question keys with options: a question is a duplicate when its stem and options are

Revision ID: a5d3c8e1f7b2
Revises: e8ca220d52e9
Create Date: 2026-11-22 10:30:00.000000

`questions.stem_key` was a hash of the normalised stem alone, so banks lost every question after
the first whose stem was generic (下列说法正确的是（ ）) although their options differed. It is now
a hash of the stem and the options in any order (`app.quizzes.importers.stem_key`); every row is
recomputed, so a file imported before skips its questions as before. Stems were unique per bank,
so the finer keys are too. The normalisation is written out here as it is at this revision.
"""
import hashlib
import json
import re
import unicodedata

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a5d3c8e1f7b2'
down_revision = 'e8ca220d52e9'
branch_labels = None
depends_on = None

questions = sa.table('questions', sa.column('id', sa.Integer), sa.column('stem', sa.Text),
                     sa.column('options', sa.JSON), sa.column('stem_key', sa.String(64)))


def _folded(text):
    folded = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).lower()
    return folded.rstrip("。.？?！!：:;；，,")


def _key(stem, options):
    if isinstance(options, str):
        options = json.loads(options)
    if options is None:
        return hashlib.sha256(_folded(stem).encode()).hexdigest()
    parts = [_folded(stem), *sorted(_folded(option) for option in options)]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _rekey(with_options):
    connection = op.get_bind()
    rows = connection.execute(sa.select(questions.c.id, questions.c.stem, questions.c.options)).all()
    updates = [{"question_id": row.id, "new_key": _key(row.stem, row.options if with_options else None)}
               for row in rows]
    if updates:
        connection.execute(questions.update().where(questions.c.id == sa.bindparam("question_id"))
                           .values(stem_key=sa.bindparam("new_key")), updates)


def upgrade():
    _rekey(with_options=True)


def downgrade():
    # Back to stems alone: a bank holding two questions with one stem cannot go back.
    _rekey(with_options=False)
