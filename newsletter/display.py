"""How the staff pages say things: one date format, one issue-number spelling, and the
names of states, editions and groups in the page's language.

Registered once by `create_app` (`register(app)`): the `when` filter, the `issue_no`
filter, the `say` filter (phrases of delivery) and the `label(kind, code)` / `group_label(code)` globals. Every page uses these,
so no page shows `done` or `leadership` or a second date format.
"""

from __future__ import annotations

import datetime as dt

from flask import current_app, has_app_context, has_request_context, request
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from newsletter import states
from newsletter.config import BY_ENV
from newsletter.phrase import Phrase
from newsletter.timeutil import to_local

DATE_FORMAT = "%Y-%m-%d"
DATETIME_FORMAT = "%Y-%m-%d %H:%M"
_GROUPS_KEY = "newsletter.group_names"

LABELS: dict[str, dict[str, object]] = {
    # a send (delivery/models.SendStatus): named in newsletter/states.py
    "send": {code: _l(name) for code, name in states.SEND.items()},
    # one email (delivery/models.DeliveryState) and the report's soft bounces
    "delivery": {
        "queued": _l("排队中"),
        "sending": _l("发送中"),
        "deferred": _l("延迟重试"),
        "sent": _l("已送达"),
        "failed": _l("失败"),
        "bounced": _l("退信"),
        "cancelled": _l("已取消"),
        "soft": _l("软退信"),
    },
    # tracking events
    "event": {
        "queued": _l("排队"),
        "sent": _l("已发送"),
        "deferred": _l("延迟"),
        "failed": _l("失败"),
        "bounced": _l("退信"),
        "opened": _l("打开"),
        "clicked": _l("点击"),
        "unsubscribed": _l("退订"),
        "complained": _l("投诉"),
    },
    # where an issue stands (review/models.WorkflowState): named in newsletter/states.py
    "workflow": {code: _l(name) for code, name in states.WORKFLOW.items()},
    # an issue's own status (bulletin/models.IssueStatus): named in newsletter/states.py
    "issue": {code: _l(name) for code, name in states.ISSUE.items()},
    "subscriber": {
        "pending": _l("待确认"),
        "active": _l("正常"),
        "paused": _l("暂停"),
        "unsubscribed": _l("已退订"),
        "bounced": _l("已退信"),
        "suppressed": _l("禁发"),
    },
    # the steps of an issue's review history (review/models.ReviewAction): newsletter/states.py
    "review_action": {code: _l(name) for code, name in states.REVIEW_ACTION.items()},
    "edition": {"regular": _l("普通版"), "priority": _l("领导版")},
    "format": {"html": _l("HTML"), "text": _l("纯文本")},
    "role": {
        "editor": _l("编辑人员"),
        "reviewer": _l("复核人员"),
        "sender": _l("发送人员"),
        "admin": _l("管理员"),
    },
    "via": {"web": _l("网页"), "api": _l("API"), "cli": _l("命令行")},
}


def label(kind: str, code) -> str:
    """The person-readable name of `code` (a StrEnum or str); unknown codes as they are."""
    code = getattr(code, "value", code)
    name = LABELS.get(kind, {}).get(code)
    return str(name) if name is not None else ("" if code is None else str(code))


def _tz() -> str:
    if has_app_context():
        return current_app.config["BABEL_DEFAULT_TIMEZONE"]
    return BY_ENV["TIMEZONE"].default


def when(value, empty: str = "") -> str:
    """`2026-12-01 16:05` (naive UTC from the database, shown in Asia/Shanghai);
    a date alone as `2026-12-01`; None as `empty`."""
    if value is None or value == "":
        return empty
    if isinstance(value, dt.datetime):
        return to_local(
            value if value.tzinfo is None else value.astimezone(dt.UTC).replace(tzinfo=None), _tz()
        ).strftime(DATETIME_FORMAT)
    if isinstance(value, dt.date):
        return value.strftime(DATE_FORMAT)
    return str(value)


def issue_no(number) -> str:
    """ "第 397 期" (with spaces, as the subjects spell it too)."""
    return gettext("第 %(n)s 期", n=number)


def group_names_by_code() -> dict[str, str]:
    """code -> name of every group, read once per request."""
    # Kept in the WSGI environ, not `g`: tests reuse one app context across requests.
    env = request.environ if has_request_context() else {}
    cached = env.get(_GROUPS_KEY)
    if cached is None:
        from newsletter.extensions import db
        from subscribers.models import Group

        cached = dict(db.session.execute(db.select(Group.code, Group.name)).all())
        if has_request_context():
            env[_GROUPS_KEY] = cached
    return cached


def group_label(code: str) -> str:
    return group_names_by_code().get(code, code)


def group_list(codes) -> str:
    """ "协会领导、协会会员单位" for ["leadership", "members"]."""
    return "、".join(group_label(c) for c in (codes or []))


def say(words: Phrase | dict | str | None, fallback: str | None = None) -> str:
    """A phrase of delivery or a service (newsletter/phrase.py), or one stored as data
    (`Phrase.to_json`), in the page's language; plain text (stored before phrases, or
    someone's own words) as it is; `fallback` when there are no words."""
    if isinstance(words, dict):
        words = Phrase.from_json(words)
    if isinstance(words, Phrase):
        return words.text(gettext)
    return words or fallback or ""


def say_parser(message: str) -> str:
    """A parser message (English, for the CLI and logs: bulletin/parse_messages.py) in the
    language of the page or API request."""
    from flask_babel import get_locale

    from newsletter.bulletin import parse_messages

    return message if str(get_locale()).startswith("en") else parse_messages.zh(message)


def register(app) -> None:
    app.jinja_env.filters["say"] = say
    app.jinja_env.filters["when"] = when
    app.jinja_env.filters["issue_no"] = issue_no
    app.jinja_env.filters["groups"] = group_list
    from subscribers.models import scrub_addresses

    app.jinja_env.filters["scrub"] = scrub_addresses
    app.jinja_env.globals.update(label=label, group_label=group_label, LABELS=LABELS)
