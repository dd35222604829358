"""One error shape everywhere (`{code, message, errors?}`, Chinese messages, JSON, never a 500
for bad input), liveness without a database, and the OpenAPI document and docs UI."""
from __future__ import annotations

import logging
import re

import pytest
from flask_jwt_extended import create_access_token

from app.extensions import db
from tests.conftest import API, Api, assert_error, make_app

CJK = re.compile(r"[\u4e00-\u9fff]")

# endpoint → (path, who calls it, fields a body must have)
ENDPOINTS = {
    "wechat-login": ("/auth/wechat-login", None, {"code"}),
    "password-login": ("/auth/password-login", None, {"username", "password"}),
    "orgs": ("/orgs", "admin", {"name", "kind"}),
}

# Bodies of the right shape but wrong content, per endpoint: (json, fields that must be named).
WRONG_TYPES = {
    "wechat-login": ({"code": 123}, {"code"}),
    "password-login": ({"username": 123, "password": ["x"]}, {"username", "password"}),
    "orgs": ({"name": 123, "kind": "region", "parent_id": "abc"}, {"name", "parent_id"}),
}
EMPTY_STRINGS = {
    "wechat-login": ({"code": ""}, {"code"}),
    "password-login": ({"username": "", "password": ""}, {"username", "password"}),
    "orgs": ({"name": "", "kind": "", "parent_id": None}, {"name", "kind"}),
}
# A lone surrogate escaped in JSON ("\\ud83d": an emoji cut in half) loads as text that no UTF-8
# database or answer can hold: refused per field like a NUL.
HALF_EMOJI = {
    "wechat-login": ('{"code": "test:\\ud83d"}', {"code"}),
    "password-login": ('{"username": "t_a", "password": "x\\udfff"}', {"password"}),
    "orgs": ('{"name": "\\ud83d学校", "kind": "school", "parent_id": 1}', {"name"}),
}
NULLS = {
    "wechat-login": ({"code": None}, {"code"}),
    "password-login": ({"username": None, "password": None}, {"username", "password"}),
    "orgs": ({"name": None, "kind": None}, {"name", "kind"}),
}

