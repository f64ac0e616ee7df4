"""What a job runs with — the settings and a database session — with Flask or without it.

Pages and commands run inside the Flask app: `current_app.config` and `db.session`. The send
worker runs without Flask (Flask, Werkzeug, Jinja, Click and the Flask extensions are ~9 MiB
of a worker's memory: issue 16): its `Runtime` holds the same settings
(`newsletter.load_settings`, from newsletter/config.py) and a scoped session, one per
thread as db.session is one per app context, on the engine Flask-SQLAlchemy would build
(`orm.make_engine`). The models and the store code are the same on both sides.

`job()` gives a job its (config, session) from whichever is in force and ends the session
after; `current()` answers code that runs inside a job (queueing a notice) the same way.
Jobs that need the app itself (a scheduled send starting: it renders; a CSV import) ask
`app_for_job()`, which builds it (`create_app(web=False)`) the first time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy.orm import Session, scoped_session, sessionmaker

if TYPE_CHECKING:
    from flask import Flask


class Runtime:
    """The worker's settings and database, without Flask."""

    def __init__(self, config: Mapping[str, Any]):
        from newsletter import config as config_module
        from newsletter import import_models
        from newsletter.orm import make_engine

        import_models()
        self.config = config
        # A worker's SQLite connections (the batch's, the sweep's) read a few rows each:
        # 256 KiB of page cache each instead of SQLite's 2000 KiB kept a worker with its
        # sweep at 65 MiB instead of 68-69 in bench/send.py, at the same CPU per message.
        self.engine = make_engine(config, str(config_module.INSTANCE_DIR), sqlite_cache_kib=256)
        self.scoped = scoped_session(sessionmaker(self.engine))
        # A scoped_session forwards every Session method (as db.session does): it checks as one.
        self.session = cast(Session, self.scoped)


_runtime: Runtime | None = None
_app: Flask | None = None
_in_job: ContextVar[Runtime | None] = ContextVar("newsletter_runtime", default=None)


def install(runtime: Runtime) -> None:
    """Called by worker.py: jobs without a Flask app context run on this runtime."""
    global _runtime
    _runtime = runtime


def set_app(app: Flask) -> None:
    """Jobs run inside this app (a benchmark or a test that built one)."""
    global _app
    _app = app


def job_app() -> Flask:
    """The app set with set_app, else one built now (once) without its web parts."""
    global _app
    if _app is None:
        from newsletter import create_app

        _app = create_app(web=False)
    return _app


def _flask_context() -> bool:
    import sys

    if "flask" not in sys.modules:  # nothing imported Flask: there is no app context
        return False
    from flask import has_app_context

    return has_app_context()


def app_for_job() -> Flask:
    """The current app, or the one `job_app` gives."""
    if _flask_context():
        from flask import current_app

        return current_app._get_current_object()  # type: ignore[attr-defined]
    return job_app()


@contextmanager
def job() -> Iterator[tuple[Mapping[str, Any], Session]]:
    """(config, session) for one job, the session ended after it: a fresh context of the
    current Flask app when there is one, else the worker's runtime (without one: of the
    app `job_app` gives)."""
    if _runtime is None or _flask_context():
        from newsletter.extensions import db

        app = app_for_job()
        with app.app_context():
            try:
                yield app.config, db.session
            finally:
                db.session.remove()
        return
    runtime = _runtime
    token = _in_job.set(runtime)
    try:
        yield runtime.config, runtime.session
    finally:
        runtime.scoped.remove()
        _in_job.reset(token)


def current() -> tuple[Mapping[str, Any], Session]:
    """(config, session) of the code running now: the Flask app's in its context (a
    request, a command, a job run in the app), else the worker's job's runtime."""
    runtime = _in_job.get()
    if runtime is not None and not _flask_context():
        return runtime.config, runtime.session
    from flask import current_app

    from newsletter.extensions import db

    return current_app.config, db.session
