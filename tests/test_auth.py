"""Authentication through the HTTP API: WeChat login against the stand-in (real HTTP through
wechatpy), tokens, staff passwords with lockout and per-IP limits, the create-admin command,
and the production settings guard."""
from __future__ import annotations

import logging
import re
import socket
import time
import uuid
from datetime import timedelta

import pytest
from flask_jwt_extended import create_access_token
from sqlalchemy import func, select

from app import create_app
from app.auth.models import User
from app.common.time import utcnow
from app.extensions import db
from app.wechat.standin import StandInServer
from config import INSECURE_SECRET
from tests.conftest import PASSWORD, Api, assert_error, wechat_code, wechat_login


def unique_label() -> str:
    """The stand-in remembers used codes for the whole session: labels must never repeat."""
    return f"u{uuid.uuid4().hex[:10]}"


def user_count(app, openid: str | None = None) -> int:
    with app.app_context():
        query = select(func.count(User.id))
        if openid is not None:
            query = query.where(User.openid == openid)
        return db.session.scalar(query)


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- WeChat login -------------------------------------------------------------------------


def test_wechat_login_creates_user_once_and_recognises_them_again(app, api):
    """First login creates the account; a later wx.login code of the same person (same openid)
    must land on the same user, not a duplicate; another person gets another account."""
    label = unique_label()
    first = wechat_login(api, label)
    assert set(first) >= {"access_token", "refresh_token", "user"}
    assert first["user"]["memberships"] == [] and first["user"]["children"] == []
    second = wechat_login(api, label)
    assert second["user"]["id"] == first["user"]["id"]
    assert user_count(app, f"test_{label}") == 1

    other = wechat_login(api, unique_label())
    assert other["user"]["id"] != first["user"]["id"]
    me = api.as_(second["access_token"]).get("/me")
    assert me.status_code == 200 and me.get_json()["id"] == first["user"]["id"]


def test_wechat_code_without_nonce_works_once_and_replay_is_refused(app, api):
    """`test:<label>` is a valid code once; WeChat answers a reused code with 40163, which the
    client must see as 401 wechat_code_invalid (a replayed wx.login code is no login)."""
    label = unique_label()
    code = f"test:{label}"
    ok = api.post("/auth/wechat-login", json={"code": code})
    assert ok.status_code == 200, ok.get_json()
    replay = api.post("/auth/wechat-login", json={"code": code})
    assert_error(replay, 401, "wechat_code_invalid")
    assert "access_token" not in replay.get_json()
    assert user_count(app, f"test_{label}") == 1


@pytest.mark.parametrize(
    ("code", "status", "error_code"),
    [
        ("invalid", 401, "wechat_code_invalid"),  # errcode 40029
        ("test:", 401, "wechat_code_invalid"),  # malformed code → 40029
        ("busy", 503, "wechat_unavailable"),  # errcode -1
        ("limited", 503, "wechat_unavailable"),  # errcode 45011
    ],
)
def test_wechat_errors_map_to_clear_answers(app, api, code, status, error_code):
    """WeChat's errcodes become the documented answers, and no account is created on failure."""
    before = user_count(app)
    assert_error(api.post("/auth/wechat-login", json={"code": code}), status, error_code)
    assert user_count(app) == before


def test_wechat_timeout_is_unavailable_not_a_hang(fresh_app):
    """The stand-in sleeps 10 s on `slow`; with a 0.5 s timeout the login must give up quickly
    with 503 instead of tying up a worker."""
    app = fresh_app(WECHAT_TIMEOUT_S=0.5)
    started = time.monotonic()
    response = Api(app.test_client()).post("/auth/wechat-login", json={"code": "slow"})
    elapsed = time.monotonic() - started
    assert_error(response, 503, "wechat_unavailable")
    assert elapsed < 3, elapsed


def test_wechat_unreachable_is_unavailable(fresh_app):
    """Connection refused (WeChat down, proxy misconfigured) is 503, never a 500."""
    app = fresh_app(WECHAT_API_BASE_URL=f"http://127.0.0.1:{closed_port()}/")
    response = Api(app.test_client()).post("/auth/wechat-login", json={"code": wechat_code("nobody")})
    assert_error(response, 503, "wechat_unavailable")


