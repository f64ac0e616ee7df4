"""Writing a send: its rendered variants and one delivery per recipient, in the caller's
transaction. The rules (approval, never twice, idempotency) are the service's
(`sends.service`); this module only writes what it is told, and counts who already has
the issue so the service can refuse or skip them.

Each distinct variant (edition x format x section choice) is rendered exactly once here;
workers only substitute the per-recipient placeholders.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Integer, cast, exists, false, func, select
from sqlalchemy.orm import Session

from newsletter.bulletin.models import Issue
from newsletter.delivery.audience import Recipient, in_audience, insert_deliveries, recipients
from newsletter.delivery.models import Delivery, DeliveryState, Send, SendVariant
from newsletter.delivery.pipeline import PipelineSettings, archive_url
from newsletter.delivery.tables import PAGE
from newsletter.render import Edition, render_edition
from newsletter.render.frame import language_of
from newsletter.timeutil import utcnow
from newsletter.tracking.links import rewrite_links, store_links
from subscribers.models import Group, Membership, Subscriber

# Deliveries in these states have not reached the reader and never will: a follow-up
# ("only those who have not received it yet") may send to them again. Every other state
# (queued, sending, deferred, sent, bounced, and any state the pipeline adds such as an
# in-doubt one) counts as received or on its way.
NOT_RECEIVED = (DeliveryState.FAILED, DeliveryState.CANCELLED)


def variant_key(edition: str, fmt: str, sections: list[str] | None, language: str = "zh_CN") -> str:
    """Names one rendering: edition x format x section choice (None: every section) x
    the frame's language (zh_CN keys carry no suffix, as before languages existed)."""
    key = f"{edition}|{fmt}|" + ("*" if sections is None else ",".join(sections))
    return key if language_of(language) == "zh_CN" else f"{key}|{language_of(language)}"


def _sections_for(all_sections: list[str], chosen: list[str] | None) -> list[str] | None:
    """The reader's choice restricted to this issue, in issue order; None when it is all."""
    if chosen is None:
        return None
    kept = [name for name in all_sections if name in set(chosen)]
    return None if len(kept) == len(all_sections) else kept


def received_condition(issue_id: int, email_column):
    """SQL: `email_column` already has (or is being sent) this issue by a real send."""
    return exists().where(
        Delivery.send_id == Send.id,
        Send.issue_id == issue_id,
        Send.is_test.is_(False),
        Delivery.email == email_column,
        Delivery.state.not_in(list(NOT_RECEIVED)),
    )


def received_among(
    session: Session, issue_id: int, emails: list[str], exclude_send: int | None = None
) -> set[str]:
    """Which of `emails` already have this issue (or have it on the way) by a real send."""
    if not emails:
        return set()
    query = (
        select(Delivery.email)
        .join(Send, Send.id == Delivery.send_id)
        .where(
            Send.issue_id == issue_id,
            Send.is_test.is_(False),
            Delivery.email.in_(emails),
            Delivery.state.not_in(list(NOT_RECEIVED)),
        )
    )
    if exclude_send is not None:
        query = query.where(Send.id != exclude_send)
    return set(session.scalars(query))


def received_count(session: Session, issue_id: int) -> int:
    """Distinct addresses that have the issue or have it on the way (real sends)."""
    return (
        session.scalar(
            select(func.count(func.distinct(Delivery.email)))
            .join(Send, Send.id == Delivery.send_id)
            .where(
                Send.issue_id == issue_id,
                Send.is_test.is_(False),
                Delivery.state.not_in(list(NOT_RECEIVED)),
            )
        )
        or 0
    )


@dataclass(frozen=True)
class Audience:
    """Who the groups reach now, and how many of them already have the issue."""

    priority: int  # would get the priority edition (not yet received)
    regular: int  # would get the regular edition (not yet received)
    received: int  # in the groups and already have it (or have it on the way)

    @property
    def new(self) -> int:
        return self.priority + self.regular

    @property
    def total(self) -> int:
        return self.new + self.received


