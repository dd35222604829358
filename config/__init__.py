"""Settings classes, one per environment.

`APP_ENV` picks the class (development by default). Every value can be set from the
environment so two copies of the app can run side by side (`DATABASE_URL`, `STORAGE_URL`,
`PORT` ...). `ProductionConfig.validate()` refuses to start without real secrets.
"""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"

INSECURE_SECRET = "dev-only-insecure-secret-key-change-me-0000"


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else None


class BaseConfig:
    """Defaults. `load_settings` overlays the environment variables named in ENV_MAP."""

    ENV_NAME = "base"
    # setting name -> (environment variable, converter)
    ENV_MAP: dict[str, tuple[str, type]] = {
        "SECRET_KEY": ("SECRET_KEY", str),
        "SQLALCHEMY_DATABASE_URI": ("DATABASE_URL", str),
        "STORAGE_URL": ("STORAGE_URL", str),
        "REDIS_URL": ("REDIS_URL", str),
        "CACHE_KEY_PREFIX": ("CACHE_KEY_PREFIX", str),
        "RATELIMIT_STORAGE_URI": ("REDIS_URL", str),
        "WECHAT_APPID": ("WECHAT_APPID", str),
        "WECHAT_SECRET": ("WECHAT_SECRET", str),
        "WECHAT_API_BASE_URL": ("WECHAT_API_BASE_URL", str),
        "WECHAT_TIMEOUT_S": ("WECHAT_TIMEOUT_S", float),
        "AUTH_RATE_LIMIT": ("AUTH_RATE_LIMIT", str),
        "TRUST_PROXY_HOPS": ("TRUST_PROXY_HOPS", int),
        "S3_ENDPOINT_URL": ("S3_ENDPOINT_URL", str),
        "S3_REGION": ("S3_REGION", str),
        "PUBLIC_BASE_URL": ("PUBLIC_BASE_URL", str),
        "WECHAT_PUSH_TOKEN": ("WECHAT_PUSH_TOKEN", str),
        "CONTENT_SECURITY": ("CONTENT_SECURITY", lambda v: v.lower() in ("1", "true", "yes", "on")),
        "UPLOAD_MAX_BYTES": ("UPLOAD_MAX_BYTES", int),
        "UPLOAD_WORK_DIR": ("UPLOAD_WORK_DIR", str),
        "CERTIFICATE_FONT": ("CERTIFICATE_FONT", str),
        "PLEDGE_STATS_CACHE_S": ("PLEDGE_STATS_CACHE_S", float),
        "QUIZ_RANKING_CACHE_S": ("QUIZ_RANKING_CACHE_S", float),
        "QUIZ_STATS_CACHE_S": ("QUIZ_STATS_CACHE_S", float),
        "QUIZ_READER_CLOSE_EVERY_S": ("QUIZ_READER_CLOSE_EVERY_S", float),
        "DB_PING_IDLE_S": ("DB_PING_IDLE_S", float),
        "DB_WRITER_POOL_SIZE": ("DB_WRITER_POOL_SIZE", int),
        "EXPORT_MAX_ROWS": ("EXPORT_MAX_ROWS", int),
    }

    SECRET_KEY = INSECURE_SECRET
    SQLALCHEMY_DATABASE_URI = f"sqlite:///{VAR / 'qinglang.db'}"
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    DB_PING_IDLE_S = 5.0  # app/common/pool.py: ping pooled connections idle this long before reuse
    # PostgreSQL: connections kept per process for group-commit batches (app/common/pool.py
    # `writer_engine_for`): one per batch that can be in flight, i.e. gunicorn's threads per worker.
    DB_WRITER_POOL_SIZE = 8
    STORAGE_URL = f"file://{VAR / 'storage'}"
    REDIS_URL: str | None = None
    RATELIMIT_STORAGE_URI = "memory://"

    # WeChat. Without WECHAT_APPID the app talks to the bundled stand-in (app/wechat/standin.py).
    WECHAT_APPID = "wx_standin_appid"
    WECHAT_SECRET = "standin-secret"
    WECHAT_API_BASE_URL = "https://api.weixin.qq.com/"
    WECHAT_TIMEOUT_S = 5.0
    WECHAT_JOIN_PAGE = "pages/join/index"

    # Tokens: a short access token, a long refresh token.
    JWT_ACCESS_TOKEN_EXPIRES = timedelta(minutes=30)
    JWT_REFRESH_TOKEN_EXPIRES = timedelta(days=30)
    JWT_TOKEN_LOCATION = ["headers"]

    # Staff password login: argon2 cost, lockout after repeated failures, per-IP rate limit.
    ARGON2_TIME_COST = 3
    ARGON2_MEMORY_COST = 65536
    LOGIN_MAX_FAILURES = 5
    LOGIN_LOCK_BASE_S = 60
    LOGIN_LOCK_MAX_S = 3600
    AUTH_RATE_LIMIT = "30 per minute"
    RATELIMIT_HEADERS_ENABLED = True
    TRUST_PROXY_HOPS = 0

    # Uploads and media (app/media). Chunks are stored, then assembled on local disk.
    S3_ENDPOINT_URL: str | None = None
    S3_REGION: str | None = None
    PUBLIC_BASE_URL: str | None = None  # e.g. https://api.example.cn, for links given to WeChat
    UPLOAD_CHUNK_SIZE = 2 * 1024 * 1024
    UPLOAD_MAX_BYTES = 600 * 1024 * 1024
    UPLOAD_DIRECT_MAX_BYTES = 10 * 1024 * 1024
    UPLOAD_STALE_AFTER_S = 24 * 3600
    UPLOAD_WORK_DIR: str | None = None  # temp dir for assembly; the system default when unset
    MAX_CONTENT_LENGTH = max(UPLOAD_CHUNK_SIZE, UPLOAD_DIRECT_MAX_BYTES) + 1024 * 1024
    MEDIA_MAX_PIXELS = 50_000_000
    MEDIA_URL_TTL_S = 600
    # WeChat content security (msg_sec_check / media_check_async v2); verdicts arrive at
    # /api/v1/wechat/push, signed with WECHAT_PUSH_TOKEN.
    CONTENT_SECURITY = True
    WECHAT_PUSH_TOKEN = "standin-push-token"

    # Pledges (app/pledges): progress counts are cached this long (they may lag as much);
    # the poster's Chinese font comes from fontconfig (fonts-noto-cjk) unless set as path[#index].
    PLEDGE_STATS_CACHE_S = 5.0
    QUIZ_RANKING_CACHE_S = 15.0  # leaderboard totals, rank samples, org tables (shared through Redis)
    QUIZ_STATS_CACHE_S = 60.0  # quiz statistics of a district or city (above STATS_LIVE_MAX attempts)
    QUIZ_READER_CLOSE_EVERY_S = 5.0  # leaderboard/stats readers close abandoned attempts at most this often
    CERTIFICATE_FONT: str | None = None
    EXPORT_MAX_ROWS = 100_000  # rows of one Excel list (signatures, quiz results); more: export per school

    INVITE_DEFAULT_TTL_S = 7 * 24 * 3600
    INVITE_MAX_TTL_S = 90 * 24 * 3600
    INVITE_DEFAULT_MAX_USES = 60
    FAMILY_CODE_TTL_S = 2 * 3600  # short: see app/family/services.py

    # OpenAPI / docs. The Swagger UI assets come from the swagger-ui-bundle package (no CDN).
    API_TITLE = "清朗校园 API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api/v1"
    OPENAPI_JSON_PATH = "openapi.json"
    OPENAPI_SWAGGER_UI_PATH = "/docs"
    OPENAPI_SWAGGER_UI_URL = "/api/v1/docs/assets/"
    API_SPEC_OPTIONS = {
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            }
        },
    }

    JSON_AS_ASCII = False

    @classmethod
    def validate(cls, settings: dict) -> None:
        """Hook for settings that must be present; development accepts defaults."""


