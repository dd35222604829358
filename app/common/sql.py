"""SQL that differs per database: the INSERT that knows ON CONFLICT (PostgreSQL, SQLite), and
hot-path statements built once per database."""
from __future__ import annotations

import functools
from collections import namedtuple
from collections.abc import Callable

from flask import current_app
from sqlalchemy import JSON, Integer, String, bindparam, cast, func, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Subquery
from sqlalchemy.types import TypeEngine

from app.common import json_text
from app.extensions import db

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def dialect_name() -> str:
    # The app's one engine; `db.session.get_bind()` resolves the same through the session
    # registry at ~10x the cost, on every hot-path request.
    return db.engine.dialect.name


def release_read_transaction() -> None:
    """Before a hot path waits in a group commit: commit the request session's read transaction,
    if it opened one, so the waiting request holds no pooled connection. Looks for the session
    without making one: `db.session()` would build a Session for a request that read nothing (the
    common autosave), and the request's teardown would close it again (~10 µs together)."""
    if db.session.registry.has() and db.session().in_transaction():
        db.session.commit()


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
    statement ends (autocommit), and return its rows (attribute access, as SQLAlchemy's rows).
    One round trip instead of statement + COMMIT, and row locks held for the statement only —
    not while the writing thread waits for the GIL between the two, which made other processes'
    batches queue behind it. For group commits, whose batch is exactly one statement.

    The statement runs on the driver's connection (`_DriverStatement`): SQLAlchemy's execution
    machinery costs ~110 µs of CPU per statement around a ~50 µs round trip (a connection
    object, execution options, compiled-cache lookup, execution context, result object), paid
    per batch by the thread that holds everyone's answers."""
    engine = writer_engine()
    return _driver_statement(statement, engine.dialect).run(engine, params)


# (dialect name, statement) → compiled: like the statements themselves (`built_once_per_dialect`),
# compiled once per database kind and kept for the process — a handful of entries, however many
# apps (tests) a process makes. Keyed per dialect instance it would grow with every app: the type
# processors hold their dialect.
_compiled: dict[tuple[str, object], _DriverStatement] = {}


def _driver_statement(statement, dialect: Dialect) -> _DriverStatement:
    key = (dialect.name, statement)
    found = _compiled.get(key)
    if found is None:  # two threads racing here compile twice; harmless
        found = _compiled.setdefault(key, _DriverStatement(statement, dialect))
    return found


class _DriverStatement:
    """A Core statement compiled once for one dialect, run on a pooled connection's DBAPI cursor
    with SQLAlchemy's own type conversions (public `bind_processor` / `result_processor` of each
    type: a `UTCDateTime` is stored naive and read back aware, as through SQLAlchemy). Refuses
    statements that need per-execution compilation (expanding IN lists, literal-execute values).

    Made for the group-commit statements (explicit columns, RETURNING plain columns): bound values
    given as callables are taken once, at compile time; result types whose processor needs the
    driver's type code (Numeric/Float on PostgreSQL) fail when the statement is first built; the
    cursor events and echo logging of SQLAlchemy are not fired. Anything else: use SQLAlchemy."""

    def __init__(self, statement, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        if compiled.literal_execute_params or compiled.post_compile_params:
            raise ValueError("a statement compiled per execution cannot run as a driver statement")
        self._sql = compiled.string
        self._positions = compiled.positiontup if compiled.positional else None
        self._escaped = dict(compiled.escaped_bind_names)  # name → the name the SQL uses
        self._binds = {name: bind.type.dialect_impl(dialect).bind_processor(dialect)
                       for name, bind in compiled.binds.items()}
        # Values written into the statement (a literal, a compared constant): processed once.
        self._fixed = {name: self._processed(name, bind.effective_value)
                       for name, bind in compiled.binds.items() if not bind.required}
        # Python-side defaults SQLAlchemy computes per execution (`default=` / `onupdate=utcnow`),
        # which the statement holds as parameters of the column's name.
        self._generated = [(column.key, column.default) for column in compiled.insert_prefetch]
        self._generated += [(column.key, column.onupdate) for column in compiled.update_prefetch]
        if any(not (made.is_callable or made.is_scalar) for _name, made in self._generated):
            raise ValueError("a statement with SQL-expression defaults cannot run as a driver statement")
        columns = list(statement.exported_columns)
        self._results = [column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns]
        self._row = namedtuple("Row", [column.key for column in columns])  # noqa: PYI024 - built per statement

    def _processed(self, name: str, value):
        process = self._binds.get(name)
        return process(value) if process is not None else value

    def parameters(self, values: dict):
        """The driver's parameters: the fixed values, then `values` converted by their types."""
        params = dict(self._fixed)
        for name, made in self._generated:
            if name not in values:
                params[name] = self._processed(name, made.arg(None) if made.is_callable else made.arg)
        for name, value in values.items():
            params[name] = self._processed(name, value)
        if self._escaped:
            params = {self._escaped.get(name, name): value for name, value in params.items()}
        if self._positions is not None:
            return tuple(params[name] for name in self._positions)
        return params

    def run(self, engine: Engine, values: dict) -> list:
        dialect = engine.dialect
        params = self.parameters(values)
        failure = dialect.loaded_dbapi.Error
        try:
            connection = engine.raw_connection()
        except failure as error:  # no connection to be had (the server down, too many clients)
            raise DBAPIError.instance(self._sql, params, error, failure, dialect=dialect,
                                      hide_parameters=engine.hide_parameters) from error
        try:
            driver = connection.driver_connection
            cursor = None
            try:
                dialect.set_isolation_level(driver, "AUTOCOMMIT")
                cursor = driver.cursor()
                cursor.execute(self._sql, params)
                fetched = cursor.fetchall() if cursor.description else []
            except failure as error:
                lost = dialect.is_disconnect(error, driver, cursor)
                if lost:  # as SQLAlchemy does: this connection and every other one opened before it
                    engine.pool._invalidate(connection, error)
                raise DBAPIError.instance(self._sql, params, error, failure, dialect=dialect,
                                          hide_parameters=engine.hide_parameters,
                                          connection_invalidated=lost) from error
            finally:
                if cursor is not None and connection.is_valid:
                    cursor.close()
                self._restore(dialect, connection, driver)
        finally:
            connection.close()
        return [self._row_of(values) for values in fetched]

    @staticmethod
    def _restore(dialect: Dialect, connection, driver) -> None:
        """Back to the isolation level the pool lent it in; a connection that cannot be reset is
        discarded rather than returned in autocommit (on SQLite the sessions share the pool)."""
        if not connection.is_valid:
            return
        try:
            dialect.reset_isolation_level(driver)
        except Exception as error:  # noqa: BLE001 - the statement's own error, if any, is the one to raise
            connection.invalidate(error)

    def _row_of(self, values) -> tuple:
        return self._row(*[value if process is None else process(value)
                           for process, value in zip(self._results, values, strict=True)])