# case → how to send it, expected status, expected code ("fields" = the endpoint's required fields)
CASES = {
    "no body": ({}, 422, "validation_error", "fields"),
    "garbled json": ({"data": "{not json", "content_type": "application/json"}, 400, "invalid_json", None),
    "truncated json": ({"data": '{"code": "x"', "content_type": "application/json"}, 400, "invalid_json", None),
    "json array": ({"json": [{"code": "test:a"}]}, 422, "validation_error", {"_schema"}),
    "json string": ({"json": "hello"}, 422, "validation_error", {"_schema"}),
    "json nested 5000 deep": ({"data": "[" * 5000 + "]" * 5000, "content_type": "application/json"}, 400,
                              "invalid_json", None),
    "json number of 5000 digits": ({"data": '{"code": ' + "9" * 5000 + "}", "content_type": "application/json"},
                                   400, "invalid_json", None),
    "json null": ({"data": "null", "content_type": "application/json"}, 422, "validation_error", None),
    # A body of another type is refused, not read as no body (a submit's answers would be lost).
    "form encoded": ({"data": "code=x&username=a&password=b&name=ab&kind=region",
                      "content_type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type", None),
    "json sent as text/plain": ({"data": '{"code": "test:a", "username": "t_a", "password": "x"}',
                                 "content_type": "text/plain;charset=UTF-8"}, 415, "unsupported_media_type", None),
    "wrong types": (WRONG_TYPES, 422, "validation_error", None),
    "empty strings": (EMPTY_STRINGS, 422, "validation_error", None),
    "nulls": (NULLS, 422, "validation_error", None),
    "half an emoji": (HALF_EMOJI, 422, "validation_error", None),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_bad_input_gets_the_error_shape(request, app, api, endpoint, case):
    """Every kind of broken body is a 4xx in the one JSON shape with a Chinese message — never
    a 500, never HTML; validation failures name each broken field in Chinese, so the
    mini-program can show the message next to the right input."""
    path, who, required = ENDPOINTS[endpoint]
    if who:
        api = api.as_(getattr(request.getfixturevalue("world"), who))
    send, status, code, fields = CASES[case]
    if send in (WRONG_TYPES, EMPTY_STRINGS, NULLS):
        body, fields = send[endpoint]
        send = {"json": body}
    elif send is HALF_EMOJI:
        body, fields = send[endpoint]
        send = {"data": body, "content_type": "application/json"}
    if fields == "fields":
        fields = required

    response = api.post(path, **send)
    text = response.get_data(as_text=True)
    assert "<html" not in text.lower()
    body = assert_error(response, status, code)
    assert set(body) <= {"code", "message", "errors"}
    if status == 422:
        errors = body["errors"]
        assert errors and isinstance(errors, dict)
        for field, messages in errors.items():
            assert messages and all(isinstance(m, str) and CJK.search(m) for m in messages), (field, messages)
        if fields:
            assert fields <= set(errors), errors
    else:
        assert "errors" not in body


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/orgs", {"name": "新学校", "kind": "school", "parent_id": 2**31}, None),  # beyond PG integer
        ("POST", "/orgs", {"name": "新学校", "kind": "school", "parent_id": 2**63}, None),  # beyond SQLite's
        ("POST", "/orgs", {"name": "新学校", "kind": "school", "parent_id": 10**30}, None),
        ("GET", f"/orgs/{2**63}", None, None),
        ("GET", "/orgs/{city}/children?page=" + str(10**20), None, None),
        ("POST", "/auth/password-login", {"username": "t_a\x00", "password": "x"}, "username"),
        ("POST", "/auth/wechat-login", {"code": "test:a\x00"}, "code"),
    ],
    ids=["int32+1", "int64+1", "huge", "path-int64+1", "huge-page", "nul-username", "nul-code"],
)
def test_values_the_database_cannot_hold_are_4xx(world, api, method, path, body, field):
    """Numbers beyond the database's integer range and NUL characters are bad input, not a
    server fault: a 4xx in the error shape on SQLite and PostgreSQL alike (they fail differently)."""
    path = path.format(city=world.city.id)
    response = api.as_(world.admin).request(method, path, **({"json": body} if body is not None else {}))
    assert 400 <= response.status_code < 500, (response.status_code, response.get_data(as_text=True))
    body = assert_error(response, response.status_code)
    if field:
        assert response.status_code == 422 and field in body["errors"], body


def test_missing_field_message_is_chinese_and_per_field(app, api):
    """The example from the contract: a login without `code` names `code` and says it is required."""
    body = assert_error(api.post("/auth/wechat-login", json={}), 422, "validation_error")
    assert body["errors"] == {"code": ["此项必填"]}
    body = assert_error(api.post("/auth/password-login", json={"username": "t_a"}), 422, "validation_error")
    assert set(body["errors"]) == {"password"}


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/api/v1/nope", 404, "not_found"),
        ("POST", "/api/v1/nope", 404, "not_found"),
        ("GET", "/nope", 404, "not_found"),
        ("GET", "/api/v1/orgs/not-a-number", 404, "not_found"),
        ("DELETE", "/api/v1/health", 405, "method_not_allowed"),
        ("GET", "/api/v1/auth/wechat-login", 405, "method_not_allowed"),
        ("PUT", "/api/v1/me", 405, "method_not_allowed"),
    ],
)
def test_routing_errors_are_json(client, method, path, status, code):
    """Unknown paths and wrong methods answer in the error shape, not Werkzeug's HTML page;
    a 405 says which methods would work."""
    response = client.open(path, method=method)
    assert "<html" not in response.get_data(as_text=True).lower()
    assert_error(response, status, code)
    if status == 405:
        assert "Allow" in response.headers and response.headers["Allow"]