@pytest.fixture
def recording_standin():
    """A private stand-in that remembers every session_key it hands out, so tests can look
    for those exact values in responses and logs (wechatpy itself is untouched)."""
    server = StandInServer()
    issued: list[str] = []

    @server.app.after_request
    def remember(response):
        body = response.get_json(silent=True) if response.is_json else None
        if isinstance(body, dict) and body.get("session_key"):
            issued.append(body["session_key"])
        return response

    server.issued = issued
    server.start()
    yield server
    server.stop()


def test_session_key_and_secret_never_leave_the_server(fresh_app, recording_standin, caplog):
    """DESIGN: the session_key and the app secret are never returned or logged — on success
    nor on WeChat errors. Logs are captured at DEBUG from every logger that would emit."""
    caplog.set_level(logging.DEBUG)
    app = fresh_app(recording_standin)
    api = Api(app.test_client())
    codes = [wechat_code(unique_label()) for _ in range(2)]
    bodies = []
    for code in codes:
        response = api.post("/auth/wechat-login", json={"code": code})
        assert response.status_code == 200
        bodies.append(response.get_data(as_text=True))
    replay = api.post("/auth/wechat-login", json={"code": codes[0]})
    assert replay.status_code == 401
    bodies.append(replay.get_data(as_text=True))
    for code in ("busy", "invalid"):
        bodies.append(api.post("/auth/wechat-login", json={"code": code}).get_data(as_text=True))

    assert len(recording_standin.issued) == 2
    # A session_key looks like this, so the checks below are looking for the right thing.
    assert all(re.fullmatch(r"[0-9a-f]{24}", key) for key in recording_standin.issued)
    assert caplog.records, "nothing was captured, so this test would prove nothing"
    secret = app.config["WECHAT_SECRET"]
    for text in [*bodies, caplog.text]:
        assert "session_key" not in text
        assert secret not in text
        for key in recording_standin.issued:
            assert key not in text
        for code in codes:
            assert code not in text


# --- tokens -------------------------------------------------------------------------------


def tamper(token: str) -> str:
    """Change one character in the middle of the signature (the last one may only touch padding bits)."""
    head, payload, signature = token.split(".")
    middle = len(signature) // 2
    replacement = "A" if signature[middle] != "A" else "B"
    return ".".join((head, payload, signature[:middle] + replacement + signature[middle + 1:]))


def test_access_and_refresh_tokens(app, api):
    """The access token opens /me; the refresh token (and only it) buys a new access token that
    works for the same user; neither token can stand in for the other."""
    tokens = wechat_login(api, unique_label())
    user_id = tokens["user"]["id"]
    me = api.as_(tokens["access_token"]).get("/me")
    assert me.status_code == 200 and me.get_json()["id"] == user_id

    refreshed = api.as_(tokens["refresh_token"]).post("/auth/refresh")
    assert refreshed.status_code == 200, refreshed.get_json()
    body = refreshed.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    again = api.as_(body["access_token"]).get("/me")
    assert again.status_code == 200 and again.get_json()["id"] == user_id

    assert_error(api.as_(tokens["access_token"]).post("/auth/refresh"), 401)
    assert_error(api.as_(tokens["refresh_token"]).get("/me"), 401)


def test_token_problems_are_401_with_distinct_codes(app, api):
    """A forged signature, an expired token, garbage and a missing header are all refused, with
    codes the client can act on (expired → refresh; invalid → log in again)."""
    tokens = wechat_login(api, unique_label())
    assert_error(api.as_(tamper(tokens["access_token"])).get("/me"), 401, "token_invalid")
    assert_error(api.as_(tamper(tokens["refresh_token"])).post("/auth/refresh"), 401, "token_invalid")

    with app.app_context():
        expired = create_access_token(identity=str(tokens["user"]["id"]), expires_delta=timedelta(seconds=-1))
    assert_error(api.as_(expired).get("/me"), 401, "token_expired")

    assert_error(api.get("/me"), 401, "unauthorized")
    assert_error(api.post("/auth/refresh"), 401, "unauthorized")


@pytest.mark.parametrize("header", ["Bearer abc", "Bearer a.b.c", "Bearer ", "Basic dXNlcjpwdw==", "abc"])
def test_garbage_authorization_header_is_401(app, api, header):
    """Whatever junk arrives in the Authorization header, the answer is a clean 401."""
    assert_error(api.get("/me", headers={"Authorization": header}), 401)


def segment_forms(token: str) -> dict[str, str]:
    """Copies of `token` whose signature segment plain base64 decoding would still read as the
    same bytes (GHSA-hxm8-2xgr-2p9m): junk after it or inside it, and a last
    character whose unused bits are set. Only the signature segment: it is not signed over, so a
    lenient decoder would accept these; a changed header or payload fails the signature anyway."""
    head, payload, signature = token.split(".")
    last = signature[-1]
    sibling = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    unused_bits = sibling[sibling.index(last) ^ 1]  # the same 4 decoded bits, one unused bit set
    return {
        "junk": f"{head}.{payload}.{signature}!!!!",
        "junk_inside": f"{head}.{payload}.{signature[:8]}!*!*{signature[8:]}",
        "unused_bits": f"{head}.{payload}.{signature[:-1]}{unused_bits}",
    }


@pytest.mark.parametrize("form", list(segment_forms("a.b.c")))
def test_malformed_token_segments_are_refused(app, api, form):
    """Tokens whose segments decode only leniently are refused with token_invalid, both when the
    token is new and when the well-formed original was verified (and remembered) before."""
    tokens = wechat_login(api, unique_label())
    assert api.as_(tokens["access_token"]).get("/me").status_code == 200
    with app.app_context():
        fresh = create_access_token(identity=str(tokens["user"]["id"]))
    for token in (segment_forms(tokens["access_token"])[form], segment_forms(fresh)[form]):
        assert_error(api.as_(token).get("/me"), 401, "token_invalid")
    assert api.as_(fresh).get("/me").status_code == 200


def test_segment_decoding_answers_as_pyjwt_does(app):
    """app/auth/tokens.py decodes token segments with its own C-speed alphabet check; PyJWT's
    decoder (the class's, left alone) must give the same bytes or the same error on every form,
    so an upgrade of PyJWT that changes its rules fails here."""
    from jwt.api_jws import PyJWS
    from jwt.exceptions import DecodeError

    from app.auth.tokens import _decode_segment

    with app.app_context():
        token = create_access_token(identity="7")
    forms = [part for form in [token, *segment_forms(token).values()] for part in form.split(".")]
    forms.append(token.split(".")[2] + "=")  # PyJWT accepts a padded whole quantum (AWS ALB tokens)
    signature = token.split(".")[2]
    forms += [token.split(".")[1] + "A", token.split(".")[0][:-2] + "+/",  # impossible length, standard alphabet
              signature[:8] + "=" + signature[8:]]  # an inner '='
    forms += ["", "=", "==", "===", "QQ", "QQ=", "QQ==", "QQ===", "QR", "QUI", "QUJD", "Q", "QUJD=", "Q!Q=",
              "w7w", "_-_-", "+/+/", "QQ\n", "ｑｑ"]

    def outcome(decode, segment: str):
        try:
            return decode(segment.encode(), "crypto")
        except DecodeError as error:
            return str(error)

    for segment in forms:
        assert outcome(_decode_segment, segment) == outcome(PyJWS._decode_base64url_segment, segment), segment
    assert outcome(_decode_segment, token.split(".")[2]) != "Invalid crypto padding"  # valid ones decode


def test_a_token_accepted_before_is_refused_once_it_expires(app, api):
    """Verified tokens are remembered per worker (autosaves repeat them); the memory must not
    outlive the token's expiry, and a tampered copy of a remembered token is still refused."""
    tokens = wechat_login(api, unique_label())
    with app.app_context():
        short = create_access_token(identity=str(tokens["user"]["id"]), expires_delta=timedelta(seconds=2))
    for _ in range(2):  # the second use is answered from the remembered claims
        assert api.as_(short).get("/me").status_code == 200
    assert_error(api.as_(tamper(short)).get("/me"), 401, "token_invalid")
    time.sleep(2.1)
    assert_error(api.as_(short).get("/me"), 401, "token_expired")


def test_token_of_deleted_user_is_refused(app, api):
    """A still-valid signature must not outlive the account it names."""
    tokens = wechat_login(api, unique_label())
    with app.app_context():
        db.session.delete(db.session.get(User, tokens["user"]["id"]))
        db.session.commit()
    assert_error(api.as_(tokens["access_token"]).get("/me"), 401, "token_invalid")
    assert_error(api.as_(tokens["refresh_token"]).post("/auth/refresh"), 401, "token_invalid")


# --- staff passwords ----------------------------------------------------------------------


def password_login(api, username, password):
    return api.post("/auth/password-login", json={"username": username, "password": password})


@pytest.mark.parametrize("username", ["t_a", "T_A", " t_a "])
def test_password_login_returns_tokens_and_memberships(world, api, username):
    """Staff log in with their username in any case; the answer carries working tokens and
    the memberships the console needs; the password never comes back."""
    response = password_login(api, username, PASSWORD)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["user"]["id"] == world.t_a.id
    assert [(m["org_id"], m["role"]) for m in body["user"]["memberships"]] == [(world.school_a.id, "teacher")]
    assert PASSWORD not in response.get_data(as_text=True)
    me = api.as_(body["access_token"]).get("/me")
    assert me.status_code == 200 and me.get_json()["id"] == world.t_a.id
    assert api.as_(body["refresh_token"]).post("/auth/refresh").status_code == 200


def test_wrong_password_and_unknown_user_look_the_same(world, api):
    """Wrong password, unknown username and a WeChat-only account (no password) give the
    same answer, so the login form does not reveal which accounts exist."""
    wrong = assert_error(password_login(api, "t_a", PASSWORD + "x"), 401, "invalid_credentials")
    unknown = assert_error(password_login(api, "nobody_here", PASSWORD), 401, "invalid_credentials")
    assert wrong == unknown
    # p_a1 exists (openid only) but has no username: a password login cannot reach it.
    assert assert_error(password_login(api, "test_p_a1", PASSWORD), 401, "invalid_credentials") == wrong


def test_lockout_after_repeated_failures(app, world, api):
    """After LOGIN_MAX_FAILURES wrong passwords the account is locked (429 + Retry-After), even
    against the right password; once the lock has passed the right password works and the
    failure counter starts again from zero."""
    limit = app.config["LOGIN_MAX_FAILURES"]
    assert limit == 5
    for _ in range(limit - 1):
        assert_error(password_login(api, "t_a", "wrong-password"), 401, "invalid_credentials")
    locked = password_login(api, "t_a", "wrong-password")
    assert_error(locked, 429, "account_locked")
    assert 0 < int(locked.headers["Retry-After"]) <= app.config["LOGIN_LOCK_BASE_S"]

    still = password_login(api, "t_a", PASSWORD)
    assert_error(still, 429, "account_locked")
    assert int(still.headers["Retry-After"]) > 0
    # Other staff are not affected by t_a's lock.
    assert password_login(api, "t_b", PASSWORD).status_code == 200

    with app.app_context():
        user = db.session.get(User, world.t_a.id)
        user.locked_until = utcnow() - timedelta(seconds=1)
        db.session.commit()
    assert password_login(api, "t_a", PASSWORD).status_code == 200
    with app.app_context():
        user = db.session.get(User, world.t_a.id)
        assert user.failed_logins == 0 and user.locked_until is None
    # A fresh count: one new mistake is an ordinary 401, not another lock.
    assert_error(password_login(api, "t_a", "wrong-password"), 401, "invalid_credentials")


