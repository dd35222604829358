"""Aggregates over whole subtrees (pledge progress counts, leaderboard totals, rank samples and
org tables), kept a few seconds and shared by every worker and instance through Redis.

A city-wide count costs up to a second of PostgreSQL. Kept per process, every gunicorn worker
of every instance ran it once per period; here one of them (the one holding the claim, a Redis
lock) recounts and the others take its result.

- Fresh: answered at once.
- Stale (kept `stale_s` longer): answered at once while the claimant recounts in a background
  thread (at most `MAX_BACKGROUND_REFRESHES` per process).
- Never counted: one request counts, the others wait for its value while its claim lives.
A value stays fresh for the period setting or five times what counting it took, whichever is
longer, so a slow count never occupies the database more than a fifth of the time. Freshness is
wall-clock time of the process that counted (hosts of one deployment keep their clocks in step).

With `local_copy`, each process also keeps the value it last saw until that value's freshness
ends, so a hot leaderboard reads Redis once per period, not per request; without it (progress
counts) every request reads Redis, so `forget` applies to every process at once. Without
`REDIS_URL` (development, tests on SQLite) the same rules hold per process. Redis trouble only
costs fresh counts: the process falls back to its own copies and claims, and says so in the log
at most once a minute.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from flask import current_app

from app.common.background import run_in_background
from app.common.process_cache import process_cache, remember

log = logging.getLogger(__name__)

MAX_BACKGROUND_REFRESHES = 2  # per process: each holds a database connection while it counts
_background_slots = threading.BoundedSemaphore(MAX_BACKGROUND_REFRESHES)
_claims_lock = threading.Lock()
_warned: dict[str, float] = {}
WARN_EVERY_S = 60.0


def shared_redis():
    """This app's Redis client for shared caches, or None without `REDIS_URL`. Short timeouts:
    a cache that does not answer must not hold up a request."""
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    client = current_app.extensions.get("aggregates_redis")
    if client is None:
        import redis

        client = current_app.extensions["aggregates_redis"] = redis.Redis.from_url(
            url, socket_timeout=0.25, socket_connect_timeout=0.25)
    return client


def _warn(what: str) -> None:
    """A Redis failure, logged with its traceback at most once a minute per kind."""
    now = time.monotonic()
    if now - _warned.get(what, -WARN_EVERY_S) >= WARN_EVERY_S:
        _warned[what] = now
        log.warning("aggregate cache: %s failed (falling back to this process's copies)", what, exc_info=True)


class AggregateCache:
    """Values named by a key tuple of plain parts, fresh for the app setting `ttl_setting`
    (seconds; 0 or less: counted on every call). Values must survive JSON: lists, dicts,
    numbers, strings (a tuple comes back as a list), never None."""

    VERSION = 2  # part of every Redis key: a new shape of value never meets an old one
    CLAIM_S = 30.0  # a claim not released after this long (its process died) lapses
    MAX_LOCAL = 10_000  # values kept per process and name (emptied when full)
    RECHECK_S = 0.5  # while another process recounts, look for its value in Redis this often

    def __init__(self, name: str, ttl_setting: str, default_ttl: float, *, stale_s: float = 120.0,
                 local_copy: bool = False):
        self.name, self.ttl_setting, self.default_ttl = name, ttl_setting, default_ttl
        self.stale_s, self.local_copy = stale_s, local_copy

    def get(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """The value under `key`, counted by `compute()` when needed. `compute` may run in a
        background thread with its own session: it must close over plain values and statements,
        never over ORM instances of the request's session."""
        if self._ttl() <= 0:
            return compute()
        entry = self._local().get(key)
        redis_client = shared_redis()
        if entry is not None and (self.local_copy or redis_client is None):
            now = time.time()
            if entry[0] > now:
                return entry[2]
            looked = self._recounting_elsewhere().get(key)
            if entry[1] > now and looked is not None and time.monotonic() - looked < self.RECHECK_S:
                return entry[2]  # stale, and someone else's recount was under way a moment ago
        value, fresh = self._read(key, entry, redis_client)
        if fresh:
            return value
        claimed, counted = self._claim_unless_counted(key)
        if counted is not None:
            return counted
        if value is not None:  # stale: answer it now; the claimant counts again meanwhile
            if claimed:
                self._recount_in_background(key, compute)
            else:
                remember(self._recounting_elsewhere(), key, time.monotonic(), self.MAX_LOCAL)
            return value
        if not claimed:  # the first count is being made elsewhere: wait for it while its claim lives
            deadline = time.monotonic() + self.CLAIM_S
            while time.monotonic() < deadline:
                time.sleep(0.05)
                value, _ = self._read(key, self._local().get(key), shared_redis())
                if value is not None:
                    return value
                claimed, counted = self._claim_unless_counted(key)
                if counted is not None:
                    return counted
                if claimed:  # the claimant gave up or died: count here
                    break
        return self._recount(key, compute, claimed)

    def _claim_unless_counted(self, key: tuple) -> tuple[bool, Any]:
        """(claimed, a fresh value counted meanwhile or None). Looked for again once the claim is
        ours: the previous holder may have written its value and let go between our read and
        our claim, and counting again then would be the stampede the claim exists to prevent."""
        if not self._claim(key):
            return False, None
        value, fresh = self._read(key, self._local().get(key), shared_redis())
        if fresh:
            self._release(key)
            return False, value
        return True, None

    def forget(self, *key_start: Hashable) -> None:
        """Drop every value whose key starts with `key_start`, so that a change shows at once
        (a revoked signature). Without `local_copy` that holds for every process sharing Redis;
        with it, other processes drop their own copies when those go stale."""
        local = self._local()
        for key in list(local):
            if key[:len(key_start)] == key_start:
                local.pop(key, None)
        redis_client = shared_redis()
        if redis_client is None:
            return
        try:
            keys = list(redis_client.scan_iter(self._redis_key(key_start) + ":*", count=500))
            if keys:
                redis_client.delete(*keys)
        except Exception:  # noqa: BLE001 - a cache outage only costs fresh counts
            _warn(f"{self.name} forget")

    # -- storage ---------------------------------------------------------------------------

    def _ttl(self) -> float:
        return float(current_app.config.get(self.ttl_setting, self.default_ttl))

    def _local(self) -> dict:
        return process_cache(f"aggregates:{self.name}")

    def _redis_key(self, key: tuple, kind: str = "value") -> str:
        config = current_app.config
        prefix = config.get("CACHE_KEY_PREFIX") or config.get("RATELIMIT_KEY_PREFIX") or "qinglang"
        return ":".join([prefix, f"aggregate-{kind}-v{self.VERSION}", self.name, *map(str, key)])

    def _read(self, key: tuple, entry: tuple | None, redis_client) -> tuple[Any, bool]:
        """(value or None, whether it is fresh): Redis's value when Redis answers, else this
        process's `entry` (fresh_until, keep_until, value). When Redis has none, this process's
        copy still serves with `local_copy` (a value kept stale longer than Redis keeps it)."""
        if redis_client is not None:
            try:
                raw = redis_client.get(self._redis_key(key))
                if raw:
                    fresh_until, keep_until, value = json.loads(raw)
                    entry = self._keep_locally(key, fresh_until, keep_until, value)
                elif not self.local_copy:
                    entry = None
            except Exception:  # noqa: BLE001 - unreadable or unreachable: this process's copy
                _warn(f"{self.name} read")
        now = time.time()
        if entry is None or entry[1] < now:
            return None, False
        return entry[2], entry[0] > now

    def _keep_locally(self, key: tuple, fresh_until: float, keep_until: float, value: Any) -> tuple:
        return remember(self._local(), key, (fresh_until, keep_until, value), self.MAX_LOCAL)

    def _recount(self, key: tuple, compute: Callable[[], Any], claimed: bool) -> Any:
        try:
            started = time.monotonic()
            value = compute()
            fresh_for = max(self._ttl(), 5 * (time.monotonic() - started))
            now = time.time()
            fresh_until, keep_until = now + fresh_for, now + fresh_for + self.stale_s
            encoded = json.dumps([fresh_until, keep_until, value], separators=(",", ":"))
            value = json.loads(encoded)[2]  # the shapes every process reads back from Redis
            self._keep_locally(key, fresh_until, keep_until, value)
            redis_client = shared_redis()
            if redis_client is not None:
                try:
                    redis_client.set(self._redis_key(key), encoded, px=int((keep_until - now) * 1000))
                except Exception:  # noqa: BLE001
                    _warn(f"{self.name} write")
            return value
        finally:
            if claimed:
                self._release(key)

    def _recount_in_background(self, key: tuple, compute: Callable[[], Any]) -> None:
        """A key that finds no free slot keeps its stale value; a later request tries again."""
        if not _background_slots.acquire(blocking=False):
            self._release(key)
            return
        if not run_in_background(lambda: self._recount(key, compute, claimed=True),
                                 name=f"aggregate {self.name} {key}", on_exit=_background_slots.release):
            self._release(key)

    # -- claims: who counts -----------------------------------------------------------------

    def _recounting_elsewhere(self) -> dict:
        """When this process last found a stale value with the claim held by someone else."""
        return process_cache(f"aggregates:{self.name}:elsewhere")

    def _claims(self) -> dict:
        """The claims this process holds: a Redis lock each, or the time it was taken."""
        return process_cache(f"aggregates:{self.name}:claims")

    def _claim(self, key: tuple) -> bool:
        """True for the one caller (across every process sharing Redis) that should count now.
        The claim is a Redis lock with its own token (released only by its holder) that lapses
        after CLAIM_S; when Redis fails, this process's claims decide instead."""
        claims, now = self._claims(), time.monotonic()
        with _claims_lock:
            held = claims.get(key)
            if held is not None and (not isinstance(held, float) or held > now - self.CLAIM_S):
                return False  # this process holds it already (another thread is counting)
            claims[key] = now
        redis_client = shared_redis()
        if redis_client is None:
            return True
        try:
            lock = redis_client.lock(self._redis_key(key, "claim"), timeout=self.CLAIM_S, blocking=False,
                                     thread_local=False)
            acquired = lock.acquire()
        except Exception:  # noqa: BLE001 - Redis down: this process's claim stands alone
            _warn(f"{self.name} claim")
            return True
        with _claims_lock:
            if acquired:
                claims[key] = lock
            else:
                claims.pop(key, None)
        return acquired

    def _release(self, key: tuple) -> None:
        with _claims_lock:
            held = self._claims().pop(key, None)
        if held is not None and not isinstance(held, float):
            try:
                held.release()
            except Exception:  # noqa: BLE001 - lapsed (LockNotOwnedError) or Redis down: it lapses
                _warn(f"{self.name} release")
