"""quiz windows within their campaigns: bounds left open take the campaign's, bounds outside it are clamped

Revision ID: e2a9c4b7f1d3
Revises: d4f8a2c6e1b7
Create Date: 2026-11-22 02:30:00.000000

Starts check only a quiz's own window, so from now on a quiz's window is written within its
campaign's period (app/quizzes/services.py `_campaign_bounds`). Quizzes made before get the
same: an open or earlier start becomes the campaign's start, an open or later close the
campaign's end (a window wholly outside the period becomes the period), and attempts still
open past the new close end at it. No schema change.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e2a9c4b7f1d3'
down_revision = 'd4f8a2c6e1b7'
branch_labels = None
depends_on = None


def upgrade():
    # A window wholly before or after the campaign would be clamped to nothing: it gets the
    # campaign's whole period instead (its quiz belongs to that campaign).
    op.execute(sa.text(
        "UPDATE quizzes SET opens_at = (SELECT c.starts_at FROM campaigns c WHERE c.id = quizzes.campaign_id), "
        "closes_at = (SELECT c.ends_at FROM campaigns c WHERE c.id = quizzes.campaign_id) "
        "WHERE EXISTS (SELECT 1 FROM campaigns c WHERE c.id = quizzes.campaign_id "
        "AND (quizzes.closes_at <= c.starts_at OR quizzes.opens_at >= c.ends_at))"))
    op.execute(sa.text(
        "UPDATE quizzes SET opens_at = (SELECT c.starts_at FROM campaigns c WHERE c.id = quizzes.campaign_id) "
        "WHERE EXISTS (SELECT 1 FROM campaigns c WHERE c.id = quizzes.campaign_id AND c.starts_at IS NOT NULL "
        "AND (quizzes.opens_at IS NULL OR quizzes.opens_at < c.starts_at))"))
    op.execute(sa.text(
        "UPDATE quizzes SET closes_at = (SELECT c.ends_at FROM campaigns c WHERE c.id = quizzes.campaign_id) "
        "WHERE EXISTS (SELECT 1 FROM campaigns c WHERE c.id = quizzes.campaign_id AND c.ends_at IS NOT NULL "
        "AND (quizzes.closes_at IS NULL OR quizzes.closes_at > c.ends_at))"))
    op.execute(sa.text(
        "UPDATE quiz_attempts SET deadline = (SELECT q.closes_at FROM quizzes q WHERE q.id = quiz_attempts.quiz_id) "
        "WHERE status = 'open' AND EXISTS (SELECT 1 FROM quizzes q WHERE q.id = quiz_attempts.quiz_id "
        "AND q.closes_at IS NOT NULL AND q.closes_at < quiz_attempts.deadline)"))


def downgrade():
    pass  # the windows are valid ones, within their campaigns; nothing to undo
