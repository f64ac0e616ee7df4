"""The numbers behind one send's report page (and the API's send report): totals and rates,
by edition and group, timeline, top links, failures, the per-delivery CSV rows. Plain
functions of a session; no Flask. The numbers across sends and readers are history.py's.

Definitions (the tests compute the same from the events independently):
* delivered: deliveries in state `sent` (accepted, not bounced since);
* failed / bounced: states `failed` / `bounced` (hard); soft: deliveries with a soft bounce;
* opens, clicks: events not flagged as bots; unique = deliveries with at least one;
* open rate = unique opens / delivered; click rate = unique clicks / delivered;
* by group: the groups of the send the subscriber belongs to *now* (a reader in two groups
  counts in both; test sends have no groups).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TypedDict

from sqlalchemy import ColumnElement, Subquery, and_, case, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from newsletter.delivery.models import Delivery, DeliveryEvent, DeliveryState, EventKind, Send
from newsletter.tracking.models import TrackedEvent, TrackedLink
from subscribers.models import Group, Membership

TIMELINE_HOURS = 72


@dataclass
class Totals:
    key: str = ""
    total: int = 0
    delivered: int = 0
    failed: int = 0
    bounced: int = 0
    soft_bounced: int = 0
    unique_opens: int = 0
    opens: int = 0
    bot_opens: int = 0
    unique_clicks: int = 0
    clicks: int = 0
    unsubscribes: int = 0
    complaints: int = 0
    # Not a count: the group's name, set by by_group (keyword-only, so the counts can be
    # given in column order).
    label: str = field(default="", kw_only=True)

    @staticmethod
    def _rate(part: int, whole: int) -> float:
        return round(100.0 * part / whole, 1) if whole else 0.0

    @property
    def delivered_rate(self) -> float:
        return self._rate(self.delivered, self.total)

    @property
    def open_rate(self) -> float:
        return self._rate(self.unique_opens, self.delivered)

    @property
    def click_rate(self) -> float:
        return self._rate(self.unique_clicks, self.delivered)

    @property
    def bounce_rate(self) -> float:
        return self._rate(self.bounced, self.total)


def _per_delivery(
    send_id: int,
    where: ColumnElement[bool],
    kind_col: InstrumentedAttribute[str],
    kind: str,
    model: type[TrackedEvent] | type[DeliveryEvent] = TrackedEvent,
) -> Subquery:
    """(delivery_id, n) of one kind of event of the send's deliveries."""
    return (
        select(model.delivery_id.label("did"), func.count().label("n"))
        .where(where, kind_col == kind)
        .group_by(model.delivery_id)
        .subquery()
    )


def aggregate(session: Session, send_id: int, by: str | None) -> list[Totals]:
    """The send's Totals: one row (by None), or one per edition / group code (also trends')."""
    te, de = TrackedEvent, DeliveryEvent
    human = and_(te.send_id == send_id, te.bot == "")
    opens = _per_delivery(send_id, human, te.kind, EventKind.OPENED)
    bots = _per_delivery(
        send_id, and_(te.send_id == send_id, te.bot != ""), te.kind, EventKind.OPENED
    )
    clicks = _per_delivery(send_id, human, te.kind, EventKind.CLICKED)
    soft = _per_delivery(
        send_id, and_(te.send_id == send_id, te.bounce == "soft"), te.kind, EventKind.BOUNCED
    )
    in_send = de.delivery_id.in_(select(Delivery.id).where(Delivery.send_id == send_id))
    unsub = _per_delivery(send_id, in_send, de.kind, EventKind.UNSUBSCRIBED, de)
    compl = _per_delivery(send_id, in_send, de.kind, EventKind.COMPLAINED, de)

    def has(sq: Subquery) -> ColumnElement[int]:
        return func.sum(case((sq.c.n > 0, 1), else_=0))

    def state(s: str) -> ColumnElement[int]:
        return func.sum(case((Delivery.state == s, 1), else_=0))

    cols = [
        func.count(Delivery.id),
        state(DeliveryState.SENT),
        state(DeliveryState.FAILED),
        state(DeliveryState.BOUNCED),
        has(soft),
        has(opens),
        func.sum(opens.c.n),
        func.sum(bots.c.n),
        has(clicks),
        func.sum(clicks.c.n),
        has(unsub),
        has(compl),
    ]
    key = {"edition": Delivery.edition, "group": Group.code, None: None}[by]
    q = select(*([key] if key is not None else []), *cols).select_from(Delivery)
    for sq in (opens, bots, clicks, soft, unsub, compl):
        q = q.outerjoin(sq, sq.c.did == Delivery.id)
    q = q.where(Delivery.send_id == send_id)
    if by == "group":
        codes = session.scalar(select(Send.group_codes).where(Send.id == send_id)) or []
        q = (
            q.join(Membership, Membership.subscriber_id == Delivery.subscriber_id)
            .join(Group, Group.id == Membership.group_id)
            .where(Group.code.in_(codes))
        )
    if key is not None:
        q = q.group_by(key).order_by(key)
    out: list[Totals] = []
    for row in session.execute(q).all():
        values = [int(v or 0) for v in (row[1:] if key is not None else row)]
        out.append(Totals(str(row[0]) if key is not None else "", *values))
    return out


