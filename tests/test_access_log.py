"""The access log of the server `make run` starts (gunicorn with gunicorn.conf.py) keeps no
secret that travels in a path: a signed file link works without login until it expires, and an
invite code lets anyone into a class."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - a loopback URL of the test
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_file_tokens_and_invite_codes_never_reach_the_access_log(tmp_path, standin):
    port = free_port()
    log = tmp_path / "access.log"
    env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1", "WEB_CONCURRENCY": "1", "GUNICORN_THREADS": "2",
           "GUNICORN_ACCESS_LOG": str(log), "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
           "STORAGE_URL": f"file://{tmp_path / 'storage'}", "WECHAT_API_BASE_URL": standin.base_url}
    env.pop("TEST_DATABASE_URL", None)
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        for _ in range(200):
            try:
                if get(base + "/health") == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError(server.stderr.read1().decode() if server.poll() is not None else "no answer")
        secrets = ("Zm9vYmFyLXNpZ25lZC1maWxlLXRva2Vu", "K7Q2M9XP")
        get(f"{base}/files/{secrets[0]}")
        get(f"{base}/invites/{secrets[1]}")
        get(f"{base}/invites/{secrets[1]}/accept")
        for _ in range(50):  # the access log is written after each answer
            text = log.read_text() if log.exists() else ""
            if text.count("/invites/") >= 2:
                break
            time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert '"GET /api/v1/files/…"' in text and '"GET /api/v1/invites/…/accept"' in text, text
    assert '"GET /api/v1/health"' in text, "other paths are logged as they are"
    for secret in secrets:
        assert secret not in text
