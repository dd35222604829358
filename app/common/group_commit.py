"""Group commit: the writes that arrive while one is in flight go to the database together.

A pledge signing is one small INSERT, and under load most of its cost is not the row but the
statement around it: a pooled connection, SQLAlchemy's execution machinery, a round trip, a
commit, and the database's own per-statement work — per request. With a `GroupCommit`, the
request threads of one process that want to write at the same moment hand their items to one
of them (the leader), which writes them all with one statement and one commit; the others wait
for their own result. No timer collects the batch: a lone request is written at once (after letting
go of the GIL once, ~50–80 µs), and a batch is whatever queued up while the previous one was
being written.

Leadership: the first thread to arrive when nothing is being written leads. When its batch is
done and more items have queued meanwhile, it hands the lead to the oldest waiting item, whose
thread writes the next batch (so no thread keeps writing other people's rows forever while its
own response waits).

`write(items)` runs in the leader's thread, inside its app context, and returns one result per
item in order (commit included); the app's writers run their statement on a connection of their
own (`app.common.sql.execute_committed` / `writer_engine`), not on the request's session. If it raises a database
error, the session is rolled back and every item gets the `fallback` result (its request then
takes the full path on its own); any other error is raised by the leader and, as
`GroupWriteFailed`, by every other request of the batch.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from flask import current_app
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.extensions import db

log = logging.getLogger(__name__)


class _Slot:
    __slots__ = ("item", "ready", "done", "lead", "result", "error")

    def __init__(self, item: Any) -> None:
        self.item = item
        # Held until the slot is done or made leader: a waiter blocks acquiring it. A bare lock
        # costs a fraction of a threading.Event (a Condition and notify_all) per request.
        self.ready = threading.Lock()
        self.ready.acquire()
        self.done = False
        self.lead = False
        self.result: Any = None
        self.error: BaseException | None = None


class GroupWriteFailed(Exception):
    """What the waiting requests of a batch whose write failed raise (the leader raises the
    original error): each thread gets its own exception, chained to the cause."""


class GroupCommit:
    """`fallback` is every item's result when the write fails with a database error (a deadlock
    with another process's batch, a lost connection, a constraint, no pooled connection free in
    time): the batch is rolled back and
    each request then takes its own full path, so one bad moment is not 200 failed requests."""

    def __init__(self, write: Callable[[Sequence[Any]], Sequence[Any]], max_batch: int = 200,
                 fallback: Any = None) -> None:
        self._write = write
        self._max_batch = max_batch
        self._fallback = fallback
        self._lock = threading.Lock()
        self._queue: list[_Slot] = []
        self._writing = False
        self.batches = 0  # batches written by this process (tests read it)
        self.items = 0

    def submit(self, item: Any) -> Any:
        """Write `item` with whatever else is waiting; returns its result or raises its error."""
        slot = _Slot(item)
        with self._lock:
            self._queue.append(slot)
            if not self._writing:
                self._writing = slot.lead = True
        led = False
        if not slot.lead:
            slot.ready.acquire()
        if not slot.done:  # led: write a batch that holds this slot
            led = True
            self._lead()
        if slot.error is not None:
            if led:
                raise slot.error
            raise GroupWriteFailed("the group write of this request failed") from slot.error
        return slot.result

    def _lead(self) -> None:
        # Let go of the GIL once: request threads that are a few microseconds from submitting join
        # this batch instead of the next (SQLite bench: 2.5 → 4.1 rows per statement, p99 of
        # signing 102 → 56 ms). On Linux `time.sleep(0)` is a clock_nanosleep that returns after
        # the timer slack (~50–80 µs measured here), so a lone request waits that long; waiting
        # 0.5 ms or not at all measured the same ratios within noise (docs/performance.md).
        time.sleep(0)
        with self._lock:
            batch, self._queue = self._queue[:self._max_batch], self._queue[self._max_batch:]
        try:
            self._write_batch(batch)
        finally:  # whatever happened, the batch is answered and the lead passed on
            with self._lock:
                self.batches += 1
                self.items += len(batch)
                successor = self._queue[0] if self._queue else None
                if successor is not None:
                    successor.lead = True
                else:
                    self._writing = False
            for slot in batch:
                slot.done = True
                if slot.ready.locked():
                    slot.ready.release()
            if successor is not None:
                successor.ready.release()

    def _write_batch(self, batch: list[_Slot]) -> None:
        try:
            results = self._write([slot.item for slot in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"group write returned {len(results)} results for {len(batch)} items")
        except (DBAPIError, PoolTimeout):
            log.warning("group write of %d items failed; each takes its full path", len(batch), exc_info=True)
            _rollback()
            results = [self._fallback] * len(batch)
        except BaseException as error:  # noqa: BLE001 - handed to every waiter of the batch
            _rollback()
            for slot in batch:
                slot.error = error
            return
        for slot, result in zip(batch, results, strict=True):
            slot.result = result


def _rollback() -> None:
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - a dead connection; the pool replaces it
        log.warning("rollback after a failed group write failed", exc_info=True)


def group_commit(name: str, write: Callable[[Sequence[Any]], Sequence[Any]], fallback: Any = None) -> GroupCommit:
    """This app's GroupCommit called `name` (one per process and app; made on first use)."""
    key = f"group_commit:{name}"
    batches = current_app.extensions.get(key)
    if batches is None:  # two threads racing here make two; harmless, the first one stays
        batches = current_app.extensions.setdefault(key, GroupCommit(write, fallback=fallback))
    return batches


def first_of_each(items: Sequence[Any], key: Callable[[Any], Any],
                  keep: Callable[[Any], bool] | None = None) -> dict:
    """key → the index of the first item with that key (optionally only among items `keep`
    accepts). A batch writes each key once; a second item of one key (a repeated tap or submit
    in the same batch) gets None from `answer_each` and takes its full path."""
    first: dict = {}
    for index, item in enumerate(items):
        if keep is None or keep(item):
            first.setdefault(key(item), index)
    return first


def answer_each(items: Sequence[Any], key: Callable[[Any], Any], first: dict, found: dict) -> list:
    """The batch's results in item order: what was written for its key for the first item of
    each key, None (full path) for every other item and for keys nothing was written for."""
    return [found.get(k) if first.get(k) == index else None
            for index, k in enumerate(key(item) for item in items)]
