"""Dev mailbox pages: list the sink's Maildir, show one message's parts.

Every message the app sends lands there, password-reset links included, so the pages are for
admins only and exist only outside production (production also refuses DEV_MAILBOX_DIR at
start-up: newsletter.config)."""

from __future__ import annotations

import mailbox
from email import policy
from email.parser import BytesParser

from flask import Blueprint, abort, current_app, render_template

from newsletter.config import PRODUCTION
from newsletter.staff.auth import role_required
from newsletter.staff.models import Role

bp = Blueprint("devmail", __name__, url_prefix="/dev/mailbox")


def _maildir() -> mailbox.Maildir:
    path = current_app.config["DEV_MAILBOX_DIR"]
    if not path or current_app.config["APP_ENV"] == PRODUCTION:
        abort(404)
    return mailbox.Maildir(path, factory=None, create=True)


def _parse(raw: bytes):
    return BytesParser(policy=policy.default).parsebytes(raw)


@bp.get("/")
@role_required(Role.ADMIN)
def inbox():
    """Every message the sink received, newest first."""
    box = _maildir()
    items = []
    for key in box.keys():
        msg = _parse(box.get_bytes(key))
        items.append({"key": key, "to": msg["To"], "subject": msg["Subject"],
                      "date": msg["Date"], "mtime": box.get_message(key).get_date()})
    items.sort(key=lambda m: m["mtime"], reverse=True)
    return render_template("devmail/inbox.html", items=items)


@bp.get("/<key>")
@role_required(Role.ADMIN)
def message(key: str):
    """One message: headers, text part and HTML part."""
    box = _maildir()
    try:
        raw = box.get_bytes(key)
    except KeyError:
        abort(404)
    msg = _parse(raw)
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    headers = [(k, str(v)) for k, v in msg.items()]
    return render_template("devmail/message.html", key=key, headers=headers,
                           text=text.get_content() if text else "",
                           has_html=html is not None)


@bp.get("/<key>/html")
@role_required(Role.ADMIN)
def message_html(key: str):
    """The HTML part alone, for the preview frame."""
    box = _maildir()
    try:
        msg = _parse(box.get_bytes(key))
    except KeyError:
        abort(404)
    html = msg.get_body(preferencelist=("html",))
    if html is None:
        abort(404)
    return html.get_content()
