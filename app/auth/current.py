"""The signed-in person of this request, loaded only when a view needs the row.

The access token names the user (`sub`); most checks need only that id, so hot paths (signing,
autosave, submit) read `current_user_id()` and never touch the users table. `current_user` loads
the row on first use and remembers it for the request; a token naming a deleted account is then
a 401 `token_invalid`.

Known and accepted: an endpoint that never loads the row (the id-only hot paths, the question
template download, an invite preview) still answers a deleted account's access token until it
expires (JWT_ACCESS_TOKEN_EXPIRES). What such a token can reach by id belonged to the account
and went with it (memberships, attempts, signatures cascade), so it finds nothing: 404, no data.
"""
from __future__ import annotations

from flask import g
from flask_jwt_extended import get_jwt_identity
from werkzeug.local import LocalProxy

from app.auth.models import User
from app.errors import ApiError
from app.extensions import db


class TokenUserGone(ApiError):
    status, code, message = 401, "token_invalid", "登录状态已失效，请重新登录"


def current_user_id() -> int:
    """The id in the verified access token (call after `login_required` / `verify_jwt_in_request`)."""
    try:
        return int(get_jwt_identity())
    except (TypeError, ValueError):
        raise TokenUserGone() from None


def load_current_user() -> User:
    user = g.get("_current_user")
    if user is None:
        user = db.session.get(User, current_user_id())
        if user is None:
            raise TokenUserGone()
        g._current_user = user
    return user


current_user: User = LocalProxy(load_current_user)  # type: ignore[assignment]
