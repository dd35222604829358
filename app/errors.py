"""One error shape everywhere: `{code, message, errors?}`.

`code` is a stable English word for programs, `message` is Chinese for the person, `errors`
maps field names to Chinese messages for validation failures (422). Nothing here ever
returns an HTML page or a stack trace.
"""
from __future__ import annotations

import logging
import re

from flask import Flask, jsonify
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An answer for the client. Services raise these; the handler renders them."""

    status = 400
    code = "bad_request"
    message = "请求有误"

    def __init__(
        self,
        code: str | None = None,
        message: str | None = None,
        *,
        status: int | None = None,
        errors: dict | None = None,
        headers: dict | None = None,
    ):
        super().__init__(code or self.code)
        self.code = code or self.code
        self.message = message or self.message
        self.status = status or self.status
        self.errors = errors
        self.headers = headers or {}


class NotFound(ApiError):
    status, code, message = 404, "not_found", "请求的内容不存在"


class Forbidden(ApiError):
    status, code, message = 403, "forbidden", "没有权限进行此操作"


class Unauthorized(ApiError):
    status, code, message = 401, "unauthorized", "请先登录"


class Conflict(ApiError):
    status, code, message = 409, "conflict", "操作与当前状态冲突"


class ValidationFailed(ApiError):
    """A rule about one or more fields, reported like schema validation errors."""

    status, code, message = 422, "validation_error", "提交的内容有误，请检查后重试"

    def __init__(self, errors: dict, message: str | None = None, code: str | None = None):
        super().__init__(code, message, errors=errors)


HTTP_DEFAULTS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "请求格式不正确"),
    401: ("unauthorized", "请先登录"),
    403: ("forbidden", "没有权限进行此操作"),
    404: ("not_found", "请求的内容不存在"),
    405: ("method_not_allowed", "不支持该请求方法"),
    409: ("conflict", "操作与当前状态冲突"),
    413: ("payload_too_large", "提交的内容太大"),
    415: ("unsupported_media_type", "不支持的内容类型"),
    422: ("validation_error", "提交的内容有误，请检查后重试"),
    429: ("too_many_requests", "请求过于频繁，请稍后再试"),
    500: ("internal_error", "服务器开小差了，请稍后再试"),
    503: ("service_unavailable", "服务暂时不可用，请稍后再试"),
}

# marshmallow / webargs speak English; people read Chinese.
_TRANSLATIONS: list[tuple[re.Pattern, str]] = [
    (re.compile(r"^Missing data for required field"), "此项必填"),
    (re.compile(r"^Field may not be null"), "此项不能为空"),
    (re.compile(r"^Not a valid integer"), "应为整数"),
    (re.compile(r"^Not a valid number"), "应为数字"),
    (re.compile(r"^Not a valid string"), "应为文本"),
    (re.compile(r"^Not a valid boolean"), "应为是或否"),
    (re.compile(r"^Not a valid (date|datetime|time)"), "日期时间格式不正确（示例：2026-09-01T08:00:00+08:00）"),
    (re.compile(r"^Not a valid list"), "应为列表"),
    (re.compile(r"^Not a valid mapping type"), "应为对象"),
    (re.compile(r"^Invalid input type"), "请求体应为 JSON 对象"),
    (re.compile(r"^Invalid JSON body"), "请求体不是有效的 JSON"),
    (re.compile(r"^Unknown field"), "不支持的字段"),
    (re.compile(r"^Must be one of"), "取值不在允许的范围内"),
    (re.compile(r"^Must be greater than or equal to (\S+?) and less than or equal to (\S+?)\.?$"),
     "应在 {0} 到 {1} 之间"),
    (re.compile(r"^Must be greater than or equal to (\S+?)\.?$"), "不能小于 {0}"),
    (re.compile(r"^Must be less than or equal to (\S+?)\.?$"), "不能大于 {0}"),
    (re.compile(r"^Length must be between (\d+) and (\d+)"), "长度应在 {0} 到 {1} 之间"),
    (re.compile(r"^Shorter than minimum length (\d+)"), "长度不能少于 {0}"),
    (re.compile(r"^Longer than maximum length (\d+)"), "长度不能超过 {0}"),
    (re.compile(r"^Not a valid"), "格式不正确"),
]


def translate(message: str) -> str:
    for pattern, chinese in _TRANSLATIONS:
        match = pattern.match(message)
        if match:
            return chinese.format(*match.groups())
    return message


def flatten_messages(messages, prefix: str = "") -> dict[str, list[str]]:
    """webargs' `{location: {field: [msg]}}` (possibly nested) → `{"field.sub": [msg]}`."""
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            for k, v in flatten_messages(value, name).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(messages, (list, tuple)):
        if all(isinstance(m, str) for m in messages):
            out[prefix or "_schema"] = [translate(m) for m in messages]
        else:
            for item in messages:
                for k, v in flatten_messages(item, prefix).items():
                    out.setdefault(k, []).extend(v)
    else:
        out[prefix or "_schema"] = [translate(str(messages))]
    return out


def _strip_locations(messages: dict) -> dict:
    """Drop webargs' location level (json/query/files/form): clients think in field names."""
    merged: dict = {}
    for fields in messages.values():
        if isinstance(fields, dict):
            merged.update(fields)
        else:
            merged.setdefault("_schema", []).extend(fields if isinstance(fields, list) else [fields])
    return merged


def error_response(status: int, code: str, message: str, errors: dict | None = None, headers=None):
    body = {"code": code, "message": message}
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def handle_api_error(error: ApiError):
    return error_response(error.status, error.code, error.message, error.errors, error.headers)


def handle_http_exception(error: HTTPException):
    status = error.code or 500
    code, message = HTTP_DEFAULTS.get(status, ("error", "请求无法完成"))
    data = getattr(error, "data", None) or {}
    errors = None
    headers = dict(data.get("headers") or {})
    if status == 500:
        original = getattr(error, "original_exception", None)
        log.error("unhandled error", exc_info=original or error)
    messages = data.get("messages")
    if messages:
        errors = flatten_messages(_strip_locations(messages))
        if status == 400 and "_schema" in errors and any("JSON" in m for m in errors["_schema"]):
            code, message, errors = "invalid_json", "请求体不是有效的 JSON", None
    if getattr(error, "valid_methods", None):
        headers["Allow"] = ", ".join(error.valid_methods)
    if status == 429:
        message = "请求过于频繁，请稍后再试"
    return error_response(status, code, message, errors, headers)


INVALID_VALUE = ("invalid_value", "提交的内容包含超出范围的数字或无效字符")


def handle_unstorable_value(error: Exception):
    """The database refused a value that came with the request (an id beyond its integer
    range, a NUL character in text): the request is wrong, not the server. Schemas should
    catch these first; this keeps a 500 away when one does not."""
    if isinstance(error, OverflowError) and "too large to convert" not in str(error):
        return handle_unexpected(error)
    cause = getattr(error, "orig", None) or error
    # Type only: the statement's parameters are request data.
    log.warning("database refused a request value: %s", type(cause).__name__)
    return error_response(422, *INVALID_VALUE)


def handle_unexpected(error: Exception):
    """Last line: log with the traceback for engineers, answer a plain Chinese 500."""
    log.error("unhandled error", exc_info=error)
    code, message = HTTP_DEFAULTS[500]
    return error_response(500, code, message)


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ApiError, handle_api_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(DataError, handle_unstorable_value)
    app.register_error_handler(OverflowError, handle_unstorable_value)  # sqlite3: int beyond 64 bits
    app.register_error_handler(Exception, handle_unexpected)
