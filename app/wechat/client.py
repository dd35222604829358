"""The app's door to WeChat, through wechatpy.

wechatpy hard-codes `https://api.weixin.qq.com/`; `WECHAT_API_BASE_URL` points the same
client at the stand-in (or a proxy). Every call has a timeout, and WeChat's error codes are
turned into `ApiError`s with Chinese messages. The `session_key` WeChat returns is dropped
here: it is neither stored, returned nor logged.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import requests
from wechatpy import WeChatClient
from wechatpy.client.api.base import BaseWeChatAPI
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.memorystorage import MemoryStorage

from app.errors import ApiError

log = logging.getLogger(__name__)

OFFICIAL_BASE = "https://api.weixin.qq.com/"
CODE_INVALID = {40029, 40163, 40226}  # invalid code, code already used, blocked user
UNAVAILABLE = {-1, 45011, 45009}  # system busy, per-user minute quota, API daily quota


class WeChatCodeInvalid(ApiError):
    status, code, message = 401, "wechat_code_invalid", "微信登录凭证无效或已使用，请重新打开小程序后再试"


class WeChatUnavailable(ApiError):
    status, code, message = 503, "wechat_unavailable", "微信服务暂时繁忙，请稍后再试"


class _TimeoutSession(requests.Session):
    """wechatpy fetches the access token without a timeout; give every request one."""

    def __init__(self, timeout: float):
        super().__init__()
        self.default_timeout = timeout

    def request(self, method, url, **kwargs):
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, **kwargs)


class ConfigurableWeChatClient(WeChatClient):
    """`WeChatClient` whose API host is configuration instead of a constant."""

    def __init__(self, appid: str, secret: str, base_url: str, timeout: float, session=None):
        super().__init__(appid, secret, session=session, timeout=timeout)
        self.base_url = base_url.rstrip("/") + "/"
        self._http = _TimeoutSession(timeout)
        self.API_BASE_URL = self.base_url + "cgi-bin/"
        # The API groups are instance attributes (made in BaseWeChatClient.__new__).
        for endpoint in [v for v in vars(self).values() if isinstance(v, BaseWeChatAPI)]:
            official = getattr(endpoint, "API_BASE_URL", None)
            if official and official.startswith(OFFICIAL_BASE):
                endpoint.API_BASE_URL = self.base_url + official[len(OFFICIAL_BASE):]

    def fetch_access_token(self):
        return self._fetch_access_token(
            url=self.base_url + "cgi-bin/token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )


@dataclass(frozen=True)
class WeChatIdentity:
    openid: str
    unionid: str | None


class WeChat:
    """Flask extension: one configured wechatpy client per app."""

    def __init__(self, app=None):
        self._client: ConfigurableWeChatClient | None = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app) -> None:
        storage = MemoryStorage()
        if app.config.get("REDIS_URL"):
            # Workers share one access token instead of each fetching (and invalidating) its own.
            import redis
            from wechatpy.session.redisstorage import RedisStorage

            storage = RedisStorage(redis.Redis.from_url(app.config["REDIS_URL"]), prefix="qinglang:wechat")
        self._client = ConfigurableWeChatClient(
            app.config["WECHAT_APPID"],
            app.config["WECHAT_SECRET"],
            app.config["WECHAT_API_BASE_URL"],
            app.config["WECHAT_TIMEOUT_S"],
            session=storage,
        )
        app.extensions["wechat"] = self

    @property
    def client(self) -> ConfigurableWeChatClient:
        if self._client is None:
            raise RuntimeError("WeChat extension used before init_app")
        return self._client

    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except WeChatClientException as exc:
            errcode = exc.errcode
            # errmsg may echo the code; log the number only.
            log.warning("wechat %s failed errcode=%s", what, errcode)
            if errcode in CODE_INVALID:
                raise WeChatCodeInvalid() from None
            raise WeChatUnavailable() from None
        except requests.RequestException as exc:
            log.warning("wechat %s failed: %s", what, type(exc).__name__)
            raise WeChatUnavailable() from None

    def code_to_session(self, code: str) -> WeChatIdentity:
        """Exchange a `wx.login` code for the user's openid."""
        result = self._call("code_to_session", self.client.wxa.code_to_session, code)
        openid = result.get("openid") if isinstance(result, dict) else None
        if not openid:
            log.warning("wechat code_to_session answered without openid")
            raise WeChatUnavailable()
        return WeChatIdentity(openid=openid, unionid=result.get("unionid"))

    def wxa_code_png(self, scene: str, page: str | None = None, width: int = 430) -> bytes:
        """A 小程序码 whose scene the mini-program reads on launch."""
        response = self._call(
            "get_wxa_code_unlimited", self.client.wxa.get_wxa_code_unlimited, scene, width=width, page=page
        )
        content = getattr(response, "content", None)
        if not content or not content.startswith(b"\x89PNG"):
            log.warning("wechat get_wxa_code_unlimited answered without an image")
            raise WeChatUnavailable()
        return content


class ContentCheck:
    """Results of WeChat content security, in the app's words."""

    PASS = "pass"  # noqa: S105 - a verdict, not a password
    REVIEW = "review"  # risky or uncertain: held for a person, never lost


def _suggest_to_state(suggest: str | None) -> str:
    return ContentCheck.PASS if suggest == "pass" else ContentCheck.REVIEW


def msg_sec_check(openid: str, content: str, scene: int = 2) -> str:
    """Text check (msg_sec_check v2). Returns `pass` or `review`; WeChat trouble → 503."""
    from app.extensions import wechat as ext

    client = ext.client
    result = ext._call(
        "msg_sec_check", client.post, client.base_url + "wxa/msg_sec_check",
        data={"content": content, "version": 2, "scene": scene, "openid": openid},
    )
    return _suggest_to_state((result.get("result") or {}).get("suggest"))


def media_check_async(openid: str, media_url: str, media_type: int = 2, scene: int = 2) -> str:
    """Start an image/audio check (media_check_async v2); the verdict arrives later at the
    push endpoint. Returns WeChat's trace_id."""
    from app.extensions import wechat as ext

    client = ext.client
    result = ext._call(
        "media_check_async", client.post, client.base_url + "wxa/media_check_async",
        data={"media_url": media_url, "media_type": media_type, "version": 2, "scene": scene, "openid": openid},
    )
    trace_id = result.get("trace_id")
    if not trace_id:
        raise WeChatUnavailable()
    return trace_id
