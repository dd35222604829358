"""WeChat's message push: the endpoint set as 消息推送 URL in the mini-program's console.

Only JSON plaintext mode is handled; every call is verified with the push token
(`WECHAT_PUSH_TOKEN`) exactly as WeChat signs it.
"""
import logging
import time

from flask import current_app, request
from flask.views import MethodView
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.utils import check_signature

from app.api import Blueprint
from app.errors import Forbidden

log = logging.getLogger(__name__)
blp = Blueprint("wechat", __name__, url_prefix="/api/v1", description="微信消息推送")


PUSH_MAX_AGE_S = 300


def _verify() -> None:
    """WeChat's signature covers token, timestamp and nonce (not the body): a signed URL seen
    once could be replayed with another body, so only fresh timestamps are accepted."""
    try:
        age = abs(time.time() - int(request.args.get("timestamp", "")))
    except ValueError:
        age = None
    if age is None or age > PUSH_MAX_AGE_S:
        raise Forbidden("invalid_signature", "签名校验失败")
    try:
        check_signature(current_app.config["WECHAT_PUSH_TOKEN"], request.args.get("signature", ""),
                        request.args.get("timestamp", ""), request.args.get("nonce", ""))
    except InvalidSignatureException:
        raise Forbidden("invalid_signature", "签名校验失败") from None


@blp.route("/wechat/push")
class WeChatPush(MethodView):
    @blp.response(200, content_type="text/plain", description="echostr")
    @blp.alt_response(403, description="invalid_signature")
    def get(self):
        """WeChat's URL verification: echo `echostr` when the signature is right"""
        _verify()
        return current_app.response_class(request.args.get("echostr", ""), mimetype="text/plain")

    @blp.response(200, content_type="text/plain", description="success")
    @blp.alt_response(403, description="invalid_signature")
    def post(self):
        """Pushed events; `wxa_media_check` carries a content-security verdict"""
        from app.media.services import apply_media_check

        _verify()
        event = request.get_json(force=True, silent=True) or {}
        if event.get("Event") == "wxa_media_check" and event.get("trace_id"):
            suggest = (event.get("result") or {}).get("suggest")
            apply_media_check(str(event["trace_id"]), suggest)
        else:
            log.info("ignored wechat push event %s", event.get("Event"))
        return current_app.response_class("success", mimetype="text/plain")
