"""The newsletter service: `create_app()` builds the Flask app (the tutorial's factory)."""

from __future__ import annotations

import importlib
from pathlib import Path

from flask import Flask

from newsletter import config as config_module
from newsletter import logscrub
from newsletter.extensions import babel, db, login_manager, redis_store, tune_sqlite

MIGRATIONS_DIR = str(Path(__file__).resolve().parent / "migrations")

# Modules whose `bp` blueprint the app serves, by feature.
BLUEPRINTS = [
    "newsletter.views",
    "newsletter.staff.views",
    "newsletter.bulletin.views",
    "newsletter.devmail.views",
    "newsletter.sends.views",
    "subscribers.public_views",
    "subscribers.staff_views",
    "newsletter.tracking.views",
    "newsletter.reports.views",
    "newsletter.review.views",
    "newsletter.api.views",
    "newsletter.security",
]

# Modules whose models make up the schema (importing them registers the tables).
MODELS = [
    "newsletter.bulletin.models",
    "newsletter.delivery.models",
    "newsletter.staff.models",
    "subscribers.models",
    "newsletter.tracking.models",
    "newsletter.review.models",
]


def create_app(config: dict | None = None, *, web: bool = True) -> Flask:
    """The app; `web=False` (the send workers) registers no pages, forms or CLI: a worker
    needs the settings, the database and the templates of its emails, nothing more."""
    logscrub.install()  # before anything logs: no link token reaches a log
    app = Flask(__name__, instance_path=str(config_module.INSTANCE_DIR))
    try:
        app.config.update(config_module.load(config))
    except config_module.ConfigError as exc:
        # One line per problem in the log (gunicorn and the worker print it), then stop.
        for problem in exc.problems:
            config_module.log.error("configuration: %s", problem)
        raise
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
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

    for module in MODELS:
        importlib.import_module(module)

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
    for module in BLUEPRINTS:
        app.register_blueprint(importlib.import_module(module).bp)

    from newsletter import cli

    cli.register(app)
    return app
