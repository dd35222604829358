"""Pooled connections are checked only after sitting idle (`DB_PING_IDLE_S`, app/common/pool.py):
one the server dropped meanwhile is replaced before a request uses it. PostgreSQL only: it
needs a server that can drop connections."""
from __future__ import annotations

import logging
import os
import time

import pytest
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.skipif(not (os.environ.get("TEST_DATABASE_URL") or "").startswith("postgresql"),
                                reason="needs a database server (TEST_DATABASE_URL=postgresql…)")


def drop_other_connections() -> int:
    """What a database restart or an idle timeout in a proxy does to the app's pooled connections."""
    killer = create_engine(os.environ["TEST_DATABASE_URL"])
    try:
        with killer.connect() as conn:
            return len(conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()")).all())
    finally:
        killer.dispose()


def lookup(client):
    """A public request that reads the database (an unknown certificate)."""
    return client.get("/api/v1/certificates/PLDOESNOTEXIST0000")


def test_an_idle_connection_the_server_dropped_is_replaced_before_use(fresh_app):
    client = fresh_app(DB_PING_IDLE_S=0.2).test_client()
    assert lookup(client).status_code == 404
    time.sleep(0.3)
    assert drop_other_connections() >= 1
    response = lookup(client)
    assert response.status_code == 404, response.get_json()


def test_a_connection_in_steady_use_is_not_pinged(fresh_app, caplog):
    """The price of not pinging on every checkout (documented in app/common/pool.py): a
    connection dropped while in steady use fails one request cleanly; the pool then starts over.
    The failure is logged without the statement's parameters (request data: names, answer keys)."""
    client = fresh_app(DB_PING_IDLE_S=3600).test_client()
    assert lookup(client).status_code == 404
    assert drop_other_connections() >= 1
    caplog.set_level(logging.ERROR)
    failed = lookup(client)
    assert failed.status_code == 500 and failed.get_json()["code"] == "internal_error", failed.get_json()
    assert "SELECT" in caplog.text, "the failure is logged"
    assert "PLDOESNOTEXIST0000" not in caplog.text
    assert lookup(client).status_code == 404


@pytest.mark.parametrize("given_by", ["url", "PGOPTIONS"])
def test_batch_writers_keep_one_generic_plan_and_the_deployments_options(fresh_app, monkeypatch, given_by):
    """Group-commit statements run on a pool of their own whose connections plan each statement
    once (app/common/pool.py `writer_engine_for`); the main pool keeps custom plans, which reads by
    a path prefix need. Options the deployment gives (in the URL or libpq's PGOPTIONS) reach both
    pools, and the writers' connections stay open between batches (a new one per batch would
    never be prepared)."""
    from app.common.sql import writer_engine
    from app.extensions import db

    url = os.environ["TEST_DATABASE_URL"]
    if given_by == "url":
        url += ("&" if "?" in url else "?") + "options=-c%20statement_timeout%3D4321"
    else:
        monkeypatch.setenv("PGOPTIONS", "-c statement_timeout=4321")
    app = fresh_app(SQLALCHEMY_DATABASE_URI=url, DB_WRITER_POOL_SIZE=4)
    with app.app_context():
        assert writer_engine() is not db.engine
        for engine, plans in ((writer_engine(), "force_generic_plan"), (db.engine, "auto")):
            with engine.connect() as conn:
                assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar() == plans
                assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "4321ms"

        def backends_of_four_batches_at_once() -> set:
            held = [writer_engine().connect() for _ in range(4)]
            try:
                return {conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() for conn in held}
            finally:
                for conn in held:
                    conn.close()

        first = backends_of_four_batches_at_once()
        assert len(first) == 4 and backends_of_four_batches_at_once() == first
