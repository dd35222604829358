"""gunicorn settings for `make run` (and a starting point for production).

Without `WECHAT_APPID` (and without an explicit `WECHAT_API_BASE_URL`) the master process
starts the WeChat stand-in on a free loopback port before the workers fork, and the workers
inherit its address through the environment.
"""
import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# 8 threads: signings that arrive together are written in one statement (group commit), and more
# threads per worker make bigger batches (bench: 4 threads ~2 per statement, 8 threads ~4).
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# Each thread may lead a group-commit batch: the app keeps that many batch-writer connections (PostgreSQL).
os.environ.setdefault("DB_WRITER_POOL_SIZE", str(threads))
worker_class = "gthread"
# Most connections one worker holds (gunicorn default 1000). `make bench` lowers it so its 32 keep-alive
# connections spread over both workers instead of, by accept luck, all landing on one.
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
timeout = 60
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
# Request paths only; query strings may hold codes, and file tokens and invite codes in a path
# are masked (app/common/access_log.py).
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss'
# (A logger_class of our own: with statsd_host set, gunicorn would not switch to its statsd logger.)
logger_class = "app.common.access_log.AccessLogger"

control_socket_disable = True  # two copies side by side must not share a control socket

_standin = None


def on_starting(server):
    global _standin
    if not os.environ.get("WECHAT_APPID") and not os.environ.get("WECHAT_API_BASE_URL"):
        from app.wechat.standin import StandInServer

        push_url = f"http://127.0.0.1:{bind.rsplit(':', 1)[1]}/api/v1/wechat/push"
        _standin = StandInServer(port=int(os.environ.get("WECHAT_STANDIN_PORT", "0")), push_url=push_url).start()
        os.environ["WECHAT_API_BASE_URL"] = _standin.base_url
    host, port = bind.rsplit(":", 1)
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104
    base = f"http://{shown}:{port}"
    lines = [
        "",
        "清朗校园 is starting",
        f"  API docs:      {base}/api/v1/docs   (OpenAPI: {base}/api/v1/openapi.json)",
        f"  Health:        {base}/api/v1/health",
    ]
    if _standin is not None:
        lines += [
            f"  WeChat:        stand-in at {_standin.base_url} (set WECHAT_APPID/WECHAT_SECRET for real WeChat)",
            "  Student login: POST /api/v1/auth/wechat-login {\"code\": \"test:s01:1\"}  (s01…s60, parents p01…p60)",
        ]
    lines += [
        "  Staff login:   POST /api/v1/auth/password-login "
        "{\"username\": \"city_admin\", \"password\": \"<demo password>\"}",
        "                 demo password: $DEMO_PASSWORD, default 'qinglang-demo'; also admin, school1_admin, teacher01",
        "",
    ]
    print("\n".join(lines), flush=True)


def on_exit(server):
    if _standin is not None:
        _standin.stop()