class DevelopmentConfig(BaseConfig):
    ENV_NAME = "development"


class TestingConfig(BaseConfig):
    ENV_NAME = "testing"
    TESTING = True
    ENV_MAP = {**BaseConfig.ENV_MAP, "SQLALCHEMY_DATABASE_URI": ("TEST_DATABASE_URL", str)}
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    # Cheap hashing keeps the suite fast; the algorithm is the same.
    ARGON2_TIME_COST = 1
    ARGON2_MEMORY_COST = 1024
    WECHAT_TIMEOUT_S = 2.0
    AUTH_RATE_LIMIT = "1000 per minute"


class ProductionConfig(BaseConfig):
    ENV_NAME = "production"

    @classmethod
    def validate(cls, settings: dict) -> None:
        """Fail fast: production never runs on the development secret or the stand-in."""
        problems = []
        secret = settings.get("SECRET_KEY") or ""
        if secret == INSECURE_SECRET or len(secret) < 32:
            problems.append("SECRET_KEY must be set to a random value of at least 32 characters")
        if not _env("WECHAT_APPID") or not _env("WECHAT_SECRET"):
            problems.append("WECHAT_APPID and WECHAT_SECRET must be set to the mini-program's credentials")
        if not _env("DATABASE_URL"):
            problems.append("DATABASE_URL must point at the production database (PostgreSQL)")
        if settings.get("CONTENT_SECURITY") and settings.get("WECHAT_PUSH_TOKEN") == BaseConfig.WECHAT_PUSH_TOKEN:
            problems.append("WECHAT_PUSH_TOKEN must be the message-push token set in the mini-program console "
                            "(or set CONTENT_SECURITY=0)")
        if not settings.get("PUBLIC_BASE_URL"):
            problems.append("PUBLIC_BASE_URL must be set: certificate QR codes and links WeChat fetches are built "
                            "from it (never from the request's Host header)")
        if problems:
            raise RuntimeError("Refusing to start in production: " + "; ".join(problems))


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def load_settings(name: str | None = None) -> dict:
    """The settings of one environment, read from the environment at call time."""
    name = name or _env("APP_ENV") or "development"
    try:
        cls = CONFIGS[name]
    except KeyError:
        raise RuntimeError(f"Unknown APP_ENV {name!r}; use one of {sorted(CONFIGS)}") from None
    settings = {key: getattr(cls, key) for key in dir(cls) if key.isupper()}
    for key, (variable, convert) in cls.ENV_MAP.items():
        value = _env(variable)
        if value is not None:
            settings[key] = convert(value)
    cls.validate(settings)
    return settings
