"""Core pages: the staff home page, the favicon and the health check."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select, text

from newsletter.bulletin.models import Issue
from newsletter.extensions import db, redis_store
from newsletter.staff.auth import role_required

bp = Blueprint("core", __name__)


@bp.get("/")
@role_required()
def index():
    """The staff home: this week's issue, where it stands, and what to do next."""
    from newsletter.review import standing

    issues = db.session.scalars(select(Issue).order_by(Issue.number.desc()).limit(6)).all()
    user = current_user._get_current_object()
    current = standing.standing(db.session, issues[0], user) if issues else None
    others = [standing.standing(db.session, i) for i in issues[1:]]
    return render_template(
        "home.html",
        current=current,
        others=others,
        steps=standing.STEPS,
        waiting=standing.waiting_for_review(db.session),
    )


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for it on every page: the SVG icon."""
    return redirect(url_for("static", filename="favicon.svg"), 301)


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
