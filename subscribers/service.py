"""What a reader can do without calling anyone: subscribe, confirm, set preferences,
unsubscribe, ask for a fresh link.

Plain functions taking the session; they raise `SubscriptionError` (a message a person can
act on) or `LinkError` (a link that is altered, expired or no longer valid), and never
touch the HTTP request. Whether an address is on the list is never told to the visitor:
the pages answer the same whatever happened, and the mailbox owner learns the rest by mail.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter.bulletin.models import Issue, IssueStatus, Section
from newsletter.timeutil import utcnow
from subscribers import mail, tokens
from subscribers.models import (
    Group,
    Membership,
    Subscriber,
    SubscriberStatus,
    SubscriptionRequest,
    Suppression,
    SuppressionReason,
    email_hash,
    normalise_email,
)
from subscribers.suppression import add_suppression, is_suppressed

__all__ = ["add_suppression", "is_suppressed"]  # the suppression list's, offered here too

# Offered when no issue exists yet (the sections of a usual week).
DEFAULT_SECTIONS = ["要闻", "行业", "内容", "技术", "资本", "人事", "研究"]
SUMMARY = "摘要"  # always in the email: not a choice
RECENT_ISSUES = 4  # the section choices come from this many latest SENT issues
MAX_SECTION_CHOICES = 30  # and at most this many names (the anonymous form stays small)
LOCALES = ("zh_CN", "en")
FORMATS = ("html", "text")
MAX_PAUSE_WEEKS = 26
# itsdangerous signs whole seconds; allow for that when comparing with created_at.
_CLOCK_SLACK = dt.timedelta(seconds=2)
RECEIVING = (SubscriberStatus.ACTIVE, SubscriberStatus.PAUSED)


class SubscriptionError(ValueError):
    """The request cannot be done as asked; the message says why, in the reader's language."""


class LinkError(SubscriptionError):
    def __init__(self, message: str, expired: bool = False):
        super().__init__(message)
        self.expired = expired


@dataclass
class Choices:
    """What a reader picks on the subscribe page or in the preference center."""

    name: str = ""
    organisation: str = ""
    groups: list[str] = field(default_factory=list)  # self-service group codes
    sections: list[str] | None = None  # None: every section
    locale: str = "zh_CN"
    format: str = "html"
    pause_weeks: int | None = None  # None: leave the pause as it is
    tracking_opt_out: bool = False


# --- look-ups ---------------------------------------------------------------------------


def check_address(raw: str) -> str:
    """The address as stored (normalised); SubscriptionError with a clear message if invalid.

    No DNS look-up unless EMAIL_CHECK_DNS is set: the form must work without network.
    """
    raw = (raw or "").strip()
    if not raw:
        raise SubscriptionError(_("请填写邮箱地址。"))
    try:
        result = validate_email(
            raw, check_deliverability=current_app.config["EMAIL_CHECK_DNS"], allow_smtputf8=False
        )
    except EmailNotValidError:
        raise SubscriptionError(
            _(
                "“%(address)s”不是有效的邮箱地址，请检查后重新填写（例如 name@example.com）。",
                address=raw[:80],
            )
        ) from None
    return normalise_email(result.normalized)


def check_text(value: str, label: str, max_len: int = 200) -> str:
    value = (value or "").strip()
    if len(value) > max_len:
        raise SubscriptionError(_("%(label)s最多 %(n)s 个字。", label=label, n=max_len))
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise SubscriptionError(_("%(label)s不能包含换行或控制字符。", label=label))
    return value


def self_service_groups(session: Session) -> list[Group]:
    return list(
        session.scalars(select(Group).where(Group.self_service.is_(True)).order_by(Group.position))
    )


