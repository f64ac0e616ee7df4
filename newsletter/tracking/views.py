"""Public tracking endpoints (pixel, click redirects) and the bounce webhook.

The pixel and the tracked click answer without the database and without waiting for Redis:
the token is checked by HMAC, the event is appended to the process's buffer
(`recorder.Recorder`, handed to Redis every 50 ms with the counting windows), and the click
target comes from the send's link table cached in the process (one database read per send
and process).
"""

from __future__ import annotations

import base64
import hmac
import logging

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
)
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response as BaseResponse

from newsletter.extensions import csrf, db
from newsletter.tracking import events, signing
from newsletter.tracking.intake import ingest
from newsletter.tracking.jobs import redis_for
from newsletter.tracking.links import LinkCache, TrackingSettings
from newsletter.tracking.recorder import recorder_for

log = logging.getLogger(__name__)
bp = Blueprint("tracking", __name__)

# A 1x1 transparent GIF (42 bytes).
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_STORE = {"Cache-Control": "no-store, no-cache, must-revalidate, private", "Pragma": "no-cache"}
REDIRECT_HEADERS = {"Referrer-Policy": "no-referrer"}


def settings_for(app: Flask) -> TrackingSettings:
    s = app.extensions.get("tracking_settings")
    if s is None:
        s = app.extensions["tracking_settings"] = TrackingSettings.from_config(app.config)
    return s


def links_for(app: Flask) -> LinkCache:
    cache = app.extensions.get("tracking_links")
    if cache is None:
        cache = app.extensions["tracking_links"] = LinkCache()
    return cache


def _settings() -> TrackingSettings:
    return settings_for(current_app)


def record(
    app: Flask,
    kind: str,
    ids: tuple[int, int],
    link_n: int,
    method: str,
    user_agent: str | None,
    remote_addr: str | None,
) -> None:
    """The one thing a tracked request does besides answering: buffer its event."""
    settings = settings_for(app)
    if not settings.enabled:
        return  # switched off globally: serve, record nothing
    bot = events.classify_request(method, user_agent, remote_addr)
    # In memory only: a background thread hands it to Redis with its counting window.
    recorder_for(redis_for(app), settings.events_key).add(kind, ids[0], ids[1], link_n, bot)


def _record(kind: str, ids: tuple[int, int], link_n: int = 0) -> None:
    record(
        current_app,
        kind,
        ids,
        link_n,
        request.method,
        request.headers.get("User-Agent"),
        request.remote_addr,
    )


@bp.get("/t/o/<token>.gif")
def open_pixel(token: str) -> Response:
    """The open-tracking pixel: always a GIF; 404 (still a GIF) for a bad token."""
    ids = signing.read_delivery_token(_settings().secret_key, token)
    if ids is None:
        return Response(PIXEL, status=404, mimetype="image/gif", headers=NO_STORE)
    _record(events.OPEN, ids)
    return Response(PIXEL, mimetype="image/gif", headers=NO_STORE)


@bp.get("/t/c/<token>/<int:n>")
def click(token: str, n: int) -> ResponseReturnValue:
    """A tracked link: record the click, redirect to the stored URL."""
    ids = signing.read_delivery_token(_settings().secret_key, token)
    url = links_for(current_app).url(db.session, ids[0], n) if ids is not None else None
    if ids is None or url is None:
        return _invalid_link()
    _record(events.CLICK, ids, n)
    return _redirect(url)


@bp.get("/t/r/<token>/<int:n>")
def plain_redirect(token: str, n: int) -> ResponseReturnValue:
    """An untracked link (the reader opted out): redirect only, no event, no reader id."""
    send_id = signing.read_send_token(_settings().secret_key, token)
    url = links_for(current_app).url(db.session, send_id, n) if send_id else None
    if url is None:
        return _invalid_link()
    return _redirect(url)


def _redirect(url: str) -> BaseResponse:
    response = redirect(url, code=302)
    response.headers.update(NO_STORE)
    response.headers.update(REDIRECT_HEADERS)
    return response


def _invalid_link() -> tuple[str, int]:
    return render_template("tracking/invalid_link.html"), 404


@bp.post("/webhooks/bounce")
@csrf.exempt
def bounce_webhook() -> ResponseReturnValue:
    """A DSN or ARF message as the raw request body; X-Bounce-Secret must match the config."""
    secret = _settings().webhook_secret
    given = request.headers.get("X-Bounce-Secret", "")
    if not secret:
        return jsonify(error="bounce webhook is not configured"), 404
    if not hmac.compare_digest(given.encode(), secret.encode()):
        return jsonify(error="bad or missing X-Bounce-Secret header"), 403
    limit = current_app.config["BOUNCE_MAX_BYTES"]
    if (request.content_length or 0) > limit:
        return jsonify(error=f"message too large (limit {limit} bytes)"), 413
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        return jsonify(error=f"message too large (limit {limit} bytes)"), 413
    rcpt = request.args.get("rcpt", "")
    result = ingest(
        db.session, raw, _settings(), envelope_rcpts=[rcpt] if rcpt else [], source="webhook"
    )
    status = 422 if result.outcome == "dropped" else 200
    return jsonify(
        outcome=result.outcome,
        delivery_id=result.delivery_id,
        detail=result.detail,
        suppressed=result.suppressed,
    ), status


@bp.post("/webhooks/directmail")
@csrf.exempt
def directmail_webhook() -> ResponseReturnValue:
    """DirectMail-style events (JSON); signed: X-Webhook-Signature: sha256=<HMAC of body>."""
    from newsletter.tracking import providers

    limit = current_app.config["BOUNCE_MAX_BYTES"]
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        return jsonify(error=f"body too large (limit {limit} bytes)"), 413
    try:
        events = providers.directmail(
            raw,
            request.headers.get("X-Webhook-Signature", ""),
            current_app.config.get("DIRECTMAIL_WEBHOOK_SECRET", ""),
        )
    except providers.EventError as exc:
        return jsonify(error=str(exc)), exc.status
    results = [providers.apply_event(db.session, _settings(), e) for e in events]
    return jsonify(results=results)


@bp.post("/webhooks/sendcloud")
@csrf.exempt
def sendcloud_webhook() -> ResponseReturnValue:
    """SendCloud-style events (form fields); signed by HMAC of timestamp + token."""
    from newsletter.tracking import providers

    limit = current_app.config["BOUNCE_MAX_BYTES"]
    if (request.content_length or 0) > limit:
        return jsonify(error=f"body too large (limit {limit} bytes)"), 413
    try:
        event = providers.sendcloud(
            request.form.to_dict(), current_app.config.get("SENDCLOUD_WEBHOOK_KEY", "")
        )
    except providers.EventError as exc:
        return jsonify(error=str(exc)), exc.status
    return jsonify(providers.apply_event(db.session, _settings(), event))