def audience(session: Session, issue_id: int | None, group_codes: list[str]) -> Audience:
    """Counts for the send page in one query (suppressions are left to the send itself)."""
    now = utcnow()
    per_subscriber = (
        select(
            Subscriber.id,
            Subscriber.email,
            func.max(cast(Group.is_priority, Integer)).label("prio"),
        )
        .join(Membership, Membership.subscriber_id == Subscriber.id)
        .join(Group, Group.id == Membership.group_id)
        .where(*in_audience(group_codes, now))
        .group_by(Subscriber.id, Subscriber.email)
        .subquery()
    )
    got = received_condition(issue_id, per_subscriber.c.email) if issue_id is not None else false()
    rows = session.execute(
        select(per_subscriber.c.prio, got.label("got"), func.count()).group_by(
            per_subscriber.c.prio, "got"
        )
    ).all()
    counts = {(int(prio or 0), bool(g)): n for prio, g, n in rows}
    return Audience(
        priority=counts.get((1, False), 0),
        regular=counts.get((0, False), 0),
        received=counts.get((1, True), 0) + counts.get((0, True), 0),
    )


@dataclass
class Written:
    deliveries: int = 0
    skipped_received: int = 0  # in the groups but already had the issue


def populate(
    session: Session,
    settings: PipelineSettings,
    send: Send,
    issue: Issue,
    *,
    test_addresses: list[str] | None = None,
    test_edition: str = "regular",
    skip_received: bool = True,
) -> Written:
    """Render the send's variants and write its deliveries (not committed here).

    Recipients who already have the issue from a real send are skipped and counted; the
    service decides beforehand whether that is allowed (only_new) or a refusal.
    """
    doc = issue.to_doc()
    all_sections = [s.name for s in doc.sections]
    rendered_keys: set[str] = set()
    links: list[dict] = []  # one click table for every variant of the send
    written = Written()

    def variant(edition: str, fmt: str, sections: list[str] | None, language: str = "zh_CN") -> str:
        nonlocal links
        key = variant_key(edition, fmt, sections, language)
        if key not in rendered_keys:
            rendered = render_edition(
                doc,
                Edition(edition),
                sections=sections,
                language=language_of(language),
                archive_url=archive_url(settings, issue.number),
            )
            html, links = rewrite_links(rendered.html, links)
            subject = ("[测试] " + rendered.subject) if test_addresses else rendered.subject
            session.add(
                SendVariant(
                    send_id=send.id,
                    key=key,
                    edition=edition,
                    format=fmt,
                    sections=sections,
                    subject=subject,
                    html=html,
                    text=rendered.text,
                )
            )
            rendered_keys.add(key)
        return key

    def row(sid, email, name, edition, key) -> dict:
        now = utcnow()
        return {
            "send_id": send.id,
            "subscriber_id": sid,
            "email": email,
            "name": name,
            "edition": edition,
            "variant": key,
            "state": DeliveryState.QUEUED,
            "created_at": now,
            "updated_at": now,
        }

    if test_addresses:
        key = variant(test_edition, "html", None)
        rows = [
            row(None, a.strip().lower(), "", test_edition, key)
            for a in dict.fromkeys(test_addresses)
        ]
        insert_deliveries(session, rows)
        store_links(session, send.id, links)
        written.deliveries = len(rows)
        return written

    page: list[Recipient] = []

    def flush_page() -> None:
        have = (
            received_among(session, issue.id, [r.email for r in page], send.id)
            if skip_received
            else set()
        )
        rows = []
        for r in page:
            if r.email in have:
                written.skipped_received += 1
                continue
            edition = (Edition.PRIORITY if r.priority else Edition.REGULAR).value
            key = variant(edition, r.format, _sections_for(all_sections, r.sections), r.locale)
            rows.append(row(r.subscriber_id, r.email, r.name, edition, key))
        insert_deliveries(session, rows)
        written.deliveries += len(rows)
        page.clear()

    for recipient in recipients(session, send.group_codes):
        page.append(recipient)
        if len(page) >= PAGE:
            flush_page()
    flush_page()
    store_links(session, send.id, links)
    return written
