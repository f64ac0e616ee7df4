"""The one-off emails of the subscriber pages: confirm, already subscribed, fresh links.

Written in the reader's language, with links built on BASE_URL (never on the request's
Host header, which a visitor controls), and queued through the delivery queue (`newsletter.outgoing`: the reader side loads no
send pipeline).
"""

from __future__ import annotations

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _

from newsletter import outgoing
from subscribers import tokens
from subscribers.models import Subscriber


def link(purpose: str, subscriber_id: int) -> str:
    """The absolute URL of a subscriber page, signed for `purpose`."""
    config = current_app.config
    token = tokens.make_token(config["SECRET_KEY"], purpose, subscriber_id)
    path = {
        tokens.CONFIRM: "confirm",
        tokens.PREFERENCES: "preferences",
        tokens.UNSUBSCRIBE: "unsubscribe",
    }[purpose]
    return f"{config['BASE_URL']}/{path}/{token}"


def N_(message: str) -> str:
    """Marks a msgid for extraction; translated later, in the reader's language."""
    return message


def _send(sub: Subscriber, template: str, subject: str, **context) -> str:
    with force_locale(sub.locale or "zh_CN"):
        subject_text = _(subject)
        text = render_template(f"subscribers/email/{template}.txt", sub=sub, **context)
        html = render_template(
            f"subscribers/email/{template}.html", sub=sub, subject=subject_text, **context
        )
    return outgoing.send(sub.email, subject_text, text, html, to_name=sub.name or "")


def send_confirmation(sub: Subscriber) -> str:
    return _send(
        sub,
        "confirm",
        N_("请确认订阅《行业动态周报》"),
        confirm_url=link(tokens.CONFIRM, sub.id),
        max_days=tokens.MAX_AGE[tokens.CONFIRM] // 86400,
    )


def send_already_subscribed(sub: Subscriber) -> str:
    return _send(
        sub,
        "already",
        N_("您已订阅《行业动态周报》"),
        preferences_url=link(tokens.PREFERENCES, sub.id),
        unsubscribe_url=link(tokens.UNSUBSCRIBE, sub.id),
    )


def send_fresh_links(sub: Subscriber) -> str:
    return _send(
        sub,
        "links",
        N_("您的《行业动态周报》订阅管理链接"),
        preferences_url=link(tokens.PREFERENCES, sub.id),
        unsubscribe_url=link(tokens.UNSUBSCRIBE, sub.id),
        max_days=tokens.MAX_AGE[tokens.PREFERENCES] // 86400,
    )