def section_choices(session: Session, keep: list[str] | None = None) -> list[str]:
    """Section names of the latest sent issues (never a draft: the anonymous form must not
    show unpublished work, nor pay for its size), newest issue's order first, at most
    MAX_SECTION_CHOICES; the default list if nothing was sent yet. Names in `keep` (a
    reader's current picks, themselves chosen from this list) are never dropped."""
    latest = (
        select(Issue.id)
        .where(Issue.status == IssueStatus.SENT)
        .order_by(Issue.number.desc())
        .limit(RECENT_ISSUES)
        .subquery()
    )
    rows = session.execute(
        select(Section.name)
        .join(Issue, Issue.id == Section.issue_id)
        .where(Section.issue_id.in_(select(latest.c.id)))
        .order_by(Issue.number.desc(), Section.position)
        .limit(RECENT_ISSUES * MAX_SECTION_CHOICES)
    ).scalars()
    names = [n for n in dict.fromkeys(rows) if n != SUMMARY][:MAX_SECTION_CHOICES]
    names = names or list(DEFAULT_SECTIONS)
    return names + [n for n in dict.fromkeys(keep or []) if n not in names][:MAX_SECTION_CHOICES]


def subscriber_from_token(session: Session, purpose: str, token: str) -> Subscriber:
    """The subscriber a signed link names; LinkError if the link is altered, expired,
    or names someone who no longer exists (or a later row that reused the id)."""
    return read_link(session, purpose, token)[0]


def read_link(session: Session, purpose: str, token: str) -> tuple[Subscriber, dt.datetime]:
    """`subscriber_from_token`, plus when the link was signed (naive UTC)."""
    try:
        sub_id, signed_at = tokens.read_token_issued(
            current_app.config["SECRET_KEY"], purpose, token
        )
    except tokens.TokenError as exc:
        if exc.expired:
            raise LinkError(_("这个链接已过期。"), expired=True) from None
        raise LinkError(_("这个链接无效：可能复制不完整，或已被改动。")) from None
    sub = session.get(Subscriber, sub_id)
    if sub is None or signed_at + _CLOCK_SLACK < sub.created_at:
        raise LinkError(_("这个链接已失效：对应的订阅已不存在。"))
    return sub, signed_at


def _groups_by_code(session: Session, codes: list[str], self_service_only: bool) -> list[Group]:
    wanted = list(dict.fromkeys(codes))
    query = select(Group).where(Group.code.in_(wanted))
    if self_service_only:
        query = query.where(Group.self_service.is_(True))
    found = {g.code: g for g in session.scalars(query)}
    missing = [c for c in wanted if c not in found]
    if missing:
        raise SubscriptionError(_("无法选择的分组：%(codes)s", codes="、".join(missing)))
    return [found[c] for c in wanted]


def _set_self_service_groups(session: Session, sub: Subscriber, codes: list[str]) -> None:
    """Replace the reader's self-service memberships; staff-assigned ones (报) stay."""
    chosen = {g.id: g for g in _groups_by_code(session, codes, self_service_only=True)}
    for m in list(sub.memberships):
        if m.group.self_service and m.group_id not in chosen:
            sub.memberships.remove(m)
    have = {m.group_id for m in sub.memberships}
    for gid, group in chosen.items():
        if gid not in have:
            sub.memberships.append(Membership(group=group))


def _clean_sections(sections: list[str] | None, offered: list[str]) -> list[str] | None:
    if sections is None:
        return None
    picked = [s for s in dict.fromkeys(sections) if s != SUMMARY]
    if not picked:
        raise SubscriptionError(_("请至少选择一个栏目。"))
    # Everything offered: store None, so sections added to the weekly later come too.
    return None if set(offered) <= set(picked) else picked


# --- subscribe and confirm ----------------------------------------------------------------


