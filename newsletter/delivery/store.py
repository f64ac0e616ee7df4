"""The SQL the send pipeline needs, and nothing else. Every function takes the session.

Deliveries move between states only through the guarded UPDATEs here: a claim succeeds
only for rows still waiting, so two workers (or a job enqueued twice) can never both send
the same delivery.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy import Integer, and_, cast, func, insert, or_, select, update
from sqlalchemy.orm import Session

from newsletter.delivery.models import Delivery, DeliveryEvent, DeliveryState, Send
from newsletter.timeutil import utcnow
from subscribers.models import (
    Group, Membership, Subscriber, SubscriberStatus, Suppression, email_hash,
)
from subscribers.suppression import suppress_subscriber

PAGE = 1000


@dataclass(frozen=True)
class Recipient:
    subscriber_id: int
    email: str
    name: str
    priority: bool            # in a priority group among the send's groups
    format: str               # "html" or "text"
    sections: list[str] | None
    tracking_opt_out: bool


def recipients(session: Session, group_codes: list[str]) -> Iterator[Recipient]:
    """Active, unpaused, unsuppressed subscribers of the groups, once each, paged by id
    (memory stays flat however long the list)."""
    last_id = 0
    priority = func.max(cast(Group.is_priority, Integer))
    now = utcnow()
    while True:
        rows = session.execute(
            select(Subscriber.id, Subscriber.email, Subscriber.name, priority, Subscriber.format,
                   Subscriber.sections, Subscriber.tracking_opt_out)
            .join(Membership, Membership.subscriber_id == Subscriber.id)
            .join(Group, Group.id == Membership.group_id)
            .where(Group.code.in_(group_codes), Subscriber.status == SubscriberStatus.ACTIVE,
                   or_(Subscriber.paused_until.is_(None), Subscriber.paused_until <= now),
                   Subscriber.id > last_id)
            .group_by(Subscriber.id)
            .order_by(Subscriber.id)
            .limit(PAGE)
        ).all()
        if not rows:
            return
        hashes = {email_hash(r[1]): r for r in rows}
        suppressed = set(session.scalars(
            select(Suppression.email_hash).where(Suppression.email_hash.in_(hashes))
        ))
        for h, (sid, email, name, prio, fmt, sections, opt_out) in hashes.items():
            if h not in suppressed:
                yield Recipient(sid, email, name or "", bool(prio), fmt or "html",
                                sections, bool(opt_out))
        last_id = rows[-1][0]


def audience_counts(session: Session, group_codes: list[str]) -> dict[str, int]:
    """How many would get each edition if the groups were sent to now (one per person)."""
    now = utcnow()
    per_subscriber = (
        select(Subscriber.id, func.max(cast(Group.is_priority, Integer)).label("prio"))
        .join(Membership, Membership.subscriber_id == Subscriber.id)
        .join(Group, Group.id == Membership.group_id)
        .where(Group.code.in_(group_codes), Subscriber.status == SubscriberStatus.ACTIVE,
               or_(Subscriber.paused_until.is_(None), Subscriber.paused_until <= now))
        .group_by(Subscriber.id).subquery()
    )
    rows = dict(session.execute(
        select(per_subscriber.c.prio, func.count()).group_by(per_subscriber.c.prio)).all())
    return {"priority": rows.get(1, 0), "regular": rows.get(0, 0)}


def priority_waiting(session: Session) -> bool:
    """Is any priority delivery of a running send still waiting to be handed to SMTP?"""
    from newsletter.delivery.models import SendStatus
    return session.scalar(
        select(Delivery.id).join(Send, Send.id == Delivery.send_id)
        .where(Delivery.edition == "priority",
               Delivery.state.in_([DeliveryState.QUEUED, DeliveryState.SENDING]),
               Send.status.in_([SendStatus.QUEUED, SendStatus.SENDING]))
        .limit(1)
    ) is not None


def insert_deliveries(session: Session, rows: list[dict]) -> None:
    if rows:
        session.execute(insert(Delivery), rows)


def waiting_ids(session: Session, send_id: int, edition: str, now: dt.datetime) -> Iterator[int]:
    """Ids of deliveries of one edition that a worker may take now, in id order, paged."""
    last_id = 0
    while True:
        ids = session.scalars(
            select(Delivery.id)
            .where(Delivery.send_id == send_id, Delivery.edition == edition,
                   Delivery.id > last_id, _ready(now))
            .order_by(Delivery.id).limit(PAGE)
        ).all()
        if not ids:
            return
        yield from ids
        last_id = ids[-1]


def _ready(now: dt.datetime):
    return or_(
        Delivery.state == DeliveryState.QUEUED,
        and_(Delivery.state == DeliveryState.DEFERRED,
             or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now)),
    )


@dataclass(frozen=True)
class Claimed:
    """A claimed delivery as plain data: holding ORM objects would make every commit in
    the batch expire all of them (quadratic in the batch size)."""

    id: int
    send_id: int
    subscriber_id: int | None
    email: str
    name: str
    edition: str
    variant: str
    attempts: int
    message_id: str | None
    claim_token: str
    tracking_opt_out: bool = False


def claim(session: Session, ids: Iterable[int], token: str) -> list[Claimed]:
    """Atomically take the still-waiting deliveries among `ids` for this worker."""
    now = utcnow()
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(list(ids)), _ready(now))
        .values(state=DeliveryState.SENDING, claim_token=token, claimed_at=now,
                attempts=Delivery.attempts + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    rows = session.execute(
        select(Delivery.id, Delivery.send_id, Delivery.subscriber_id, Delivery.email,
               Delivery.name, Delivery.edition, Delivery.variant, Delivery.attempts,
               Delivery.message_id, Delivery.claim_token,
               func.coalesce(Subscriber.tracking_opt_out, False))
        .outerjoin(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.claim_token == token, Delivery.state == DeliveryState.SENDING)
        .order_by(Delivery.id)
    ).all()
    session.commit()
    return [Claimed(*row[:-1], tracking_opt_out=bool(row[-1])) for row in rows]


def _finish(session: Session, delivery: Claimed, values: dict, event: str, detail: str) -> None:
    now = utcnow()
    # Guarded by the claim token: a row reclaimed by the stale-claim sweep is not ours any more.
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery.id, Delivery.claim_token == delivery.claim_token)
        .values(claim_token=None, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    session.execute(insert(DeliveryEvent).values(delivery_id=delivery.id, kind=event,
                                                 detail=detail[:500], created_at=now))
    session.commit()


def mark_sent(session: Session, delivery: Claimed, message_id: str, response: str) -> None:
    _finish(session, delivery, {"state": DeliveryState.SENT, "message_id": message_id,
                                "smtp_response": response, "sent_at": utcnow(),
                                "last_error": None}, "sent", response)


def mark_deferred(session: Session, delivery: Claimed, error: str, retry_at: dt.datetime) -> None:
    _finish(session, delivery, {"state": DeliveryState.DEFERRED, "last_error": error,
                                "next_attempt_at": retry_at}, "deferred", error)


def mark_failed(session: Session, delivery: Claimed, error: str) -> None:
    _finish(session, delivery, {"state": DeliveryState.FAILED, "last_error": error},
            "failed", error)


def release(session: Session, token: str) -> int:
    """Give back claimed-but-unsent deliveries (the send was paused mid-batch)."""
    result = session.execute(
        update(Delivery)
        .where(Delivery.claim_token == token, Delivery.state == DeliveryState.SENDING)
        .values(state=DeliveryState.QUEUED, claim_token=None, attempts=Delivery.attempts - 1)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return result.rowcount


def cancel_waiting(session: Session, send_id: int) -> int:
    result = session.execute(
        update(Delivery)
        .where(Delivery.send_id == send_id,
               Delivery.state.in_([DeliveryState.QUEUED, DeliveryState.DEFERRED]))
        .values(state=DeliveryState.CANCELLED, claim_token=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return result.rowcount


def requeue_stale(session: Session, older_than: dt.datetime) -> list[tuple[int, int, str]]:
    """Deliveries claimed by a worker that died, back to the queue: (id, send id, edition).

    The one message a dead worker was handing to SMTP when it died may have been accepted
    without its row being written: that is the documented window for a duplicate.
    """
    return _requeue(session, [Delivery.state == DeliveryState.SENDING,
                              Delivery.claimed_at < older_than])


def requeue_due(session: Session, now: dt.datetime) -> list[tuple[int, int, str]]:
    """Deferred deliveries whose retry time has come, back to the queue."""
    return _requeue(session, [Delivery.state == DeliveryState.DEFERRED,
                              Delivery.next_attempt_at <= now])


def _requeue(session: Session, cond: list) -> list[tuple[int, int, str]]:
    rows = session.execute(
        select(Delivery.id, Delivery.send_id, Delivery.edition).where(*cond).order_by(Delivery.id)
    ).all()
    if rows:
        session.execute(
            update(Delivery).where(Delivery.id.in_([r[0] for r in rows]), *cond)
            .values(state=DeliveryState.QUEUED, claim_token=None)
            .execution_options(synchronize_session=False)
        )
    session.commit()
    return [tuple(r) for r in rows]


def active_sends(session: Session) -> list[int]:
    from newsletter.delivery.models import SendStatus
    return list(session.scalars(
        select(Send.id).where(Send.status.in_([SendStatus.QUEUED, SendStatus.SENDING]))
    ))


def suppress(session: Session, email: str, reason: str, detail: str = "", *,
             verdict: str = "", send_id: int | None = None,
             delivery_id: int | None = None) -> None:
    """The pipeline's way onto the suppression list: the subscribers' one path."""
    suppress_subscriber(session, email, reason, detail, verdict=verdict, send_id=send_id,
                        delivery_id=delivery_id)


def counts(session: Session, send_id: int) -> dict[str, int]:
    rows = session.execute(
        select(Delivery.state, func.count()).where(Delivery.send_id == send_id)
        .group_by(Delivery.state)
    ).all()
    return {state: n for state, n in rows}


def unfinished(session: Session, send_id: int) -> int:
    return session.scalar(
        select(func.count()).select_from(Delivery)
        .where(Delivery.send_id == send_id,
               Delivery.state.not_in(list(DeliveryState.final())))
    )


def sent_since(session: Session, send_id: int, since: dt.datetime) -> int:
    return session.scalar(
        select(func.count()).select_from(Delivery)
        .where(Delivery.send_id == send_id, Delivery.state == DeliveryState.SENT,
               Delivery.sent_at >= since)
    )


def due_scheduled(session: Session, now: dt.datetime) -> list[int]:
    from newsletter.delivery.models import SendStatus
    return list(session.scalars(
        select(Send.id).where(Send.status == SendStatus.SCHEDULED, Send.scheduled_at <= now)
    ))


def edition_of(session: Session, delivery_id: int) -> str | None:
    return session.scalar(select(Delivery.edition).where(Delivery.id == delivery_id))


def send_status(session: Session, send_id: int) -> str | None:
    return session.scalar(select(Send.status).where(Send.id == send_id))
