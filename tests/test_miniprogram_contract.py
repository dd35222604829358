"""Every API call the mini-program makes exists in the server's OpenAPI document.

The calls are read from `miniprogram/api/*.js`, where each one is written with a literal path:
`get(`/pledges/${pledgeId}`)`, `post('/family/links', …)`, `upload('/uploads/direct', …)`,
`send('POST', '/auth/refresh', …)` or `${config.API_BASE_URL}/certificates/${serial}/image`.
`${…}` becomes a path parameter and is compared position-wise with the document's `{name}`.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

API_DIR = Path(__file__).resolve().parent.parent / "miniprogram" / "api"
PREFIX = "/api/v1"

HELPERS = {"get": "GET", "post": "POST", "put": "PUT", "patch": "PATCH", "del": "DELETE",
           "upload": "POST", "download": "GET"}
HELPER_CALL = re.compile(r"\b(get|post|put|patch|del|upload|download)\(\s*(['`])(/[^'`]*)\2")
SEND_CALL = re.compile(r"\bsend\(\s*'(GET|POST|PUT|PATCH|DELETE)',\s*(['`])(/[^'`]*)\2")
BASE_URL = re.compile(r"\$\{config\.API_BASE_URL\}(/[^`]*)`")
PARAM = re.compile(r"\$\{[^}]*\}")
DOC_PARAM = re.compile(r"^\{[^}]+\}$")


def normalise(path: str) -> str:
    return PARAM.sub("{param}", path.split("?")[0])


def extract_calls(api_dir: Path = API_DIR) -> set[tuple[str, str, str]]:
    """(method, normalised path, file) for every call written in api/*.js."""
    calls = set()
    for file in sorted(api_dir.glob("*.js")):
        text = file.read_text(encoding="utf-8")
        for helper, _, path in HELPER_CALL.findall(text):
            calls.add((HELPERS[helper], normalise(path), file.name))
        for method, _, path in SEND_CALL.findall(text):
            calls.add((method, normalise(path), file.name))
        for path in BASE_URL.findall(text):
            calls.add(("GET", normalise(path), file.name))
    return calls


def segments_match(client_path: str, doc_path: str) -> bool:
    mine, theirs = client_path.strip("/").split("/"), doc_path.strip("/").split("/")
    if len(mine) != len(theirs):
        return False
    for a, b in zip(mine, theirs, strict=True):
        if a == "{param}" or DOC_PARAM.match(b):
            if not (a == "{param}" and DOC_PARAM.match(b)):
                return False
        elif a != b:
            return False
    return True


def find(method: str, path: str, document: dict) -> str | None:
    for doc_path, operations in document["paths"].items():
        if not doc_path.startswith(PREFIX):
            continue
        if method.lower() in operations and segments_match(path, doc_path[len(PREFIX):]):
            return doc_path
    return None


@pytest.fixture
def document(client):
    response = client.get(f"{PREFIX}/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_calls_are_found():
    calls = {(m, p) for m, p, _ in extract_calls()}
    # the extraction itself works: a sample of calls from every api module
    for expected in [
        ("POST", "/auth/wechat-login"), ("POST", "/auth/refresh"), ("GET", "/me"),
        ("GET", "/invites/{param}"), ("POST", "/invites/{param}/accept"),
        ("GET", "/me/family-code"), ("POST", "/family/links"),
        ("GET", "/campaigns"), ("GET", "/campaigns/{param}/pledges"),
        ("POST", "/uploads/direct"), ("PUT", "/uploads/{param}/chunks/{param}"),
        ("POST", "/pledges/{param}/signatures"), ("GET", "/certificates/{param}"),
        ("GET", "/certificates/{param}/image"),
        ("POST", "/quizzes/{param}/attempts"), ("PUT", "/attempts/{param}/answers/{param}"),
        ("POST", "/attempts/{param}/submit"), ("GET", "/quizzes/{param}/leaderboard"),
    ]:
        assert expected in calls, f"{expected} not found in miniprogram/api/*.js"


def test_every_call_exists_in_the_openapi_document(document):
    missing = sorted(f"{m} {p}  ({file})" for m, p, file in extract_calls() if not find(m, p, document))
    assert not missing, "the mini-program calls paths the server does not have:\n" + "\n".join(missing)


def test_matching_is_strict(document):
    assert find("POST", "/pledges/{param}/signatures", document)
    assert not find("GET", "/pledges/{param}/signatures", document)  # wrong method
    assert not find("POST", "/pledges/{param}/signature", document)  # wrong name
    assert not find("GET", "/pledges/stats/{param}", document)  # parameter in the wrong place
    assert not find("GET", "/pledges/{param}", {"paths": {f"{PREFIX}/pledges/mine": {"get": {}}}})
