"""Core pages: the home page and the health check."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, redirect, url_for
from sqlalchemy import text

from newsletter.extensions import db, redis_store

bp = Blueprint("core", __name__)


@bp.get("/")
def index():
    """Home: the list of issues."""
    return redirect(url_for("bulletin.issue_list"))


@bp.get("/health")
def health():
    """Whether the database and Redis answer; 503 when either does not."""

    checks: dict[str, str] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # report, never raise: this page is for monitors
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        redis_store.client(current_app.config).ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {exc.__class__.__name__}"
    ok = all(v == "ok" for v in checks.values())
    return jsonify(status="ok" if ok else "error", **checks), 200 if ok else 503
