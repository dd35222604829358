"""Schema building blocks shared by every domain package."""
from __future__ import annotations

from datetime import UTC

import marshmallow as ma
from marshmallow import fields, validate


class BaseSchema(ma.Schema):
    """Unknown fields are ignored, so older clients keep working when the contract grows."""

    class Meta:
        unknown = ma.EXCLUDE


def aware_datetime(**kwargs) -> fields.AwareDateTime:
    """A datetime input; a value without an offset is read as UTC."""
    return fields.AwareDateTime(default_timezone=UTC, **kwargs)


class PageArgsSchema(BaseSchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
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
