"""Flask extensions, created once here and bound to the app in `create_app`."""

from __future__ import annotations

from flask_babel import Babel
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
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
