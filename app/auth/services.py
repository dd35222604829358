"""Login rules: WeChat code exchange, staff passwords with lockout, token issuing."""
from __future__ import annotations

import logging
import math
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app
from flask_jwt_extended import create_access_token, create_refresh_token
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.auth.models import User
from app.common.time import utcnow
from app.errors import ApiError
from app.extensions import db, wechat
from app.family.models import FamilyLink
from app.orgs.permissions import memberships_of

log = logging.getLogger(__name__)


class InvalidCredentials(ApiError):
    status, code, message = 401, "invalid_credentials", "用户名或密码不正确"


def password_hasher() -> PasswordHasher:
    return PasswordHasher(
        time_cost=current_app.config["ARGON2_TIME_COST"],
        memory_cost=current_app.config["ARGON2_MEMORY_COST"],
    )


def hash_password(password: str) -> str:
    return password_hasher().hash(password)


def _burn_time_like_a_verify(hasher: PasswordHasher, password: str) -> None:
    """Unknown usernames cost as much as wrong passwords, so timing does not reveal accounts."""
    try:
        hasher.verify(hasher.hash("qinglang-dummy"), password)
    except VerificationError:
        pass


def tokens_for(user: User) -> dict:
    identity = str(user.id)
    expires = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]
    return {
        "access_token": create_access_token(identity=identity),
        "refresh_token": create_refresh_token(identity=identity),
        "token_type": "Bearer",
        "expires_in": int(expires.total_seconds()),
        "user": profile(user),
    }


def access_token_for(user: User) -> dict:
    expires = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]
    return {
        "access_token": create_access_token(identity=str(user.id)),
        "token_type": "Bearer",
        "expires_in": int(expires.total_seconds()),
    }


def profile(user: User) -> dict:
    """What `GET /me` shows: memberships and, for parents, their children."""
    children = db.session.scalars(
        select(User).join(FamilyLink, FamilyLink.child_id == User.id).where(FamilyLink.parent_id == user.id)
        .order_by(FamilyLink.id)
    ).all()
    return {
        "id": user.id,
        "real_name": user.real_name,
        "username": user.username,
        "is_platform_admin": user.is_platform_admin,
        "memberships": memberships_of(user),
        "children": children,
    }


def wechat_login(code: str) -> dict:
    """Exchange the code for an openid; the first login creates the user."""
    identity = wechat.code_to_session(code)
    user = db.session.scalar(select(User).where(User.openid == identity.openid))
    if user is None:
        user = User(openid=identity.openid)
        db.session.add(user)
        try:
            db.session.flush()
        except IntegrityError:
            # Two first logins of one person at once: the other insert won.
            db.session.rollback()
            user = db.session.scalar(select(User).where(User.openid == identity.openid))
            if user is None:
                raise
    user.last_login_at = utcnow()
    db.session.commit()
    return tokens_for(user)


def password_login(username: str, password: str) -> dict:
    """Staff login. Repeated failures lock the account for a doubling while."""
    config = current_app.config
    hasher = password_hasher()
    user = db.session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None or not user.password_hash:
        _burn_time_like_a_verify(hasher, password)
        raise InvalidCredentials()

    now = utcnow()
    if user.locked_until and user.locked_until > now:
        raise _locked(user.locked_until - now)

    try:
        hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        user.failed_logins = User.failed_logins + 1  # in SQL: parallel guesses all count
        db.session.flush()
        db.session.refresh(user)
        over = user.failed_logins - config["LOGIN_MAX_FAILURES"]
        locked_for = None
        if over >= 0:
            seconds = min(config["LOGIN_LOCK_BASE_S"] * 2**over, config["LOGIN_LOCK_MAX_S"])
            locked_for = timedelta(seconds=seconds)
            user.locked_until = now + locked_for
        db.session.commit()
        log.info("password login failed user_id=%s failures=%s", user.id, user.failed_logins)
        if locked_for:
            raise _locked(locked_for) from None
        raise InvalidCredentials() from None

    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    db.session.commit()
    return tokens_for(user)


def _locked(remaining: timedelta) -> ApiError:
    seconds = max(1, math.ceil(remaining.total_seconds()))
    minutes = max(1, math.ceil(seconds / 60))
    return ApiError(
        "account_locked",
        f"密码错误次数过多，账号已暂时锁定，请 {minutes} 分钟后再试",
        status=429,
        headers={"Retry-After": str(seconds)},
    )


def create_staff_user(
    username: str, password: str, real_name: str | None = None, *, platform_admin: bool = False
) -> User:
    username = username.strip().lower()
    if not username or len(password) < 8:
        raise ValueError("username required and password must be at least 8 characters")
    if db.session.scalar(select(User).where(User.username == username)):
        raise ValueError(f"user {username!r} already exists")
    user = User(username=username, password_hash=hash_password(password), real_name=real_name,
                is_platform_admin=platform_admin)
    db.session.add(user)
    db.session.commit()
    return user
