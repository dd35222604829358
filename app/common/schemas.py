"""Schema building blocks shared by every domain package."""
from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

import marshmallow as ma
from marshmallow import ValidationError, fields, pre_load, validate

MAX_ID = 2**31 - 1  # ids are 32-bit integers in the database
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2099, 12, 31, tzinfo=UTC)


# NUL (PostgreSQL cannot store it) and lone UTF-16 surrogates: JSON may escape one ("\ud800"),
# e.g. from a string cut in the middle of an emoji, and no UTF-8 text (database, answer) can hold it.
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def _unstorable_fields(data, prefix="") -> list[str]:
    found = []
    if isinstance(data, Mapping):  # JSON objects, and the MultiDicts of query strings and forms
        for key, value in data.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(key, str) and _UNSTORABLE.search(key):
                found.append(prefix or "_schema")  # a key cannot name itself in the answer either
                continue
            found += _unstorable_fields(value, name)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _unstorable_fields(value, f"{prefix}.{index}" if prefix else str(index))
    elif isinstance(data, str) and _UNSTORABLE.search(data):
        found.append(prefix or "_schema")
    return found


class BaseSchema(ma.Schema):
    """Unknown fields are ignored, so older clients keep working when the contract grows.
    Text no database or answer can hold (a NUL, a lone surrogate) is refused here, per field."""

    class Meta:
        unknown = ma.EXCLUDE

    @pre_load
    def _refuse_unstorable_text(self, data, **_):
        bad = _unstorable_fields(data)
        if bad:
            raise ValidationError({name: ["不能包含控制字符或残缺的字符（如被截断的表情符号）"] for name in bad})
        return data


class TrimmedString(fields.String):
    """A string trimmed before its validators run, so "   " or " 班 " cannot pass a length check."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip()


def aware_datetime(**kwargs) -> fields.AwareDateTime:
    """A datetime input between 2000 and 2099; a value without an offset is read as UTC."""
    checks = [validate.Range(min=EARLIEST, max=LATEST, error="日期应在 2000 年到 2099 年之间")]
    extra = kwargs.pop("validate", None)
    if extra:
        checks += extra if isinstance(extra, list) else [extra]
    return fields.AwareDateTime(default_timezone=UTC, validate=checks, **kwargs)


def id_field(**kwargs) -> fields.Integer:
    """A reference to a row: a strict positive 32-bit integer."""
    return fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID), **kwargs)


class PageArgsSchema(BaseSchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


_page_schemas: dict[type, type] = {}


def page_of(item_schema: type[ma.Schema]) -> type[ma.Schema]:
    """`{items, total, page, page_size}`: the one list shape of the API."""
    if item_schema not in _page_schemas:
        name = item_schema.__name__.removesuffix("Schema") + "PageSchema"
        _page_schemas[item_schema] = type(
            name,
            (BaseSchema,),
            {
                "items": fields.List(fields.Nested(item_schema), required=True),
                "total": fields.Integer(required=True),
                "page": fields.Integer(required=True),
                "page_size": fields.Integer(required=True),
            },
        )
    return _page_schemas[item_schema]
