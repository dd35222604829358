"""The flask-smorest `Api`, speaking the project's error shape in responses and docs."""
import json

import marshmallow as ma
from flask_smorest import Api
from flask_smorest import Blueprint as SmorestBlueprint
from webargs.flaskparser import FlaskParser, is_json_request

from app.errors import ApiError, handle_http_exception


class ErrorSchema(ma.Schema):
    """The one error shape. `errors` only for validation failures (422)."""

    code = ma.fields.String(required=True, metadata={"description": "stable machine code, e.g. forbidden"})
    message = ma.fields.String(required=True, metadata={"description": "Chinese message for the person"})
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        metadata={"description": "per-field Chinese messages"},
    )


class QinglangApi(Api):
    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error):
        return handle_http_exception(error)


class JsonBodyParser(FlaskParser):
    """webargs' parser, with every body Python's JSON reader refuses answered 400 `invalid_json`,
    and a body that is not JSON at all answered 415 (webargs would ignore it).

    webargs turns only `JSONDecodeError` into a 400; a body of valid syntax can still fail to
    load: a number of more than 4,300 digits (`ValueError`, Python's guard against slow int
    parsing) or arrays nested a few thousand deep (`RecursionError`), ~10 KB either, and both
    were a 500."""

    def _raw_load_json(self, req):
        if not is_json_request(req) and req.get_data(cache=True).strip():
            # webargs reads a body of another type as no body at all: `fetch` posting a JSON string
            # sends text/plain, and a submit would have handed the attempt in with no answers.
            raise ApiError("unsupported_media_type", "请以 JSON 格式提交（Content-Type: application/json）",
                           status=415)
        try:
            return super()._raw_load_json(req)
        except json.JSONDecodeError:
            raise  # webargs' own handling (an empty body is no body)
        except (ValueError, RecursionError) as error:
            return self._handle_invalid_json_error(error, req)


class Blueprint(SmorestBlueprint):
    """flask-smorest's Blueprint, with argument schemas built once and our JSON body parser.

    webargs instantiates a Schema *class* on every request (marshmallow deep-copies every field
    then: ~0.1 ms, a fifth of an empty request); an instance made at import is reused. Argument
    schemas hold no per-request state (marshmallow 4 has no `context`), so sharing is safe."""

    ARGUMENTS_PARSER = JsonBodyParser()

    def arguments(self, schema, *args, **kwargs):
        if isinstance(schema, type) and issubclass(schema, ma.Schema):
            schema = schema()
        return super().arguments(schema, *args, **kwargs)
