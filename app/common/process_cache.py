"""Per-process memory of values that are costly to read and rarely change (draw pools, question
texts, attempt facts, verified tokens, ranking aggregates), one dict per app and name.

Full caches are emptied rather than trimmed: cheaper on the hot paths than LRU bookkeeping, and
every value here can be read again from the database."""
from __future__ import annotations

from typing import Any

from flask import current_app


def process_cache(name: str) -> dict:
    """This app's cache called `name` (tests build many apps in one process)."""
    return current_app.extensions.setdefault(f"process_cache:{name}", {})


def remember(cache: dict, key: Any, value: Any, limit: int) -> Any:
    """Keep `value` under `key`, emptying the cache first when it holds `limit` entries."""
    if key not in cache and len(cache) >= limit:
        cache.clear()
    cache[key] = value
    return value
