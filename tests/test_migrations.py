"""The migrations are the schema: `flask db upgrade` on an empty database must give exactly
the tables, columns, indexes and constraints the models declare, and `downgrade base` must
take them all away again. A model change without a migration fails here.
"""
from __future__ import annotations

import flask_migrate
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import insert, inspect, text

from app.extensions import db
from tests.conftest import make_app, reset_database


def _empty_database() -> None:
    """No app tables and no alembic_version: what a fresh install starts from."""
    reset_database()
    db.drop_all()
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    db.session.remove()


def _app_tables() -> set[str]:
    with db.engine.connect() as conn:
        return set(inspect(conn).get_table_names()) - {"alembic_version"}


def test_upgrade_gives_the_models_schema_and_downgrade_removes_it(standin, tmp_path):
    """Upgrade from nothing, compare with the models (no difference allowed), then downgrade."""
    app = make_app(standin, tmp_path)
    with app.app_context():
        try:
            _empty_database()
            assert _app_tables() == set()

            flask_migrate.upgrade()
            assert _app_tables() == set(db.metadata.tables)
            with db.engine.connect() as conn:
                diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), db.metadata)
            assert diff == [], "models and migrations disagree:\n" + "\n".join(map(repr, diff))

            flask_migrate.downgrade(revision="base")
            assert _app_tables() == set()
        finally:
            # Leave a usable schema behind for whoever uses this database next.
            reset_database()
            db.session.remove()
            db.engine.dispose()


def test_migrations_form_one_line(standin, tmp_path):
    """Exactly one head: two branches (parallel work) must be merged before they ship."""
    app = make_app(standin, tmp_path)
    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config()
        heads = ScriptDirectory.from_config(config).get_heads()
        db.engine.dispose()
    assert len(heads) == 1, heads


def test_quizzes_made_before_get_windows_within_their_campaigns(standin, tmp_path):
    """e2a9c4b7f1d3: a quiz made before windows were bound to the campaign gets the campaign's
    start and end where it had none or lay outside them (a window wholly outside becomes the
    campaign's period), a window inside stays as it was, and an open attempt ends at the new
    close at the latest."""
    from datetime import UTC, datetime, timedelta

    from app.auth.models import User
    from app.campaigns.models import Campaign
    from app.orgs.services import add_org
    from app.quizzes.models import Attempt, QuestionBank, Quiz

    app = make_app(standin, tmp_path)
    starts = datetime(2026, 9, 1, tzinfo=UTC)
    ends = starts + timedelta(days=30)
    day = timedelta(days=1)
    inside = (starts + day, ends - day)
    windows = {"open": (None, None), "outside": (starts - 5 * day, ends + 5 * day), "inside": inside,
               "before": (starts - 9 * day, starts - 2 * day), "after": (ends + day, ends + 3 * day)}
    with app.app_context():
        try:
            _empty_database()
            flask_migrate.upgrade(revision="d4f8a2c6e1b7")
            city = add_org("市教育局", "city", None)
            campaign = Campaign(org_id=city.id, title="网络安全宣传周", starts_at=starts, ends_at=ends)
            bank = QuestionBank(org_id=city.id, name="题库")
            student = User(real_name="张三")
            db.session.add_all([campaign, bank, student])
            db.session.flush()
            quizzes = {name: Quiz(campaign_id=campaign.id, bank_id=bank.id, title=name, opens_at=opens_at,
                                  closes_at=closes_at) for name, (opens_at, closes_at) in windows.items()}
            db.session.add_all(quizzes.values())
            db.session.flush()
            # Core, naming the columns of that revision (the model has gained columns since).
            attempt_ids = [db.session.execute(insert(Attempt.__table__).values(
                quiz_id=quizzes[name].id, user_id=student.id, deadline=deadline, status="open", level=1, number=1,
                seed=0, questions=[], answers={}, time_limit_s=1200, pass_score=60, max_score=0, started_at=starts,
                updated_at=starts)).inserted_primary_key[0]
                for name, deadline in (("outside", ends + 4 * day), ("inside", starts + 2 * day))]
            db.session.commit()
            ids = {name: quiz.id for name, quiz in quizzes.items()}
            db.session.remove()

            flask_migrate.upgrade()
            after = {name: (quiz.opens_at, quiz.closes_at)
                     for name, quiz in ((name, db.session.get(Quiz, ids[name])) for name in ids)}
            assert after == {"open": (starts, ends), "outside": (starts, ends), "inside": inside,
                             "before": (starts, ends), "after": (starts, ends)}
            assert [db.session.get(Attempt, i).deadline for i in attempt_ids] == [ends, starts + 2 * day]
        finally:
            db.session.remove()
            reset_database()
            db.session.remove()
            db.engine.dispose()


def test_questions_imported_before_keep_being_recognised_as_duplicates(standin, tmp_path):
    """a5d3c8e1f7b2: keys made from the stem alone are made again from the stem and the options,
    so the same question imported again is still skipped, and a question that only shares its
    generic stem is now a question of its own."""
    import hashlib
    import re
    import unicodedata

    from app.orgs.services import add_org
    from app.quizzes import importers
    from app.quizzes.models import Question, QuestionBank

    def old_key(stem: str) -> str:  # the key as e8ca220d52e9 wrote it
        folded = re.sub(r"\s+", "", unicodedata.normalize("NFKC", stem)).lower().rstrip("。.？?！!：:;；，,")
        return hashlib.sha256(folded.encode()).hexdigest()

    app = make_app(standin, tmp_path)
    stem, options = "下列说法正确的是（ ）", ["不随意点击陌生链接", "把验证码告诉客服"]
    with app.app_context():
        try:
            _empty_database()
            flask_migrate.upgrade(revision="e8ca220d52e9")
            bank = QuestionBank(org_id=add_org("市教育局", "city", None).id, name="题库")
            db.session.add(bank)
            db.session.flush()
            question_id = db.session.execute(insert(Question.__table__).values(
                bank_id=bank.id, type="single", stem=stem, stem_key=old_key(stem), options=options, answer=[0],
                difficulty=2, created_at=text("CURRENT_TIMESTAMP"), updated_at=text("CURRENT_TIMESTAMP"), version=1,
            )).inserted_primary_key[0]
            db.session.commit()
            db.session.remove()

            flask_migrate.upgrade()
            key = db.session.get(Question, question_id).stem_key
            assert key == importers.stem_key(stem, list(reversed(options)))
            assert key != importers.stem_key(stem, ["不随意点击陌生链接", "在网上公开同学照片"])
        finally:
            db.session.remove()
            reset_database()
            db.session.remove()
            db.engine.dispose()
