"""The newsletter service: `create_app()` builds the Flask app (the tutorial's factory)."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from newsletter import config as config_module
from newsletter.extensions import csrf, db, migrate

MIGRATIONS_DIR = str(Path(__file__).resolve().parent / "migrations")


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_path=str(config_module.INSTANCE_DIR))
    app.config.update(config_module.from_environment())
    if config:
        app.config.update(config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    # Importing the models registers their tables with the metadata (migrations need them).
    import newsletter.bulletin.models  # noqa: F401
    import newsletter.delivery.models  # noqa: F401
    import subscribers.models  # noqa: F401

    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR)
    csrf.init_app(app)

    from newsletter import views
    from newsletter.bulletin import views as bulletin_views
    from newsletter.devmail import views as devmail_views

    app.register_blueprint(views.bp)
    app.register_blueprint(bulletin_views.bp)
    app.register_blueprint(devmail_views.bp)

    from newsletter import cli

    cli.register(app)
    return app
