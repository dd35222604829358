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
    timestamp = request.args.get("timestamp", "")
    # Plain ASCII digits, as WeChat sends them (int() would also take " 1", "1_0", "١٢" or a
    # number too large to subtract from the clock).
    fresh = (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12
             and abs(time.time() - int(timestamp)) <= PUSH_MAX_AGE_S)
    if not fresh:
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
        event = _pushed_event()
        trace_id, result = event.get("trace_id"), event.get("result")
        if event.get("Event") == "wxa_media_check" and _plain_id(trace_id):
            suggest = result.get("suggest") if isinstance(result, dict) else None
            apply_media_check(trace_id, suggest if isinstance(suggest, str) else None)
        else:
            log.info("ignored wechat push event %s", ascii(event.get("Event"))[:40])
        return current_app.response_class("success", mimetype="text/plain")


def _pushed_event() -> dict:
    """The pushed JSON object; any other body (not JSON, not an object, nested deeper than the
    parser goes) is an event we do not handle, answered "success" so WeChat stops retrying."""
    try:
        event = current_app.json.loads(request.get_data())
    except (ValueError, RecursionError):
        return {}
    return event if isinstance(event, dict) else {}


def _plain_id(value) -> bool:
    """WeChat's trace ids are short printable ASCII; anything else cannot be one of ours."""
    return isinstance(value, str) and 0 < len(value) <= 128 and value.isascii() and value.isprintable()
