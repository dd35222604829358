"""Group commit (app/common/group_commit.py), the machinery under pledge signing: items that
arrive together are written together, each caller gets its own result or the batch's error,
and a batch never grows past its cap. The HTTP behaviour is tested in test_pledges.py."""
from __future__ import annotations

import time

import pytest
from sqlalchemy.exc import OperationalError

from app.common.group_commit import GroupCommit, GroupWriteFailed
from tests.concurrency import released_together


def submit_all(app, batches: GroupCommit, items: list) -> list:
    """Each item submitted from its own thread (inside the app context), released together."""
    def submit(item):
        def call():
            with app.app_context():
                try:
                    return ("ok", batches.submit(item))
                except Exception as error:  # noqa: BLE001 - the test looks at it
                    return ("error", error)
        return call

    return released_together([submit(item) for item in items], timeout=30)


def test_items_arriving_together_share_writes_and_get_their_own_results(app):
    written: list[list[int]] = []

    def write(items):
        written.append(list(items))
        time.sleep(0.02)  # a round trip: the others queue meanwhile
        return [item * 10 for item in items]

    batches = GroupCommit(write, max_batch=8)
    outcomes = submit_all(app, batches, list(range(30)))
    assert outcomes == [("ok", n * 10) for n in range(30)]
    assert sorted(n for batch in written for n in batch) == list(range(30))  # each item once
    assert len(written) < 30 and max(len(batch) for batch in written) <= 8
    assert (batches.batches, batches.items) == (len(written), 30)


def test_a_failed_write_fails_every_item_of_its_batch_and_the_next_batch_still_runs(app):
    """A bug in a write: the leader raises it, every other request of the batch raises its own
    GroupWriteFailed chained to it, and the requests that queued meanwhile are written."""
    calls = []

    def write(items):
        calls.append(list(items))
        time.sleep(0.02)
        if len(calls) == 1:
            raise ValueError("a bug in the write")
        return ["saved"] * len(items)

    batches = GroupCommit(write)
    outcomes = submit_all(app, batches, list(range(12)))
    first = set(calls[0])
    raised = [value for item, (kind, value) in enumerate(outcomes) if item in first]
    assert all(isinstance(error, ValueError | GroupWriteFailed) for error in raised)
    assert sum(isinstance(error, ValueError) for error in raised) == 1  # the leader's own
    assert all(isinstance(error.__cause__, ValueError) for error in raised if isinstance(error, GroupWriteFailed))
    assert all(outcomes[item] == ("ok", "saved") for item in range(12) if item not in first)
    assert sum(len(batch) for batch in calls) == 12
    with app.app_context():  # and later callers are not stuck behind the failure
        assert batches.submit(99) == "saved"


def test_a_database_error_sends_every_item_of_the_batch_to_its_full_path(app):
    """A deadlock with another process's batch, a lost connection: no request fails for it; each
    gets the fallback result (its request then takes the full rules on its own)."""
    calls = []

    def write(items):
        calls.append(list(items))
        time.sleep(0.02)
        if len(calls) == 1:
            raise OperationalError("UPDATE …", {}, Exception("deadlock detected"))
        return ["saved"] * len(items)

    batches = GroupCommit(write, fallback="full path")
    outcomes = submit_all(app, batches, list(range(10)))
    assert [outcomes[item] for item in calls[0]] == [("ok", "full path")] * len(calls[0])
    assert all(outcomes[item] == ("ok", "saved") for item in range(10) if item not in calls[0])


def test_a_write_that_loses_results_is_an_error_not_a_silent_none(app):
    batches = GroupCommit(lambda items: [])
    with app.app_context(), pytest.raises(RuntimeError, match="0 results for 1 items"):
        batches.submit("x")


def test_a_batch_statement_that_gets_no_connection_raises_sqlalchemys_error(app):
    """No connection to be had (the server down, too many clients): the batch statement raises
    SQLAlchemy's DBAPIError — what the fallback above turns into each request's full path — not the
    driver's own error, which would fail every request of the batch."""
    from sqlalchemy import create_engine, select
    from sqlalchemy.exc import DBAPIError

    from app.common.sql import _driver_statement
    from app.extensions import db
    from app.pledges.models import Signature

    with app.app_context():
        url = db.engine.url
    unreachable = (url.set(host="127.0.0.1", port=1) if url.get_backend_name() == "postgresql"
                   else url.set(database="/nonexistent-dir/none.db"))
    engine = create_engine(unreachable, connect_args={"connect_timeout": 2} if url.get_backend_name() == "postgresql"
                           else {})
    statement = select(Signature.id).where(Signature.id == 1)
    with pytest.raises(DBAPIError):
        _driver_statement(statement, engine.dialect).run(engine, {})
    engine.dispose()


def test_a_failed_batch_statement_does_not_carry_its_parameters(app):
    """Batch writes (signings, quiz starts with their answer keys, autosaves with students'
    choices) build their database error themselves: like the engines' (hide_parameters), it
    names the statement and not the values, so the log of a failed batch holds no request data."""
    from sqlalchemy import bindparam, insert
    from sqlalchemy.exc import DBAPIError

    from app.common.sql import execute_committed
    from app.orgs.models import Org

    with app.app_context():
        statement = insert(Org.__table__).values(name=bindparam("name"), kind="school",
                                                  parent_id=bindparam("parent"), path="/x/", depth=0)
        with pytest.raises(DBAPIError) as caught:
            execute_committed(statement, {"name": "ANSWER-KEY-SECRET", "parent": 999_999})
        assert "INSERT INTO orgs" in str(caught.value)
        assert "ANSWER-KEY-SECRET" not in str(caught.value)
