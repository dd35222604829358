"""SQL that differs per database: the INSERT that knows ON CONFLICT (PostgreSQL, SQLite), and
hot-path statements built once per database."""
from __future__ import annotations

import functools
from collections.abc import Callable

from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def dialect_name() -> str:
    # The app's one engine; `db.session.get_bind()` resolves the same through the session
    # registry at ~10x the cost, on every hot-path request.
    return db.engine.dialect.name


def conflict_insert(model):
    """`INSERT … ON CONFLICT` for the session's database, or None where it has no such clause."""
    make = _INSERTS.get(dialect_name())
    return make(model) if make is not None else None


def built_once_per_dialect(build: Callable[[str], object]) -> Callable[[], object]:
    """Memoise a statement builder per database dialect. Building a Core statement with aliases
    and expressions costs more than running it, so hot paths (signing, autosave, scoring) build
    theirs once, with bind parameters, and execute it with values. `build(dialect)` may return
    None where the database lacks what the statement needs; the caller then takes its slow path."""
    built: dict[str, object] = {}

    @functools.wraps(build)
    def statement():
        dialect = dialect_name()
        if dialect not in built:
            built[dialect] = build(dialect)
        return built[dialect]

    return statement
