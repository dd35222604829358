"""The migrations are the schema: `flask db upgrade` on an empty database must give exactly
the tables, columns, indexes and constraints the models declare, and `downgrade base` must
take them all away again. A model change without a migration fails here.
"""
from __future__ import annotations

import flask_migrate
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

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