def test_login_rate_limit_per_ip(fresh_app, tmp_path):
    """The per-IP limit stops password guessing across many usernames: the 4th attempt in a
    minute is 429 too_many_requests (even with the right password); X-Forwarded-For does not
    buy a new budget when no proxy is trusted; another address is not affected."""
    app = fresh_app(AUTH_RATE_LIMIT="3 per minute")
    with app.app_context():
        from app.auth.services import create_staff_user

        create_staff_user("staffer", PASSWORD)
    api = Api(app.test_client())
    for name in ("guess1", "guess2", "guess3"):
        assert_error(password_login(api, name, "x" * 8), 401, "invalid_credentials")
    limited = password_login(api, "staffer", PASSWORD)
    assert_error(limited, 429, "too_many_requests")
    assert "access_token" not in limited.get_json()
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    spoofed = api.post("/auth/password-login", json={"username": "staffer", "password": PASSWORD},
                       headers={"X-Forwarded-For": "203.0.113.9"})
    assert_error(spoofed, 429, "too_many_requests")
    elsewhere = api.post("/auth/password-login", json={"username": "staffer", "password": PASSWORD},
                         environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert elsewhere.status_code == 200, elsewhere.get_json()


# --- flask users create-admin ---------------------------------------------------------------


def test_create_admin_command(app, api):
    """The CLI makes a platform admin who can log in and create a top-level region; bad input
    (duplicate name, short password) fails loudly and creates nothing."""
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create-admin", "Root", "--password", "long-enough-pw"])
    assert result.exit_code == 0, result.output
    assert "root" in result.output

    login = password_login(api, "root", "long-enough-pw")
    assert login.status_code == 200, login.get_json()
    assert login.get_json()["user"]["is_platform_admin"] is True
    created = api.as_(login.get_json()["access_token"]).post(
        "/orgs", json={"name": "新建省", "kind": "region", "parent_id": None}
    )
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["parent_id"] is None and created.get_json()["kind"] == "region"

    duplicate = runner.invoke(args=["users", "create-admin", "ROOT", "--password", "another-long-pw"])
    assert duplicate.exit_code != 0
    assert "already exists" in duplicate.output
    short = runner.invoke(args=["users", "create-admin", "shorty", "--password", "short"])
    assert short.exit_code != 0
    assert "8 characters" in short.output
    # Neither failure changed anything: the old password still works, "shorty" does not exist.
    assert password_login(api, "root", "long-enough-pw").status_code == 200
    assert_error(password_login(api, "shorty", "short"), 401, "invalid_credentials")
    with app.app_context():
        assert db.session.scalar(select(func.count(User.id)).where(User.is_platform_admin)) == 1


# --- production settings ------------------------------------------------------------------

GOOD_SECRET = "k" * 32  # the shortest secret production accepts


@pytest.fixture
def production_env(monkeypatch, tmp_path):
    """A complete production environment; each test breaks one thing."""
    for name in ("APP_ENV", "REDIS_URL", "WECHAT_API_BASE_URL", "STORAGE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SECRET_KEY", GOOD_SECRET)
    monkeypatch.setenv("WECHAT_APPID", "wx1234567890abcdef")
    monkeypatch.setenv("WECHAT_SECRET", "a-real-looking-wechat-secret")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'prod.db'}")
    monkeypatch.setenv("STORAGE_URL", f"file://{tmp_path / 'storage'}")
    monkeypatch.setenv("WECHAT_PUSH_TOKEN", "a-real-push-token")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://api.qinglang.example")
    return monkeypatch


def test_production_starts_with_real_settings(production_env):
    """The guard must not refuse a correctly configured production (else it is just broken)."""
    app = create_app("production")
    assert not app.testing
    assert app.config["SECRET_KEY"] == GOOD_SECRET
    assert app.config["WECHAT_APPID"] == "wx1234567890abcdef"
    with app.app_context():
        db.engine.dispose()


def test_production_needs_its_public_address_even_without_content_checks(production_env):
    """Certificate posters are public and cached: their QR code must not take the address from
    whatever Host header the first caller sent, so production always names its own."""
    production_env.setenv("CONTENT_SECURITY", "0")
    production_env.delenv("PUBLIC_BASE_URL")
    with pytest.raises(RuntimeError, match="PUBLIC_BASE_URL"):
        create_app("production")


@pytest.mark.parametrize(
    ("variable", "value", "mentioned"),
    [
        ("SECRET_KEY", None, "SECRET_KEY"),
        ("SECRET_KEY", "", "SECRET_KEY"),
        ("SECRET_KEY", INSECURE_SECRET, "SECRET_KEY"),
        ("SECRET_KEY", "k" * 31, "SECRET_KEY"),
        ("WECHAT_APPID", None, "WECHAT_APPID"),
        ("WECHAT_SECRET", None, "WECHAT_SECRET"),
        ("WECHAT_SECRET", "", "WECHAT_SECRET"),
        ("DATABASE_URL", None, "DATABASE_URL"),
        ("WECHAT_PUSH_TOKEN", None, "WECHAT_PUSH_TOKEN"),
        ("PUBLIC_BASE_URL", None, "PUBLIC_BASE_URL"),
    ],
)
def test_production_refuses_to_start_without_real_secrets(production_env, variable, value, mentioned):
    """Production never runs on the development secret, a guessable one, the stand-in's
    credentials or the development database; the error names what is wrong."""
    if value is None:
        production_env.delenv(variable)
    else:
        production_env.setenv(variable, value)
    with pytest.raises(RuntimeError, match=mentioned):
        create_app("production")

