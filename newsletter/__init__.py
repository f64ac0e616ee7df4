"""The newsletter service: `create_app()` builds the Flask app (the tutorial's factory)."""

from __future__ import annotations

import importlib
from pathlib import Path

from flask import Flask

from newsletter import config as config_module
from newsletter.extensions import babel, csrf, db, login_manager, migrate, tune_sqlite

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
]

# Modules whose models make up the schema (importing them registers the tables).
MODELS = [
    "newsletter.bulletin.models",
    "newsletter.delivery.models",
    "newsletter.staff.models",
    "subscribers.models",
    "newsletter.tracking.models",
]


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_path=str(config_module.INSTANCE_DIR))
    app.config.update(config_module.from_environment())
    if config:
        app.config.update(config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    for module in MODELS:
        importlib.import_module(module)

    from newsletter import i18n
    from newsletter.staff import auth  # noqa: F401  registers the login user loader

    db.init_app(app)
    with app.app_context():
        tune_sqlite(db.engine)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR)
    csrf.init_app(app)
    login_manager.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale,
                   default_translation_directories=str(Path(__file__).parent / "translations"))
    app.after_request(i18n.remember_choice)

    for module in BLUEPRINTS:
        app.register_blueprint(importlib.import_module(module).bp)

    from newsletter import cli

    cli.register(app)
    return app
