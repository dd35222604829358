"""Token problems answered in the project's error shape."""
from app.errors import error_response
from app.extensions import jwt

# No user_lookup_loader: the row is loaded lazily by app.auth.current (hot paths need only the id).


@jwt.expired_token_loader
def expired(_header, payload):
    if payload.get("type") == "refresh":
        return error_response(401, "refresh_token_expired", "登录已过期，请重新登录")
    return error_response(401, "token_expired", "登录已过期，请刷新或重新登录")


@jwt.invalid_token_loader
def invalid(_reason):
    return error_response(401, "token_invalid", "登录凭证无效，请重新登录")


@jwt.unauthorized_loader
def missing(_reason):
    return error_response(401, "unauthorized", "请先登录")


@jwt.revoked_token_loader
def revoked(_header, _payload):
    return error_response(401, "token_invalid", "登录凭证已失效，请重新登录")


@jwt.needs_fresh_token_loader
def needs_fresh(_header, _payload):
    return error_response(401, "token_invalid", "请重新登录后再试")
