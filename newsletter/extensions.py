"""Flask extensions, created once here and bound to the app in `create_app`.

The models' base lives in `newsletter.orm` (no Flask: the send worker imports the models
without this module); `db` is Flask-SQLAlchemy over that same base and metadata."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask_babel import Babel
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import Session

from newsletter.orm import Base, Model, tune_sqlite
from newsletter.redis_client import RedisStore, redis_store

__all__ = [
    "Base",
    "Model",
    "RedisStore",
    "babel",
    "db",
    "login_manager",
    "redis_store",
    "tune_sqlite",
]

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

# The models subclass `orm.Model` itself (not db.Model): db shares its metadata and registry,
# so db.session, db.create_all() and Alembic see every table.
db = _SQLAlchemy(model_class=Base)
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
