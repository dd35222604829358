from flask import current_app
from flask.views import MethodView
from flask_jwt_extended import jwt_required

from app.api import Blueprint
from app.auth import services
from app.auth.current import current_user
from app.auth.decorators import login_required
from app.auth.schemas import (
    AccessTokenSchema,
    MeSchema,
    PasswordLoginSchema,
    TokensSchema,
    WeChatLoginSchema,
)
from app.extensions import limiter

blp = Blueprint("auth", __name__, url_prefix="/api/v1", description="登录与当前用户")


def _auth_limit():
    return current_app.config["AUTH_RATE_LIMIT"]


@blp.route("/auth/wechat-login")
class WeChatLogin(MethodView):
    decorators = [limiter.limit(_auth_limit)]

    @blp.arguments(WeChatLoginSchema)
    @blp.response(200, TokensSchema)
    @blp.alt_response(401, description="wechat_code_invalid: the code is invalid or was used")
    @blp.alt_response(422, description="validation_error")
    @blp.alt_response(429, description="too_many_requests")
    @blp.alt_response(503, description="wechat_unavailable: WeChat busy or unreachable")
    def post(self, body):
        """Log in with the code from wx.login(); the first login creates the account"""
        return services.wechat_login(body["code"])


@blp.route("/auth/password-login")
class PasswordLogin(MethodView):
    decorators = [limiter.limit(_auth_limit)]

    @blp.arguments(PasswordLoginSchema)
    @blp.response(200, TokensSchema)
    @blp.alt_response(401, description="invalid_credentials")
    @blp.alt_response(422, description="validation_error")
    @blp.alt_response(429, description="account_locked after repeated failures, or too_many_requests")
    def post(self, body):
        """Staff login with username and password"""
        return services.password_login(body["username"], body["password"])


@blp.route("/auth/refresh")
class Refresh(MethodView):
    @jwt_required(refresh=True)
    @blp.doc(security=[{"bearerAuth": []}])
    @blp.response(200, AccessTokenSchema)
    @blp.alt_response(401, description="refresh_token_expired, token_invalid or unauthorized")
    def post(self):
        """Trade the refresh token (as the bearer token) for a new access token"""
        return services.access_token_for(current_user)


@blp.route("/me")
class Me(MethodView):
    @login_required
    @blp.response(200, MeSchema)
    @blp.alt_response(401, description="unauthorized, token_expired or token_invalid")
    def get(self):
        """The logged-in user: memberships and, for parents, children"""
        return services.profile(current_user)
