"""The models' base and the database engine, without Flask.

Every model subclasses `Model` (a plain SQLAlchemy `DeclarativeBase`). The web app binds it
through Flask-SQLAlchemy (`extensions.db`, `db.session`); the send worker, which runs
without Flask (Flask, Werkzeug, Jinja, Click and the Flask extensions are ~9 MiB of a
worker: issue 16), opens the same database with `make_engine` from the same settings
(`newsletter.config`). Same tables, same models, same store code on both sides.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url, pool
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


Model = Base  # `class Issue(Model)`; Flask-SQLAlchemy's db is built on this same base


def make_engine(
    config: Mapping[str, Any], instance_path: str, *, sqlite_cache_kib: int | None = None
) -> Engine:
    """The engine Flask-SQLAlchemy would build for this config (its driver defaults: a
    relative SQLite path is under the instance directory, in-memory SQLite shares one
    connection), WAL-tuned like the app's; `sqlite_cache_kib` caps SQLite's page cache
    per connection (SQLite's default is 2000 KiB)."""
    options = dict(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    url = make_url(config["SQLALCHEMY_DATABASE_URI"])
    if url.drivername in {"sqlite", "sqlite+pysqlite"}:
        if url.database in (None, "", ":memory:"):
            options["poolclass"] = pool.StaticPool
            options.setdefault("connect_args", {})["check_same_thread"] = False
        else:
            is_uri = url.query.get("uri", False)
            path = url.database[5:] if is_uri else url.database
            if not os.path.isabs(path):
                os.makedirs(instance_path, exist_ok=True)
                path = os.path.join(instance_path, path)
                url = url.set(database=f"file:{path}" if is_uri else path)
    engine = create_engine(url, **options)
    tune_sqlite(engine, cache_kib=sqlite_cache_kib)
    return engine


def tune_sqlite(engine: Engine, *, cache_kib: int | None = None) -> None:
    """WAL and a busy timeout: the web app and several workers write to one SQLite file."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if cache_kib is not None:
            cursor.execute(f"PRAGMA cache_size=-{int(cache_kib)}")  # negative: KiB
        cursor.close()
