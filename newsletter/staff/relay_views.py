"""The relays page for admins: every relay with its settings, limits and what is left of
its daily quota, and a button that runs `relays check` (delivery.relaycheck) on one or all."""

from __future__ import annotations

from flask import current_app, render_template, request
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from redis.exceptions import RedisError

from newsletter.staff import audit
from newsletter.staff.auth import role_required
from newsletter.staff.blueprint import bp
from newsletter.staff.models import Role


def _context(results=None, error: str = ""):
    from newsletter.delivery.jobs import redis_connection
    from newsletter.delivery.relaypool import RelayPool
    from newsletter.delivery.relays import RelayConfigError, load

    config = current_app.config
    try:
        relay_config = load(config)
    except RelayConfigError as exc:
        return {
            "relays": [],
            "error": str(exc),
            "results": results,
            "quota": {},
            "form": FlaskForm(),
            "paces": {},
        }
    quota: dict = {}
    try:
        quota = RelayPool(
            redis_connection(config), config["QUEUE_PREFIX"], relay_config
        ).quota_left()
    except RedisError:
        error = error or _("Redis 不可用：无法读取今日配额。")
    return {
        "relays": relay_config.relays,
        "source": relay_config.source,
        "quota": quota,
        "paces": relay_config.paces,
        "results": results,
        "error": error,
        "form": FlaskForm(),
    }


@bp.get("/relays")
@role_required(Role.ADMIN)
def relays_page():
    """The relays a send goes through, their limits and today's quota."""
    return render_template("staff/admin/relays.html", **_context())


@bp.post("/relays/check")
@role_required(Role.ADMIN)
def relays_check():
    """Run the relay check (connect, TLS, AUTH, MAIL FROM, RCPT, RSET) and show the result."""
    from newsletter.delivery.relaycheck import check_from_config
    from newsletter.delivery.relays import RelayConfigError

    form = FlaskForm()
    if not form.validate_on_submit():
        return render_template(
            "staff/admin/relays.html", **_context(error=_("表单已过期，请重试。"))
        ), 400
    name = request.form.get("name") or None
    try:
        results = check_from_config(current_app.config, [name] if name else None)
    except RelayConfigError as exc:
        return render_template("staff/admin/relays.html", **_context(error=str(exc))), 400
    audit.record(
        "relays.checked", name or "*", {r.relay: (r.failed_stage or "ok") for r in results}
    )
    return render_template("staff/admin/relays.html", **_context(results=results))
