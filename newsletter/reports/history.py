"""The numbers across sends and readers: recent sends with their totals, trends per group
over the weeks, list growth per week, one subscriber's deliveries. Plain functions of a
session; no Flask. A send's totals and rates (and their definitions) are sendreport.py's.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import TypedDict

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.bulletin.models import Issue
from newsletter.delivery.models import Delivery, DeliveryEvent, EventKind, Send
from newsletter.reports.sendreport import Totals, aggregate, send_totals
from newsletter.timeutil import to_local, utcnow
from subscribers.models import Group, Subscriber, Suppression


def recent_sends(session: Session, limit: int = 30) -> list[tuple[Send, int, Totals]]:
    sends = session.execute(
        select(Send, Issue.number)
        .join(Issue, Issue.id == Send.issue_id)
        .order_by(Send.created_at.desc(), Send.id.desc())
        .limit(limit)
    ).all()
    return [(send, number, send_totals(session, send.id)) for send, number in sends]


def trends(
    session: Session, weeks: int = 52, now: dt.datetime | None = None, tz: str = "Asia/Shanghai"
) -> dict[str, object]:
    """Per real send of the last `weeks` weeks: audience, open and click rate per group."""
    since = (now or utcnow()) - dt.timedelta(weeks=weeks)
    sends = session.execute(
        select(Send, Issue.number)
        .join(Issue, Issue.id == Send.issue_id)
        .where(Send.is_test.is_(False), Send.created_at >= since)
        .order_by(Send.created_at, Send.id)
    ).all()
    groups = session.execute(select(Group.code, Group.name).order_by(Group.position)).all()
    labels: list[str] = []
    audience: dict[str, list[int | None]] = {}
    opens: dict[str, list[float | None]] = {}
    clicks: dict[str, list[float | None]] = {}
    for code, _ in groups:
        audience[code], opens[code], clicks[code] = [], [], []
    for send, number in sends:
        labels.append(f"第 {number} 期 {to_local(send.started_at or send.created_at, tz):%m-%d}")
        per = {t.key: t for t in aggregate(session, send.id, "group")}
        for code, _ in groups:
            t = per.get(code)
            audience[code].append(t.total if t else None)
            opens[code].append(t.open_rate if t else None)
            clicks[code].append(t.click_rate if t else None)
    used = [(code, name) for code, name in groups if any(v is not None for v in audience[code])]
    return {
        "labels": labels,
        "groups": [{"code": c, "name": n} for c, n in used],
        "audience": {c: audience[c] for c, _ in used},
        "open_rate": {c: opens[c] for c, _ in used},
        "click_rate": {c: clicks[c] for c, _ in used},
    }


def week_start(at: dt.datetime) -> dt.date:
    return (at - dt.timedelta(days=at.weekday())).date()


def list_growth(
    session: Session, weeks: int = 52, now: dt.datetime | None = None
) -> dict[str, list[int] | list[str]]:
    """Per ISO week (Monday, UTC): new subscribers, unsubscribes, bounce and complaint
    suppressions."""
    now = now or utcnow()
    first = week_start(now) - dt.timedelta(weeks=weeks - 1)
    since = dt.datetime.combine(first, dt.time())
    labels = [first + dt.timedelta(weeks=i) for i in range(weeks)]
    index = {d: i for i, d in enumerate(labels)}
    series = {k: [0] * weeks for k in ("subscribed", "unsubscribed", "bounced", "complained")}

    def count(name: str, stamps: Iterable[dt.datetime | None]) -> None:
        for at in stamps:
            assert at is not None, "each query's `>= since` leaves NULLs out"
            i = index.get(week_start(at))
            if i is not None:
                series[name][i] += 1

    count(
        "subscribed",
        session.scalars(select(Subscriber.confirmed_at).where(Subscriber.confirmed_at >= since)),
    )
    unsub_col = getattr(Subscriber, "unsubscribed_at", None)
    if unsub_col is not None:
        count("unsubscribed", session.scalars(select(unsub_col).where(unsub_col >= since)))
    else:  # older schema: the events recorded against deliveries
        count(
            "unsubscribed",
            session.scalars(
                select(DeliveryEvent.created_at).where(
                    DeliveryEvent.kind == EventKind.UNSUBSCRIBED, DeliveryEvent.created_at >= since
                )
            ),
        )
    for reason in ("bounced", "complained"):
        count(
            reason,
            session.scalars(
                select(Suppression.created_at).where(
                    Suppression.reason == reason, Suppression.created_at >= since
                )
            ),
        )
    return {"labels": [d.isoformat() for d in labels], **series}


class Received(TypedDict):
    delivery: Delivery
    number: int
    is_test: bool
    events: list[DeliveryEvent]


def subscriber_history(session: Session, subscriber_id: int, limit: int = 100) -> list[Received]:
    rows = session.execute(
        select(Delivery, Issue.number, Send.is_test)
        .join(Send, Send.id == Delivery.send_id)
        .join(Issue, Issue.id == Send.issue_id)
        .where(Delivery.subscriber_id == subscriber_id)
        .order_by(Delivery.created_at.desc(), Delivery.id.desc())
        .limit(limit)
    ).all()
    ids = [d.id for d, _, _ in rows]
    events: dict[int, list[DeliveryEvent]] = defaultdict(list)
    if ids:
        for e in session.scalars(
            select(DeliveryEvent)
            .where(DeliveryEvent.delivery_id.in_(ids))
            .order_by(DeliveryEvent.created_at, DeliveryEvent.id)
        ):
            events[e.delivery_id].append(e)
    return [
        {"delivery": d, "number": number, "is_test": is_test, "events": events[d.id]}
        for d, number, is_test in rows
    ]
