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

# What PostgreSQL and libpq say when the server ended the connection. psycopg marks a connection
# broken only once it has read the server's goodbye; a query sent while that message is on its way
# fails with one of these and the connection not yet broken, so SQLAlchemy took it for a statement
# error, and the rollback of the request's teardown then failed too (an exception out of the
# request instead of one clean 500; seen once in CI on `test_a_connection_in_steady_use…`).
SERVER_ENDED = ("terminating connection", "server closed the connection", "connection socket closed",
                "consuming input failed", "sending query failed")


def ping_idle_connections(engine: Engine, idle_s: float) -> None:
    @event.listens_for(engine, "handle_error")
    def recognise_server_goodbye(context) -> None:
        if not context.is_disconnect and any(sign in str(context.original_exception) for sign in SERVER_ENDED):
            context.is_disconnect = True  # SQLAlchemy then invalidates the connection (and the pool)

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
# 20-join statement per batch (~0.5 ms of a 4-start statement's 2.2 ms). Their own pool whose
# connections use generic plans only: each statement is planned once per connection (after
# psycopg's prepare threshold) and re-planned only when ANALYZE changes the tables' statistics.
# The main pool keeps custom plans: reads such as `path LIKE :prefix` need the value to use an index.
def writer_engine_for(engine: Engine, options: dict, idle_s: float, pool_size: int,
                      echo: bool = False) -> Engine | None:
    """A second engine on `engine`'s database, with the same options, for batch writers; None where
    the database has no plan cache setting (SQLite: writers use the main pool).

    `pool_size` connections stay open: one per batch that can be in flight at once in a process
    (one per group commit, per quiz for starts; at most the worker's threads). A connection the
    pool closes after each use would never run a statement often enough to be prepared."""
    if engine.dialect.name != "postgresql":
        return None
    # LIFO: the connection just returned serves the next batch, so the few that are busy stay warm
    # (their backend's caches and prepared statements) while the others wait for a peak. FIFO
    # rotated every batch through all of them (signing alone, alternating runs: FIFO 0.44 and 0.42,
    # LIFO 0.48 and 0.44).
    sized = {} if "poolclass" in options else {"pool_size": pool_size, "max_overflow": pool_size,
                                                "pool_use_lifo": True}
    writer = create_engine(engine.url, **{"echo": echo, "echo_pool": echo, **options, **sized})

    # SET on each new connection rather than `options` in its connect arguments, which would
    # replace what PGOPTIONS, a service file or the URL give both pools (a statement_timeout …).
    @event.listens_for(writer, "connect")
    def plan_once(dbapi_connection, _record) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        dbapi_connection.execute("SET plan_cache_mode = force_generic_plan")
        dbapi_connection.autocommit = autocommit

    ping_idle_connections(writer, idle_s)
    return writer