def subscribe(session: Session, address: str, choices: Choices) -> str:
    """Start a double opt-in for `address`. Returns what happened ("new", "pending",
    "already"), for logs and tests only: the page answers the same whatever it is.

    Nothing about an address already on file changes here (a stranger could be typing it):
    one that receives the weekly gets a mail with the link to its preference center; any
    other (pending, unsubscribed, bounced, suppressed) gets a confirmation link, and what
    was asked waits in a SubscriptionRequest until that link is confirmed.
    """
    address = check_address(address)
    name = check_text(choices.name, _("姓名"))
    organisation = check_text(choices.organisation, _("单位"))
    if not choices.groups:
        raise SubscriptionError(_("请至少选择一个分组。"))
    sections = _clean_sections(choices.sections, section_choices(session))
    groups = [g.code for g in _groups_by_code(session, choices.groups, self_service_only=True)]
    locale = choices.locale if choices.locale in LOCALES else "zh_CN"
    sub = session.scalar(select(Subscriber).where(Subscriber.email == address))
    if sub is not None and sub.status in RECEIVING:
        mail.send_already_subscribed(sub)
        return "already"
    outcome = "pending" if sub is not None else "new"
    if sub is None:  # a new address: nobody's data to protect, the row waits as pending
        sub = Subscriber(
            email=address,
            status=SubscriberStatus.PENDING,
            source="form",
            name=name,
            organisation=organisation,
            sections=sections,
            locale=locale,
        )
        session.add(sub)
        _set_self_service_groups(session, sub, groups)
    sub.requests.append(
        SubscriptionRequest(
            choices={
                "name": name,
                "organisation": organisation,
                "groups": groups,
                "sections": sections,
                "locale": locale,
            }
        )
    )
    try:
        session.commit()
    except IntegrityError:  # the same new address submitted twice at once
        session.rollback()
        return subscribe(session, address, choices) if outcome == "new" else outcome
    mail.send_confirmation(sub)
    return outcome


def _request_for(sub: Subscriber, signed_at: dt.datetime | None) -> SubscriptionRequest | None:
    """The request a confirmation link was mailed for: the newest one made before the link
    was signed, and after the address last left the list (an old link cannot bring back an
    address that unsubscribed since)."""
    since = sub.unsubscribed_at or dt.datetime.min
    eligible = [
        r
        for r in sub.requests
        if r.created_at > since and (signed_at is None or r.created_at <= signed_at + _CLOCK_SLACK)
    ]
    return max(eligible, key=lambda r: (r.created_at, r.id), default=None)


def confirm(session: Session, sub: Subscriber, signed_at: dt.datetime | None = None) -> bool:
    """Activate a subscriber from its confirmation link (opened and the button pressed):
    a pending one, or one that left the list and asked to come back. The request the link
    was sent for is applied now, not before. Returns False if they were active already
    (the link is idempotent). A confirmed opt-in is fresh consent: it lifts the address's
    suppression — the only way a suppressed address comes back.
    """
    if sub.status in RECEIVING:
        return False
    request = _request_for(sub, signed_at)
    if sub.status != SubscriberStatus.PENDING and request is None:
        raise LinkError(_("这个确认链接已失效：该地址已退订。如需再次订阅，请重新填写订阅表单。"))
    if request is not None:
        wanted = request.choices
        sub.name, sub.organisation = wanted["name"], wanted["organisation"]
        sub.sections, sub.locale = wanted["sections"], wanted["locale"]
        try:
            _set_self_service_groups(session, sub, wanted["groups"])
        except SubscriptionError:  # a group closed since: keep the others
            _set_self_service_groups(
                session,
                sub,
                [g.code for g in self_service_groups(session) if g.code in wanted["groups"]],
            )
    sub.status = SubscriberStatus.ACTIVE
    sub.confirmed_at = utcnow()
    sub.unsubscribed_at = None
    sub.requests.clear()
    session.execute(delete(Suppression).where(Suppression.email_hash == email_hash(sub.email)))
    session.commit()
    return True


# --- preference center ----------------------------------------------------------------------


