"""The newsletter service: `create_app()` builds the Flask app (the tutorial's factory).

Importing the package loads no Flask (create_app imports it): the send worker
(newsletter/worker.py) runs without it, on `load_settings` and the same models.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter import config as config_module
from newsletter import logscrub

if TYPE_CHECKING:
    from flask import Flask

MIGRATIONS_DIR = str(Path(__file__).resolve().parent / "migrations")


def load_settings(config: Mapping | None = None) -> dict:
    """The settings (newsletter.config: overrides > environment > defaults), checked; on a
    bad one, one `configuration: …` line per problem in the log (the web server and the
    worker print it), then ConfigError. Also installs the log scrubber and makes the instance
    directory: what every process does first, with Flask (create_app) or without (worker)."""
    logscrub.install()  # before anything logs: no link token reaches a log
    try:
        settings = config_module.load(config)
    except config_module.ConfigError as exc:
        for problem in exc.problems:
            config_module.log.error("configuration: %s", problem)
        raise
    Path(config_module.INSTANCE_DIR).mkdir(parents=True, exist_ok=True)
    return settings


def import_models() -> None:
    """Import every module whose models make up the schema (importing registers the tables)."""
    from newsletter.bulletin import models as _bulletin  # noqa: F401
    from newsletter.delivery import models as _delivery  # noqa: F401
    from newsletter.review import models as _review  # noqa: F401
    from newsletter.staff import models as _staff  # noqa: F401
    from newsletter.tracking import models as _tracking  # noqa: F401
    from subscribers import models as _subscribers  # noqa: F401


def _register_blueprints(app: Flask) -> None:
    """The app's blueprints, by feature, imported here (not at module level) so that a worker
    (`web=False`) never loads a page, form or API module."""
    from newsletter import security
    from newsletter import views as home
    from newsletter.api import views as api
    from newsletter.bulletin import views as bulletin
    from newsletter.devmail import views as devmail
    from newsletter.reports import views as reports
    from newsletter.review import views as review
    from newsletter.sends import views as sends
    from newsletter.staff import views as staff
    from newsletter.tracking import views as tracking
    from subscribers import public_views, staff_views

    for module in (
        home,
        staff,
        bulletin,
        devmail,
        sends,
        public_views,
        staff_views,
        tracking,
        reports,
        review,
        api,
        security,
    ):
        app.register_blueprint(module.bp)


def create_app(config: dict | None = None, *, web: bool = True) -> Flask:
    """The app; `web=False` registers no pages, forms or CLI: what a worker builds for the
    jobs that need the app itself (a scheduled send starting, a CSV import, the bounce
    mailbox); its send jobs run without Flask (newsletter.runtime)."""
    from flask import Flask

    from newsletter.extensions import babel, db, login_manager, redis_store, tune_sqlite

    settings = load_settings(config)
    app = Flask(__name__, instance_path=str(config_module.INSTANCE_DIR))
    app.config.update(settings)
    from newsletter import security

    security.install_converters(app)  # before any route is added
    if web:
        from newsletter.tracking.fastpath import TrackingFastPath

        # Inside ProxyFix, so the fast path sees the reader's address and scheme.
        app.wsgi_app = TrackingFastPath(app, app.wsgi_app)  # type: ignore[method-assign]
    if app.config["PROXY_COUNT"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]  # Flask's middleware idiom
            app.wsgi_app, x_for=n, x_proto=n, x_host=n
        )

    import_models()

    from newsletter import extensions, i18n

    db.init_app(app)
    redis_store.init_app(app)
    with app.app_context():
        tune_sqlite(db.engine)
    if web:
        from newsletter.staff import auth  # noqa: F401  registers the login user loader

        extensions.migrate.init_app(app, db, directory=MIGRATIONS_DIR)
        extensions.csrf.init_app(app)
        login_manager.init_app(app)
    babel.init_app(
        app,
        locale_selector=i18n.select_locale,
        default_translation_directories=str(Path(__file__).parent / "translations"),
    )
    app.after_request(i18n.remember_choice)
    from flask_babel import get_locale

    app.jinja_env.globals["get_locale"] = get_locale
    from newsletter import display, errors

    display.register(app)
    errors.register(app)
    from newsletter import outgoing
    from newsletter.delivery.jobs import enqueue_transactional

    outgoing.register(app, enqueue_transactional)

    if not web:
        return app
    _register_blueprints(app)

    from newsletter import cli

    cli.register(app)
    return app
