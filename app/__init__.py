"""The application factory."""
from __future__ import annotations

import logging

from flask import Flask
from sqlalchemy import event
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from app.common.pool import ping_idle_connections, writer_engine_for
from config import load_settings


def create_app(config: str | dict | None = None) -> Flask:
    """Build the app. `config` is an environment name or a dict of settings (tests)."""
    app = Flask(__name__, static_folder=None)
    if isinstance(config, dict):
        overrides = dict(config)
        settings = load_settings(overrides.pop("APP_ENV", "testing"))
        settings.update(overrides)
    else:
        settings = load_settings(config)
    app.config.from_mapping(settings)
    app.json.ensure_ascii = False
    if app.config["TRUST_PROXY_HOPS"]:
        hops = app.config["TRUST_PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    configure_logging(app)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    return app


def configure_logging(app: Flask) -> None:
    # urllib3 logs full URLs at DEBUG, and WeChat URLs carry the app secret and login codes.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    if not app.debug and not app.testing:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def register_extensions(app: Flask) -> None:
    from app.common import json_text
    from app.extensions import api, db, jwt, limiter, migrate, storage, wechat

    # JSON columns (quiz snapshots and answers, ~15 KB a row) through orjson. A database error never
    # carries its statement's parameters into the log: they are request data (names, answer keys).
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"json_serializer": json_text.dumps, "json_deserializer": json_text.loads,
                                               "hide_parameters": True,
                                               **app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {})}
    db.init_app(app)
    migrate.init_app(app, db, directory=str(_migrations_dir()))
    jwt.init_app(app)
    limiter.init_app(app)
    wechat.init_app(app)
    storage.init_app(app)
    api.init_app(app)
    from app.auth import jwt as _token_callbacks  # noqa: F401  (registers callbacks on `jwt`)

    with app.app_context():
        ping_idle_connections(db.engine, app.config["DB_PING_IDLE_S"])
        app.extensions["writer_engine"] = writer_engine_for(
            db.engine, app.config["SQLALCHEMY_ENGINE_OPTIONS"], app.config["DB_PING_IDLE_S"],
            app.config["DB_WRITER_POOL_SIZE"], echo=app.config.get("SQLALCHEMY_ECHO", False))
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_pragmas)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL: readers never wait for the writer, which matters with several gunicorn workers.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _migrations_dir():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "migrations"


class _IdConverter(IntegerConverter):
    """`<int:id>` only matches ids the database can hold; anything larger is a plain 404."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


def register_blueprints(app: Flask) -> None:
    app.url_map.converters["int"] = _IdConverter
    from app.auth.routes import blp as auth_blp
    from app.campaigns.routes import blp as campaigns_blp
    from app.extensions import api
    from app.family.routes import blp as family_blp
    from app.health import blp as health_blp
    from app.health import docs_assets
    from app.media.routes import blp as media_blp
    from app.media.routes import files_blp
    from app.orgs.routes import blp as orgs_blp
    from app.pledges.routes import blp as pledges_blp
    from app.quizzes.routes import attempts_blp, banks_blp, quizzes_blp
    from app.wechat.routes import blp as wechat_blp

    for blueprint in (health_blp, auth_blp, orgs_blp, family_blp, campaigns_blp, media_blp, files_blp, wechat_blp,
                      pledges_blp, banks_blp, quizzes_blp, attempts_blp):
        api.register_blueprint(blueprint)
    app.register_blueprint(docs_assets)


def register_errorhandlers(app: Flask) -> None:
    from app.errors import register_error_handlers

    register_error_handlers(app)


def register_commands(app: Flask) -> None:
    from app.auth.commands import users_cli
    from app.demo.commands import demo_cli
    from app.media.commands import media_cli
    from app.quizzes.commands import quizzes_cli

    app.cli.add_command(users_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(media_cli)
    app.cli.add_command(quizzes_cli)
