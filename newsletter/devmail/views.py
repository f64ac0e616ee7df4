"""Dev mailbox pages: the sink's Maildir paged and searchable (see `index`), one message
with its headers, its text part and its HTML shown as the email would look (its own CSS,
in a sandboxed frame).

Every message the app sends lands there, password-reset links included, so the pages are for
admins only and exist only outside production (production also refuses DEV_MAILBOX_DIR at
start-up: newsletter.config)."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser

from flask import Blueprint, abort, current_app, render_template, request

from newsletter.config import PRODUCTION
from newsletter.devmail import index
from newsletter.staff.auth import role_required
from newsletter.staff.models import Role

bp = Blueprint("devmail", __name__, url_prefix="/dev/mailbox")
PER_PAGE = 50
# The email's own document: its inline <style> and style="" apply, nothing else runs, and
# it cannot reach this origin (sandbox without allow-same-origin).
FRAME_CSP = (
    "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; "
    "style-src 'unsafe-inline'; img-src http: https: data:; frame-ancestors 'self'"
)


def _root() -> str:
    path = current_app.config["DEV_MAILBOX_DIR"]
    if not path or current_app.config["APP_ENV"] == PRODUCTION:
        abort(404)
    return str(path)


def _message(key: str):
    entry = index.find(_root(), key)
    if entry is None:
        abort(404)
    with open(entry.path, "rb") as f:
        return BytesParser(policy=policy.default).parse(f)


@bp.get("/")
@role_required(Role.ADMIN)
def inbox():
    """The messages the sink received, newest first, 50 to a page; ?q= searches To,
    From and Subject."""
    query = (request.args.get("q") or "").strip()[:200]
    number = request.args.get("page", 1, type=int) or 1
    listing = index.page(_root(), number, PER_PAGE, query)
    return render_template("devmail/inbox.html", listing=listing, q=query)


@bp.get("/<key>")
@role_required(Role.ADMIN)
def message(key: str):
    """One message: headers, the HTML as it looks, the text part."""
    msg = _message(key)
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    headers = [(k, str(v)) for k, v in msg.items()]
    return render_template(
        "devmail/message.html",
        key=key,
        headers=headers,
        subject=str(msg.get("Subject", "")),
        to=str(msg.get("To", "")),
        text=text.get_content() if text else "",
        has_html=html is not None,
    )


@bp.get("/<key>/html")
@role_required(Role.ADMIN)
def message_html(key: str):
    """The HTML part alone, for the preview frame, under a CSP that lets its styles work."""
    html = _message(key).get_body(preferencelist=("html",))
    if html is None:
        abort(404)
    return (
        html.get_content(),
        200,
        {
            "Content-Type": "text/html; charset=utf-8",
            "Content-Security-Policy": FRAME_CSP,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )
