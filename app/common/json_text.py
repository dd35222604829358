"""JSON for the hot paths, with orjson: a quiz start or submit carries ~15 KB of questions in
its database row, its batch parameter and its answer; the standard library's json spends ~50 µs
on each such dump with `ensure_ascii=False` and ~55 µs on each load, orjson ~4 and ~20.

The same values as `json.dumps(value, ensure_ascii=False)` for what the app stores and sends —
UTF-8 text, non-string keys written as strings — written compactly (no spaces after `,` and
`:`), with datetimes as ISO 8601 (`isoformat()`'s form, so API answers keep their format).
Unlike json, NaN and infinities become null; the app stores neither."""
from __future__ import annotations

from typing import Any

import orjson
from flask import current_app

_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps_bytes(value: Any) -> bytes:
    return orjson.dumps(value, option=_OPTIONS)


def dumps(value: Any) -> str:
    return orjson.dumps(value, option=_OPTIONS).decode()


loads = orjson.loads


def response(payload: Any, status: int):
    """A JSON answer for a hot path whose payload is already the whitelisted dict its schema would
    dump (a signing, an autosave, an attempt started or submitted): no second pass through marshmallow and
    Flask's JSON provider (~85 µs of a signing). flask-smorest passes a Response through as it is;
    the route still declares its schema for the OpenAPI document."""
    return current_app.response_class(dumps_bytes(payload), status=status, mimetype="application/json")
