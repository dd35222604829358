"""Schema building blocks shared by every domain package."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import marshmallow as ma
from marshmallow import ValidationError, fields, pre_load, validate

MAX_ID = 2**31 - 1  # ids are 32-bit integers in the database
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2099, 12, 31, tzinfo=UTC)


def _nul_fields(data, prefix="") -> list[str]:
    found = []
    if isinstance(data, Mapping):  # JSON objects, and the MultiDicts of query strings and forms
        for key, value in data.items():
            found += _nul_fields(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _nul_fields(value, f"{prefix}.{index}" if prefix else str(index))
    elif isinstance(data, str) and "\x00" in data:
        found.append(prefix or "_schema")
    return found


class BaseSchema(ma.Schema):
    """Unknown fields are ignored, so older clients keep working when the contract grows.
    A NUL character in any text is refused here (PostgreSQL cannot store it)."""

    class Meta:
        unknown = ma.EXCLUDE

    @pre_load
    def _refuse_nul(self, data, **_):
        bad = _nul_fields(data)
        if bad:
            raise ValidationError({name: ["不能包含控制字符"] for name in bad})
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
