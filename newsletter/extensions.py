"""Flask extensions, created once here and bound to the app in `create_app`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

from flask_babel import Babel
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase, Session


class Base(DeclarativeBase):
    pass


if TYPE_CHECKING:
    # What a type checker is told about `db`; at run time it is Flask-SQLAlchemy's object.
    # `db.session` is a scoped_session, which
    # forwards every Session method, so it checks as a Session that can also be removed (and
    # functions simply take `Session`).
    class _ScopedSession(Session):
        def remove(self) -> None: ...

    class _SQLAlchemy(SQLAlchemy):
        session: _ScopedSession  # type: ignore[assignment]
else:
    _SQLAlchemy = SQLAlchemy

db = _SQLAlchemy(model_class=Base)
# The models' base: `class Issue(Model)` is `class Issue(db.Model)`, in a form checkers read.
if TYPE_CHECKING:
    Model: TypeAlias = Base
else:
    Model = db.Model
login_manager = LoginManager()
login_manager.login_view = "staff.login"
login_manager.session_protection = "strong"
babel = Babel()


def __getattr__(name: str):
    # `migrate` (Alembic) and `csrf` (WTForms) are made on first use: the send workers use
    # neither, and they are ~8 MiB of a worker's memory.
    if name == "migrate":
        from flask_migrate import Migrate

        globals()["migrate"] = Migrate()
    elif name == "csrf":
        from flask_wtf import CSRFProtect

        globals()["csrf"] = CSRFProtect()
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return globals()[name]


def tune_sqlite(engine) -> None:
    """WAL and a busy timeout: the web app and several workers write to one SQLite file."""
    from sqlalchemy import event

    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


class RedisStore:
    """The one way to get a Redis client: one client (one connection pool) per URL, kind
    and process, built from REDIS_URL (redis://, rediss:// for TLS, :password@ for AUTH) and
    REDIS_CA_FILE (the CA that signed the server's certificate, for a private CA).

    `client(config)` answers within seconds (web requests, enqueueing, rate limits: a Redis
    that hangs must not hang a request); `client(config, blocking=True)` has no read timeout,
    for RQ workers, whose BLPOP waits for minutes. Works with an app's config or without an
    app (worker start-up), hence the config argument.
    """

    def __init__(self) -> None:
        self._clients: dict[tuple, Any] = {}

    def init_app(self, app) -> None:
        app.extensions["redis"] = self

    def client(self, config=None, *, blocking: bool = False):
        from flask import current_app
        from redis import Redis

        config = current_app.config if config is None else config
        url, ca_file = config["REDIS_URL"], config.get("REDIS_CA_FILE") or None
        key = (url, ca_file, blocking)
        client = self._clients.get(key)
        if client is None:
            options: dict[str, Any] = {"socket_connect_timeout": 5, "health_check_interval": 30}
            if not blocking:
                options["socket_timeout"] = 5
            if url.startswith("rediss://") and ca_file:
                options["ssl_ca_certs"] = ca_file
            client = self._clients[key] = Redis.from_url(url, **options)
        return client


redis_store = RedisStore()
