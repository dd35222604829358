"""SQL that differs per database: the INSERT that knows ON CONFLICT (PostgreSQL, SQLite), and
hot-path statements built once per database."""
from __future__ import annotations

import functools
from collections.abc import Callable

from flask import current_app
from sqlalchemy import JSON, Integer, String, bindparam, cast, func, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.sql import Subquery
from sqlalchemy.types import TypeEngine

from app.common import json_text
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


def json_batch(dialect: str, name: str, columns: dict[str, TypeEngine]) -> Subquery | None:
    """The rows of a batch as a subquery, sent as ONE bind parameter `rows`: a JSON array of
    arrays, one value per column in `columns` order (make it with `json_batch_params`). Columns
    typed JSON keep their value as JSON (a snapshot, an answers patch); the others are cast.

    One JSON text is cheap on both sides: orjson writes it, and the database parses it in C.
    Arrays per column (PostgreSQL `unnest`) were tried first: psycopg escapes every element of a
    text array in Python, ~⅓ of a quiz start with its ~15 KB snapshot. None on other databases."""
    if dialect == "postgresql":
        value = func.json_array_elements(cast(bindparam("rows", type_=String()), JSON)).table_valued("value")
        value = value.alias(f"{name}_each").c.value

        def pick(index: int, kind: TypeEngine):
            if isinstance(kind, JSON):
                return value.op("->")(literal_column(str(index)))
            return cast(value.op("->>")(literal_column(str(index))), kind)
    elif dialect == "sqlite":
        value = func.json_each(bindparam("rows")).table_valued("value").alias(f"{name}_each").c.value

        def pick(index: int, kind: TypeEngine):
            return func.json_extract(value, f"$[{index}]")
    else:
        return None
    # LIMIT with the batch's own length changes no result, but it tells the planner how many rows
    # to expect: it guesses 100 for json_array_elements, and with a hundred rows joining by key
    # looked as dear as scanning every open attempt for each batch (autosave: 9 ms a statement
    # instead of 0.4 whenever ANALYZE had not yet seen the table's rows).
    return (select(*[pick(index, kind).label(column) for index, (column, kind) in enumerate(columns.items())])
            .limit(bindparam("rows_count", type_=Integer())).subquery(name))


def json_batch_params(rows: list[tuple | list]) -> dict:
    return {"rows": json_text.dumps(rows), "rows_count": len(rows)}


def writer_engine() -> Engine:
    """The engine for group-commit batch statements: on PostgreSQL a pool of its own (one kept
    connection per batch that can be in flight) whose connections keep one generic plan per
    statement (app/common/pool.py `writer_engine_for`); elsewhere the app's engine."""
    return current_app.extensions.get("writer_engine") or db.engine


def execute_committed(statement, params: dict) -> list:
    """Run one write statement in a transaction of its own that the database commits as the
    statement ends (autocommit), and return its rows. One round trip instead of statement +
    COMMIT, and row locks held for the statement only — not while the writing thread waits for
    the GIL between the two, which made other processes' batches queue behind it. For group
    commits, whose batch is exactly one statement."""
    with writer_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        return connection.execute(statement, params).all()
