"""SQL that differs per database: the INSERT that knows ON CONFLICT (PostgreSQL, SQLite)."""
from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def conflict_insert(model):
    """`INSERT … ON CONFLICT` for the session's database, or None where it has no such clause."""
    make = _INSERTS.get(db.session.get_bind().dialect.name)
    return make(model) if make is not None else None
