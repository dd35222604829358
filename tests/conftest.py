"""Fixtures: a fresh database per test, the WeChat stand-in on a loopback port, and a small
org tree with people in it.

`TEST_DATABASE_URL` selects PostgreSQL (CI runs the suite on both); without it each test
gets its own SQLite file. `REDIS_URL` makes rate limits and the WeChat token cache use Redis.
"""
from __future__ import annotations

import itertools
import os
import uuid
from types import SimpleNamespace

import pytest
from flask_jwt_extended import create_access_token
from sqlalchemy import text

from app import create_app
from app.auth.models import User
from app.auth.services import hash_password
from app.extensions import db, limiter
from app.orgs.models import Membership
from app.orgs.services import add_org
from app.wechat.standin import StandInServer

API = "/api/v1"
PASSWORD = "correct-horse-42"
_nonce = itertools.count(1)


@pytest.fixture(scope="session")
def standin():
    server = StandInServer().start()
    yield server
    server.stop()


def make_app(standin, tmp_path, **overrides):
    url = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'test.db'}"
    settings = {
        "APP_ENV": "testing",
        "SQLALCHEMY_DATABASE_URI": url,
        "WECHAT_API_BASE_URL": standin.base_url,
        "STORAGE_URL": f"file://{tmp_path / 'storage'}",
        "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}",
    }
    settings.update(overrides)
    app = create_app(settings)
    # Flask-Limiter keeps the first app's RATELIMIT_KEY_PREFIX for every later app of the process
    # (the prefix above still keys the shared caches): with Redis, tests would share rate-limit
    # counters, and user ids repeat across fresh databases. Each app starts with none.
    limiter.reset()
    return app


def reset_database() -> None:
    db.drop_all()
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    db.create_all()


@pytest.fixture
def fresh_app(standin, tmp_path):
    """Build apps with extra settings (each with an empty schema) and dispose of their engines."""
    made = []

    def build(server=None, **overrides):
        app = make_app(server or standin, tmp_path, **overrides)
        with app.app_context():
            reset_database()
        made.append(app)
        return app

    yield build
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
            if app.extensions.get("writer_engine") is not None:
                app.extensions["writer_engine"].dispose()


@pytest.fixture
def app(fresh_app):
    return fresh_app()


@pytest.fixture
def client(app):
    return app.test_client()


class Api:
    """The test client speaking to `/api/v1` as one person (or nobody)."""

    def __init__(self, client, token: str | None = None):
        self.client = client
        self.token = token

    def as_(self, who) -> Api:
        token = who if isinstance(who, str) else who.token
        return Api(self.client, token)

    def _headers(self, headers=None):
        merged = dict(headers or {})
        if self.token and "Authorization" not in merged:
            merged["Authorization"] = f"Bearer {self.token}"
        return merged

    def request(self, method: str, path: str, headers=None, **kwargs):
        return self.client.open(API + path, method=method, headers=self._headers(headers), **kwargs)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)

    def put(self, path, **kwargs):
        return self.request("PUT", path, **kwargs)

    def patch(self, path, **kwargs):
        return self.request("PATCH", path, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)


@pytest.fixture
def api(client):
    return Api(client)


def wechat_code(label: str) -> str:
    """A fresh stand-in login code for the person `label` (openid `test_<label>`)."""
    return f"test:{label}:{next(_nonce)}"


def wechat_login(api: Api, label: str) -> dict:
    response = api.post("/auth/wechat-login", json={"code": wechat_code(label)})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The one error shape: JSON with a machine `code` and a Chinese `message`."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:500])
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert isinstance(body.get("code"), str) and body["code"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body.get("message", "")), body
    if code is not None:
        assert body["code"] == code, body
    assert "Traceback" not in response.get_data(as_text=True)
    return body


class Person(SimpleNamespace):
    """A user of the test world with a ready access token."""


def _person(username: str | None = None, openid: str | None = None, real_name: str | None = None,
            admin: bool = False) -> Person:
    user = User(username=username, openid=openid, real_name=real_name, is_platform_admin=admin,
                password_hash=hash_password(PASSWORD) if username else None)
    db.session.add(user)
    db.session.flush()
    return Person(id=user.id, user=user, username=username, openid=openid, real_name=real_name)


@pytest.fixture
def world(app):
    """city → district → school A (classes A1, A2) and school B (class B1), with people.

    Staff: admin (platform), city_admin (region_admin @ city), sa_a / sa_b (school_admin),
    t_a (teacher @ school A), t_a1 (teacher @ class A1), t_b (teacher @ school B).
    Participants: s_a1 (student in A1), s_b1 (student in B1), p_a1 (parent of nobody yet).
    """
    with app.app_context():
        w = SimpleNamespace()
        w.city = add_org("测试市", "region", None)
        w.district = add_org("测试区", "region", w.city)
        w.school_a = add_org("第一小学", "school", w.district)
        w.class_a1 = add_org("一年级一班", "class", w.school_a)
        w.class_a2 = add_org("一年级二班", "class", w.school_a)
        w.school_b = add_org("第二小学", "school", w.district)
        w.class_b1 = add_org("二年级一班", "class", w.school_b)

        people = {
            "admin": (_person("admin", admin=True, real_name="平台管理员"), None, None),
            "city_admin": (_person("city_admin", real_name="市管理员"), w.city, "region_admin"),
            "sa_a": (_person("sa_a", real_name="甲校管理员"), w.school_a, "school_admin"),
            "sa_b": (_person("sa_b", real_name="乙校管理员"), w.school_b, "school_admin"),
            "t_a": (_person("t_a", real_name="王老师"), w.school_a, "teacher"),
            "t_a1": (_person("t_a1", real_name="李老师"), w.class_a1, "teacher"),
            "t_b": (_person("t_b", real_name="赵老师"), w.school_b, "teacher"),
            "s_a1": (_person(openid="test_s_a1", real_name="张小三"), w.class_a1, "student"),
            "s_b1": (_person(openid="test_s_b1", real_name="刘小四"), w.class_b1, "student"),
            "p_a1": (_person(openid="test_p_a1"), None, None),
        }
        for name, (person, org, role) in people.items():
            if org is not None:
                db.session.add(Membership(user_id=person.id, org_id=org.id, role=role))
            setattr(w, name, person)
        db.session.commit()
        for person, _where, _role in people.values():
            person.token = create_access_token(identity=str(person.id))
            del person.user
        for key in ("city", "district", "school_a", "class_a1", "class_a2", "school_b", "class_b1"):
            org = getattr(w, key)
            setattr(w, key, SimpleNamespace(id=org.id, name=org.name, kind=org.kind, path=org.path))
    return w
