"""A stand-in for the WeChat server API, for development, the demo and tests.

It is a real HTTP server that follows the documented protocol, so wechatpy runs its real
HTTP path against it. Behaviour is fixed (DESIGN.md, "The WeChat stand-in"):

- `GET sns/jscode2session`: `test:<label>` or `test:<label>:<nonce>` → openid `test_<label>`;
  a code used twice → 40163; `invalid` (or anything else) → 40029; `busy` → -1 (system busy);
  `limited` → 45011; `slow` sleeps longer than any client timeout.
- `GET cgi-bin/token` → an access token; other calls check it (40001 when wrong).
- `POST wxa/getwxacodeunlimit` → a PNG (a real QR code holding the scene).
- `POST cgi-bin/message/subscribe/send` → ok, and remembered.
- `POST wxa/msg_sec_check` (v2) → risky when the text holds a word of the block list.
- `POST wxa/media_check_async` (v2) → a trace_id; the verdict is pushed like WeChat's message
  push (JSON, signed with the push token): risky when the openid starts with `test_risky`.
  The push goes to `push_url` when one is set, and is always kept for `GET _standin/pushes`
  (each entry holds the signed query string and the JSON body, ready to replay).
- `GET _standin/sent` lists what subscribe/send received (for tests and the demo).

Run alone: `python -m app.wechat.standin --port 8001`.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import secrets
import threading
import time
from urllib.parse import urlsplit

import qrcode
from flask import Flask, jsonify, request
from werkzeug.serving import WSGIRequestHandler, make_server

BLOCK_LIST = ("赌博", "色情", "诈骗链接", "代考", "枪支")
SLOW_SECONDS = 10


def signed_push_query(token: str) -> dict:
    """`signature`, `timestamp`, `nonce` as WeChat signs its message push."""
    timestamp, nonce = str(int(time.time())), secrets.token_hex(6)
    signature = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()  # noqa: S324
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce}


def create_standin_app(push_url: str | None = None, push_token: str = "standin-push-token") -> Flask:  # noqa: S107
    app = Flask("wechat_standin")
    state = {
        "used_codes": set(),
        "sent": [],
        "pushes": [],
        "push_url": push_url,
        "push_token": push_token,
        "token": "standin-token-" + secrets.token_hex(8),
        "lock": threading.Lock(),
    }
    app.config["STANDIN_STATE"] = state

    def error(errcode: int, errmsg: str):
        return jsonify({"errcode": errcode, "errmsg": errmsg})

    def token_ok() -> bool:
        return request.args.get("access_token") == state["token"]

    @app.get("/sns/jscode2session")
    def jscode2session():
        code = request.args.get("js_code", "")
        if not request.args.get("appid") or not request.args.get("secret"):
            return error(41002, "appid missing")
        if code == "busy":
            return error(-1, "system error")
        if code == "limited":
            return error(45011, "api minute-quota reach limit")
        if code == "slow":
            time.sleep(SLOW_SECONDS)
            return error(-1, "system error")
        parts = code.split(":")
        if len(parts) not in (2, 3) or parts[0] != "test" or not parts[1]:
            return error(40029, "invalid code")
        with state["lock"]:
            if code in state["used_codes"]:
                return error(40163, "code been used")
            state["used_codes"].add(code)
        label = parts[1]
        session_key = hashlib.sha256(f"{code}:{secrets.token_hex(4)}".encode()).hexdigest()[:24]
        return jsonify({"openid": f"test_{label}", "session_key": session_key})

    @app.get("/cgi-bin/token")
    def token():
        if request.args.get("grant_type") != "client_credential" or not request.args.get("appid"):
            return error(40002, "invalid grant_type")
        return jsonify({"access_token": state["token"], "expires_in": 7200})

    @app.post("/wxa/getwxacodeunlimit")
    def wxa_code_unlimited():
        if not token_ok():
            return error(40001, "invalid credential, access_token is invalid or not latest")
        body = request.get_json(force=True, silent=True) or {}
        scene = str(body.get("scene", ""))
        if not scene or len(scene) > 32:
            return error(40169, "invalid length for scene")
        image = qrcode.make(f"scene={scene};page={body.get('page') or ''}")
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return app.response_class(buffer.getvalue(), mimetype="image/png")

    @app.post("/cgi-bin/message/subscribe/send")
    def subscribe_send():
        if not token_ok():
            return error(40001, "invalid credential")
        body = request.get_json(force=True, silent=True) or {}
        if not body.get("touser") or not body.get("template_id"):
            return error(47003, "argument invalid")
        with state["lock"]:
            state["sent"].append(body)
        return error(0, "ok")

    @app.post("/wxa/msg_sec_check")
    def msg_sec_check():
        if not token_ok():
            return error(40001, "invalid credential")
        body = request.get_json(force=True, silent=True) or {}
        content = str(body.get("content", ""))
        hit = next((word for word in BLOCK_LIST if word in content), None)
        result = {"suggest": "risky", "label": 20001} if hit else {"suggest": "pass", "label": 100}
        detail = [{"strategy": "keyword", "errcode": 0, "suggest": result["suggest"], "label": result["label"]}]
        if hit:
            detail[0]["keyword"] = hit
        return jsonify({"errcode": 0, "errmsg": "ok", "result": result, "detail": detail,
                        "trace_id": secrets.token_hex(8)})

    @app.post("/wxa/media_check_async")
    def media_check_async():
        if not token_ok():
            return error(40001, "invalid credential")
        body = request.get_json(force=True, silent=True) or {}
        openid = str(body.get("openid", ""))
        if not body.get("media_url") or body.get("media_type") not in (1, 2) or not openid:
            return error(47001, "data format error")
        trace_id = secrets.token_hex(12)
        risky = openid.startswith("test_risky")
        suggest, label = ("risky", 20002) if risky else ("pass", 100)
        push = {
            "ToUserName": "gh_standin", "FromUserName": openid, "CreateTime": int(time.time()),
            "MsgType": "event", "Event": "wxa_media_check", "appid": "wx_standin_appid",
            "trace_id": trace_id, "version": 2, "errcode": 0, "errmsg": "ok",
            "detail": [{"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label, "prob": 90}],
            "result": {"suggest": suggest, "label": label},
        }
        entry = {"query": signed_push_query(state["push_token"]), "body": push}
        with state["lock"]:
            state["pushes"].append(entry)
        if state["push_url"]:
            threading.Thread(target=_deliver, args=(state["push_url"], entry), daemon=True).start()
        return jsonify({"errcode": 0, "errmsg": "ok", "trace_id": trace_id})

    @app.get("/_standin/pushes")
    def pushes():
        with state["lock"]:
            return jsonify(list(state["pushes"]))

    @app.get("/_standin/sent")
    def sent():
        with state["lock"]:
            return jsonify(list(state["sent"]))

    return app


class _PathOnlyRequestHandler(WSGIRequestHandler):
    """Access log without query strings: WeChat puts the app secret, login codes and access
    tokens in the query, and those must not end up in anyone's logs."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = urlsplit(getattr(self, "path", "") or "").path or "-"
        self.log("info", '"%s %s" %s %s', getattr(self, "command", "-"), path, code, size)


def _deliver(url: str, entry: dict) -> None:
    import requests

    time.sleep(0.2)  # like WeChat: the verdict comes after the call returned
    try:
        requests.post(url, params=entry["query"], json=entry["body"], timeout=5)
    except requests.RequestException:
        pass  # kept in /_standin/pushes either way


class StandInServer:
    """The stand-in on a loopback port, in a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, push_url: str | None = None,
                 push_token: str = "standin-push-token"):  # noqa: S107
        self.app = create_standin_app(push_url, push_token)
        self._server = make_server(host, port, self.app, threaded=True, request_handler=_PathOnlyRequestHandler)
        self.host = host
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="wechat-standin", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def start(self) -> StandInServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)


def main() -> None:
    parser = argparse.ArgumentParser(description="WeChat API stand-in")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--push-url", default=None, help="the app's WeChat push endpoint")
    args = parser.parse_args()
    server = StandInServer(args.host, args.port, push_url=args.push_url)
    print(f"WeChat stand-in listening on {server.base_url}", flush=True)
    server._server.serve_forever()


if __name__ == "__main__":
    main()