def send_totals(session: Session, send_id: int) -> Totals:
    return aggregate(session, send_id, None)[0]


def by_edition(session: Session, send_id: int) -> list[Totals]:
    return aggregate(session, send_id, "edition")


def by_group(session: Session, send_id: int) -> list[Totals]:
    names = dict(session.execute(select(Group.code, Group.name)).all())
    rows = aggregate(session, send_id, "group")
    order = {
        code: i
        for i, code in enumerate(session.scalars(select(Group.code).order_by(Group.position)))
    }
    for row in rows:
        row.label = names.get(row.key, row.key)
    return sorted(rows, key=lambda r: order.get(r.key, 999))


def timeline(session: Session, send: Send, hours: int = TIMELINE_HOURS) -> dict[str, list[int]]:
    """Messages accepted, opens and clicks per hour over the first `hours` of the send."""
    start = send.started_at or send.created_at
    end = start + dt.timedelta(hours=hours)
    series = {"sent": [0] * hours, "opens": [0] * hours, "clicks": [0] * hours}
    sent = session.scalars(
        select(DeliveryEvent.created_at)
        .join(Delivery, Delivery.id == DeliveryEvent.delivery_id)
        .where(
            Delivery.send_id == send.id,
            DeliveryEvent.kind == EventKind.SENT,
            DeliveryEvent.created_at >= start,
            DeliveryEvent.created_at < end,
        )
    )
    tracked = session.execute(
        select(TrackedEvent.kind, TrackedEvent.created_at).where(
            TrackedEvent.send_id == send.id,
            TrackedEvent.bot == "",
            TrackedEvent.kind.in_([EventKind.OPENED, EventKind.CLICKED]),
            TrackedEvent.created_at >= start,
            TrackedEvent.created_at < end,
        )
    )
    for name, stamps in (("sent", ((None, t) for t in sent)), (None, tracked)):
        for kind, at in stamps:
            bucket = int((at - start).total_seconds() // 3600)
            series[name or ("opens" if kind == EventKind.OPENED else "clicks")][bucket] += 1
    return {"labels": list(range(hours)), **series}


class LinkClicks(TypedDict):
    n: int
    clicks: int
    unique: int
    url: str
    label: str
    article: str | None  # the article's anchor ("a-5"), or None for other links


def top_links(session: Session, send_id: int, limit: int = 10) -> list[LinkClicks]:
    te = TrackedEvent
    rows = session.execute(
        select(te.link_n, func.count(), func.count(func.distinct(te.delivery_id)))
        .where(
            te.send_id == send_id,
            te.kind == EventKind.CLICKED,
            te.bot == "",
            te.link_n.is_not(None),
        )
        .group_by(te.link_n)
        .order_by(func.count().desc(), te.link_n)
        .limit(limit)
    ).all()
    links = {
        link.n: link
        for link in session.scalars(select(TrackedLink).where(TrackedLink.send_id == send_id))
    }
    out: list[LinkClicks] = []
    for n, clicks, unique in rows:
        assert n is not None, "the query keeps link_n IS NOT NULL"
        link = links.get(n)
        out.append(
            {
                "n": n,
                "clicks": clicks,
                "unique": unique,
                "url": link.url if link else "",
                "label": link.label if link else "",
                "article": link.article if link else None,
            }
        )
    return out


class Failure(TypedDict):
    id: int
    email: str
    state: str  # failed | bounced | soft
    reason: str
    at: dt.datetime


def failures(
    session: Session, send_id: int, limit: int = 200
) -> tuple[list[Failure], list[tuple[str, int]]]:
    """(rows, [(reason, count)]): failed and hard-bounced deliveries, then soft bounces."""
    hard = session.execute(
        select(
            Delivery.id, Delivery.email, Delivery.state, Delivery.last_error, Delivery.updated_at
        )
        .where(
            Delivery.send_id == send_id,
            Delivery.state.in_([DeliveryState.FAILED, DeliveryState.BOUNCED]),
        )
        .order_by(Delivery.id)
        .limit(limit)
    ).all()
    soft = session.execute(
        select(Delivery.id, Delivery.email, DeliveryEvent.detail, DeliveryEvent.created_at)
        .join(DeliveryEvent, DeliveryEvent.delivery_id == Delivery.id)
        .join(TrackedEvent, TrackedEvent.event_id == DeliveryEvent.id)
        .where(Delivery.send_id == send_id, TrackedEvent.bounce == "soft")
        .order_by(Delivery.id)
        .limit(limit)
    ).all()
    rows: list[Failure] = [
        {"id": r[0], "email": r[1], "state": r[2], "reason": r[3] or "", "at": r[4]} for r in hard
    ]
    rows += [{"id": r[0], "email": r[1], "state": "soft", "reason": r[2], "at": r[3]} for r in soft]
    reasons = Counter(_reason_key(r["state"], r["reason"]) for r in rows)
    return rows, reasons.most_common(10)


def _reason_key(state: str, reason: str) -> str:
    words = reason.split()
    if state in ("bounced", "soft") and len(words) >= 2:
        return " ".join(words[:2])  # "hard 5.1.1"
    return reason[:60] or state


class DeliveryStats(TypedDict):
    opens: int
    first_open: dt.datetime | None
    clicks: int
    links: set[int]  # the numbers of the links clicked (a click with none is counted only)
    soft: int


def delivery_rows(session: Session, send_id: int) -> Iterator[tuple[Delivery, DeliveryStats]]:
    """One row per delivery for the CSV export, paged by id."""
    te = TrackedEvent
    last = 0
    while True:
        batch = (
            session.execute(
                select(Delivery)
                .where(Delivery.send_id == send_id, Delivery.id > last)
                .order_by(Delivery.id)
                .limit(1000)
            )
            .scalars()
            .all()
        )
        if not batch:
            return
        ids = [d.id for d in batch]
        stats: dict[int, DeliveryStats] = defaultdict(
            lambda: DeliveryStats(opens=0, first_open=None, clicks=0, links=set(), soft=0)
        )
        for did, kind, at, n, bot, bounce in session.execute(
            select(te.delivery_id, te.kind, te.created_at, te.link_n, te.bot, te.bounce).where(
                te.delivery_id.in_(ids)
            )
        ):
            s = stats[did]
            if kind == EventKind.OPENED and not bot:
                s["opens"] += 1
                s["first_open"] = min(filter(None, (s["first_open"], at)))
            elif kind == EventKind.CLICKED and not bot:
                s["clicks"] += 1
                if n is not None:  # link_n is nullable: a click of no known link
                    s["links"].add(n)
            elif bounce == "soft":
                s["soft"] += 1
        for d in batch:
            yield d, stats[d.id]
        last = ids[-1]
