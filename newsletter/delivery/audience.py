"""Who a send reaches: its recipients, paged, and the delivery rows made for them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    Integer,
    cast,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.orm import Session

from newsletter.delivery.models import (
    Delivery,
)
from newsletter.delivery.tables import PAGE
from newsletter.timeutil import utcnow
from subscribers.models import (
    Group,
    Membership,
    Subscriber,
    SubscriberStatus,
    Suppression,
    email_hash,
)


@dataclass(frozen=True)
class Recipient:
    subscriber_id: int
    email: str
    name: str
    priority: bool  # in a priority group among the send's groups
    format: str  # "html" or "text"
    sections: list[str] | None
    tracking_opt_out: bool
    locale: str = "zh_CN"  # the email's frame language (render/frame.py)


def in_audience(group_codes: list[str], now: dt.datetime) -> tuple[ColumnElement[bool], ...]:
    """Who a send to these groups reaches (joined through Membership and Group): active,
    unpaused members. The one rule for the send itself and the send page's counts."""
    return (
        Group.code.in_(group_codes),
        Subscriber.status == SubscriberStatus.ACTIVE,
        or_(Subscriber.paused_until.is_(None), Subscriber.paused_until <= now),
    )


def recipients(session: Session, group_codes: list[str]) -> Iterator[Recipient]:
    """Active, unpaused, unsuppressed subscribers of the groups, once each, paged by id
    (memory stays flat however long the list)."""
    last_id = 0
    priority = func.max(cast(Group.is_priority, Integer))
    now = utcnow()
    while True:
        rows = session.execute(
            select(
                Subscriber.id,
                Subscriber.email,
                Subscriber.name,
                priority,
                Subscriber.format,
                Subscriber.sections,
                Subscriber.tracking_opt_out,
                Subscriber.locale,
            )
            .join(Membership, Membership.subscriber_id == Subscriber.id)
            .join(Group, Group.id == Membership.group_id)
            .where(*in_audience(group_codes, now), Subscriber.id > last_id)
            .group_by(Subscriber.id)
            .order_by(Subscriber.id)
            .limit(PAGE)
        ).all()
        if not rows:
            return
        hashes = {email_hash(r[1]): r for r in rows}
        suppressed = set(
            session.scalars(
                select(Suppression.email_hash).where(Suppression.email_hash.in_(hashes))
            )
        )
        for h, (sid, email, name, prio, fmt, sections, opt_out, locale) in hashes.items():
            if h not in suppressed:
                yield Recipient(
                    sid,
                    email,
                    name or "",
                    bool(prio),
                    fmt or "html",
                    sections,
                    bool(opt_out),
                    locale or "zh_CN",
                )
        last_id = rows[-1][0]


def insert_deliveries(session: Session, rows: list[dict]) -> None:
    if rows:
        session.execute(insert(Delivery), rows)
