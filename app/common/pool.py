"""Connection checks that cost a round trip only when they can find something.

`pool_pre_ping` pings the database on every checkout: one extra round trip per request, which
under load was ~10 % of a pledge signing (the ping's Python, PostgreSQL's work answering it and
the two context switches). A connection that was used moments ago is alive; the ones worth
checking are those that sat idle long enough for the server, a proxy or a firewall to drop
them. So a connection is pinged when it has been idle in the pool for `DB_PING_IDLE_S` seconds
or more (default 5; 0 pings every checkout, like `pool_pre_ping`). A dead one is replaced before
the request sees it: raising `DisconnectionError` from a `checkout` listener makes the pool
discard the connection and check out another (SQLAlchemy's documented contract).

What this gives up: a connection dropped *while in steady use* (the database restarts under
load) fails the request that holds it, once; SQLAlchemy then invalidates the whole pool, so the
following requests reconnect.
"""
from __future__ import annotations

import time

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError


def ping_idle_connections(engine: Engine, idle_s: float) -> None:
    @event.listens_for(engine, "checkin")
    def remember_idle_since(_dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def ping_if_idle(dbapi_connection, record, _proxy) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < idle_s:
            return  # new, or used moments ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise DisconnectionError("an idle pooled connection no longer answers") from error


# Every group-commit batch statement has the same shape at every call — one JSON batch parameter
# and keys — yet PostgreSQL planned each execution afresh (pg_prepared_statements: 95 custom plans,
# 0 generic): its generic plan's guessed cost never beat the custom ones, so it kept re-planning a
# 20-join statement per batch (~0.5 ms of a 4-start statement's 2.2 ms). Their own small pool whose
# connections use generic plans only: each statement is planned once per connection (after
# psycopg's prepare threshold) and re-planned only when ANALYZE changes the tables' statistics.
# The main pool keeps custom plans: reads such as `path LIKE :prefix` need the value to use an index.
_GENERIC_PLANS = "-c plan_cache_mode=force_generic_plan"


def writer_engine_for(engine: Engine, options: dict, idle_s: float) -> Engine | None:
    """A second engine on `engine`'s database for batch writers, or None where the database has
    no plan cache setting (SQLite: its statements are cheap to prepare; writers use the main pool)."""
    if engine.dialect.name != "postgresql":
        return None
    url = engine.url
    given = url.query.get("options")
    connect_args = dict(options.get("connect_args", {}))
    connect_args["options"] = " ".join(part for part in (given, connect_args.get("options"), _GENERIC_PLANS) if part)
    # One writer per group commit at a time (per quiz for starts): a few connections serve a process.
    writer = create_engine(url, **{**options, "connect_args": connect_args, "pool_size": 2, "max_overflow": 6})
    ping_idle_connections(writer, idle_s)
    return writer