def save_preferences(session: Session, sub: Subscriber, choices: Choices) -> None:
    """Store what the reader chose; nothing is written if any of it is invalid."""
    if sub.status not in RECEIVING and sub.status != SubscriberStatus.PENDING:
        raise SubscriptionError(_("该地址已退订，无法修改偏好。如需再次订阅，请重新填写订阅表单。"))
    name = check_text(choices.name, _("姓名"))
    organisation = check_text(choices.organisation, _("单位"))
    staff_groups = [m.group for m in sub.memberships if not m.group.self_service]
    if not choices.groups and not staff_groups:
        raise SubscriptionError(
            _("请至少选择一个分组；如不想再收到周报，请使用页面下方的“退订全部”。")
        )
    if choices.format not in FORMATS:
        raise SubscriptionError(_("未知的邮件格式。"))
    if choices.locale not in LOCALES:
        raise SubscriptionError(_("未知的语言。"))
    if choices.pause_weeks is not None and not 0 <= choices.pause_weeks <= MAX_PAUSE_WEEKS:
        raise SubscriptionError(_("暂停周数须在 0 到 %(n)s 之间。", n=MAX_PAUSE_WEEKS))
    sections = _clean_sections(choices.sections, section_choices(session, sub.sections))
    try:
        _set_self_service_groups(session, sub, choices.groups)
    except SubscriptionError:
        session.rollback()
        raise
    sub.name, sub.organisation, sub.sections = name, organisation, sections
    sub.format, sub.locale = choices.format, choices.locale
    sub.tracking_opt_out = bool(choices.tracking_opt_out)
    if choices.pause_weeks is not None:
        # Status stays as it is: the send skips a subscriber while paused_until lies ahead,
        # so the pause ends by itself with no job to run.
        sub.paused_until = (
            utcnow() + dt.timedelta(weeks=choices.pause_weeks) if choices.pause_weeks else None
        )
    session.commit()


# --- unsubscribe --------------------------------------------------------------------------


def unsubscribe(session: Session, sub: Subscriber, keep_groups: Sequence[str] = ()) -> str:
    """Unsubscribe from everything, or (with `keep_groups`) only leave the other groups.

    Returns "partial" or "unsubscribed". Idempotent: unsubscribing twice is harmless.
    """
    keep = set(keep_groups) & {m.group.code for m in sub.memberships}
    if keep and sub.status in RECEIVING:
        for m in list(sub.memberships):
            if m.group.code not in keep:
                sub.memberships.remove(m)
        session.commit()
        return "partial"
    unsubscribe_by_id(session, sub.id)
    return "unsubscribed"


def unsubscribe_by_id(session: Session, subscriber_id: int) -> bool:
    """The one-click path (RFC 8058): one UPDATE and the suppression entry. Returns False
    for an id that no longer exists; calling it again changes nothing."""
    address = session.scalar(select(Subscriber.email).where(Subscriber.id == subscriber_id))
    if address is None:
        return False
    changed = session.execute(  # type: ignore[attr-defined]  # an UPDATE answers a CursorResult
        update(Subscriber)
        .where(Subscriber.id == subscriber_id, Subscriber.status != SubscriberStatus.UNSUBSCRIBED)
        .values(status=SubscriberStatus.UNSUBSCRIBED, unsubscribed_at=utcnow(), paused_until=None)
        .execution_options(synchronize_session="fetch")
    ).rowcount
    add_suppression(session, address, SuppressionReason.UNSUBSCRIBED)
    if changed:  # the reports count an unsubscribe against the mail that prompted it
        from newsletter.tracking.intake import record_unsubscribe

        record_unsubscribe(session, subscriber_id)
    session.commit()
    return True


def one_click_unsubscribe(session: Session, token: str) -> None:
    """Authenticated by the signed token alone; LinkError if the token is not good."""
    sub = subscriber_from_token(session, tokens.UNSUBSCRIBE, token)
    unsubscribe_by_id(session, sub.id)


# --- fresh links ------------------------------------------------------------------------------


def send_fresh_link(session: Session, address: str) -> str:
    """Mail new links to `address` if it is on the list; the caller shows the same page
    either way. Returns what was done ("links", "confirmation", "none")."""
    address = check_address(address)
    sub = session.scalar(select(Subscriber).where(Subscriber.email == address))
    if sub is None:
        return "none"
    if sub.status in RECEIVING:
        mail.send_fresh_links(sub)
        return "links"
    if sub.status == SubscriberStatus.PENDING:
        mail.send_confirmation(sub)
        return "confirmation"
    return "none"  # unsubscribed, bounced, suppressed: nothing is mailed to them