def test_health_needs_no_database(standin, tmp_path, caplog):
    """Liveness must stay green while the database is down (load balancers restart instances
    on it), and building the app must not connect. A route that does need the database
    fails in the error shape: a Chinese 5xx, no stack trace, but logged for engineers."""
    app = make_app(standin, tmp_path, SQLALCHEMY_DATABASE_URI="postgresql+psycopg://x@127.0.0.1:1/x")
    client = app.test_client()
    response = client.get(API + "/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}

    with app.app_context():
        token = create_access_token(identity="1")
    caplog.set_level(logging.ERROR)
    broken = Api(client, token).get("/me")
    assert 500 <= broken.status_code < 600
    body = assert_error(broken, broken.status_code)
    assert set(body) <= {"code", "message"}
    assert "psycopg" not in broken.get_data(as_text=True).lower()
    assert any(record.exc_info for record in caplog.records), "the failure must be logged with its traceback"
    with app.app_context():
        db.engine.dispose()


# --- OpenAPI and the docs UI ---------------------------------------------------------------

UNDOCUMENTED = {"/api/v1/openapi.json", "/api/v1/docs"}
OPERATION_KEYS = {"tags", "summary", "description", "externalDocs", "operationId", "parameters", "requestBody",
                  "responses", "callbacks", "deprecated", "security", "servers"}
PATH_ITEM_KEYS = {"$ref", "summary", "description", "servers", "parameters",
                  "get", "put", "post", "delete", "options", "head", "patch", "trace"}


def openapi_path(rule: str) -> str:
    """Flask's `/orgs/<int:org_id>` is OpenAPI's `/orgs/{org_id}`."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def test_every_api_route_is_documented(app, client):
    """Every /api/v1 route of the app is in the OpenAPI document with a summary and its error
    answers; the document is valid OpenAPI at the operation level (no stray keys) and leaves
    out the docs UI's own files."""
    response = client.get(API + "/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]

    routes = [rule for rule in app.url_map.iter_rules()
              if rule.rule.startswith(API + "/") and rule.rule not in UNDOCUMENTED
              and not rule.rule.startswith(API + "/docs/")]
    assert len(routes) >= 15, "the app's routes were not found; this test would check nothing"
    for rule in routes:
        path = openapi_path(rule.rule)
        assert path in paths, f"{rule.rule} is missing from openapi.json"
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            operation = paths[path].get(method.lower())
            assert operation, f"{method} {path} is missing from openapi.json"
            assert operation.get("summary"), f"{method} {path} has no summary"
            if path != API + "/health":
                assert any(re.fullmatch(r"4\d\d", status) for status in operation["responses"]), \
                    f"{method} {path} documents no 4xx answer"

    assert not any(path.startswith(API + "/docs") for path in paths), "the docs UI's files are not API"
    for path, item in paths.items():
        assert set(item) <= PATH_ITEM_KEYS, (path, set(item) - PATH_ITEM_KEYS)
        for method, operation in item.items():
            if method in PATH_ITEM_KEYS - {"$ref", "summary", "description", "servers", "parameters"}:
                stray = {key for key in operation if key not in OPERATION_KEYS and not key.startswith("x-")}
                assert not stray, (method, path, stray)


def test_docs_ui_is_served_locally(client):
    """The docs page loads Swagger UI from our own /api/v1/docs/assets/ (no CDN: schools'
    networks often block them) and points it at our openapi.json."""
    page = client.get(API + "/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    scripts = re.findall(r'<script[^>]+src="([^"]+)"', html)
    assert API + "/docs/assets/swagger-ui-bundle.js" in scripts
    assert all(src.startswith(API + "/docs/assets/") for src in scripts), scripts
    assert API + "/openapi.json" in html

    bundle = client.get(API + "/docs/assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    assert bundle.mimetype in ("text/javascript", "application/javascript")
    assert b"SwaggerUIBundle" in bundle.data
    missing = client.get(API + "/docs/assets/no-such-file.js")
    assert_error(missing, 404, "not_found")


@pytest.mark.parametrize("query", [{"status": "act\x00ive"}, {"page": "1", "status": "\x00"}])
def test_nul_in_a_query_string_is_422(api, world, query):
    """Query strings pass through the same schemas as bodies: a NUL is refused there (PostgreSQL
    cannot store or compare it), on every database alike."""
    body = assert_error(api.as_(world.s_a1).get("/campaigns", query_string=query), 422)
    assert "status" in body["errors"]
