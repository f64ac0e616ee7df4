"""Where deliveries change state: claims and outcomes. Every function takes the session.

Deliveries move between states only through the guarded UPDATEs here: a claim succeeds
only for rows still waiting, so two workers (or a job enqueued twice) can never both send
the same delivery; a claim carries a lease (`delivery_leases`) that its worker renews, and
only an expired lease is ever taken back (leases.py).

The pipeline's other queries live by what they serve, each in one place that its callers
import: who a send reaches (delivery.audience), what it asks without writing
(delivery.lookups), and the tables and statement helpers they share (delivery.tables).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import (
    String,
    and_,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from newsletter.delivery.models import (
    Delivery,
    DeliveryEvent,
    DeliveryState,
    Lease,
)
from newsletter.delivery.tables import DELIVERIES, EVENTS, changed, changed_many, ready
from newsletter.timeutil import utcnow
from subscribers.models import (
    Subscriber,
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
    first_failed_at: dt.datetime | None = None
    tracking_opt_out: bool = False


def claim(
    session: Session,
    send_id: int,
    ids: Iterable[int],
    token: str,
    now: dt.datetime,
    expires_at: dt.datetime,
    domain: str,
    in_doubt_ready: bool = True,
) -> list[Claimed]:
    """Atomically lease the still-waiting deliveries among `ids` to this worker.

    In the same transaction each delivery gets its Message-ID if it has none: it is stored
    before DATA, and a resend after a crash carries the same one.
    """
    session.execute(
        insert(Lease).values(
            token=token, send_id=send_id, expires_at=expires_at, started=False, created_at=now
        )
    )
    new_id = (
        literal("<")
        + cast(Delivery.send_id, String)
        + literal(".")
        + cast(Delivery.id, String)
        + literal(f".{token[:12]}@{domain}>")
    )
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(list(ids)), Delivery.send_id == send_id, ready(now, in_doubt_ready))
        .values(
            state=DeliveryState.SENDING,
            claim_token=token,
            claimed_at=now,
            attempts=Delivery.attempts + 1,
            updated_at=now,
            message_id=func.coalesce(Delivery.message_id, new_id),
        )
        .execution_options(synchronize_session=False)
    )
    rows = session.execute(
        select(
            Delivery.id,
            Delivery.send_id,
            Delivery.subscriber_id,
            Delivery.email,
            Delivery.name,
            Delivery.edition,
            Delivery.variant,
            Delivery.attempts,
            Delivery.message_id,
            Delivery.first_failed_at,
            func.coalesce(Subscriber.tracking_opt_out, False),
        )
        .outerjoin(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.claim_token == token, Delivery.state == DeliveryState.SENDING)
        .order_by(Delivery.id)
    ).all()
    if not rows:
        session.execute(delete(Lease).where(Lease.token == token))
    session.commit()
    return [
        Claimed(
            id=id_,
            send_id=send_id_,
            subscriber_id=subscriber_id,
            email=email,
            name=name,
            edition=edition,
            variant=variant,
            attempts=attempts,
            message_id=message_id,
            claim_token=token,  # the rows read are the ones stamped with it
            first_failed_at=first_failed_at,
            tracking_opt_out=bool(opt_out),
        )
        for (
            id_,
            send_id_,
            subscriber_id,
            email,
            name,
            edition,
            variant,
            attempts,
            message_id,
            first_failed_at,
            opt_out,
        ) in rows
    ]


def _finish(
    session: Session,
    delivery: Claimed,
    values: dict,
    event: str,
    detail: str,
    late: bool = False,
    commit: bool = True,
) -> bool:
    """Write a delivery's outcome; False (nothing written) if it is not ours any more.
    `late`: a send recorded after a database outage may also find its row in doubt (the
    sweep took its expired lease back) and not yet leased again. `commit=False` leaves the
    transaction open for what must land with it (a hard bounce's suppression)."""
    now = utcnow()
    # Guarded by the lease token: a row the sweep took back (lease expired) is not ours.
    guard = and_(
        Delivery.claim_token == delivery.claim_token, Delivery.state == DeliveryState.SENDING
    )
    if late:
        guard = or_(
            guard, and_(Delivery.claim_token.is_(None), Delivery.state == DeliveryState.IN_DOUBT)
        )
    ours = (
        changed(
            session,
            update(Delivery)
            .where(Delivery.id == delivery.id, guard)
            .values(claim_token=None, updated_at=now, **values)
            .execution_options(synchronize_session=False),
        )
        == 1
    )
    if ours:
        session.execute(
            insert(DeliveryEvent).values(
                delivery_id=delivery.id, kind=event, detail=detail[:500], created_at=now
            )
        )
    if commit:
        session.commit()
    return ours


@dataclass(frozen=True)
class SentMark:
    """A message the server accepted, waiting to be written (delivery.marks)."""

    delivery: Claimed
    answer: str
    queue_id: str | None
    at: dt.datetime


_RECORD_SENT = (
    update(DELIVERIES)
    .where(
        DELIVERIES.c.id == bindparam("b_id"),
        DELIVERIES.c.claim_token == bindparam("b_token"),
        DELIVERIES.c.state == DeliveryState.SENDING,
    )
    .values(
        state=DeliveryState.SENT,
        claim_token=None,
        smtp_response=bindparam("b_answer"),
        queue_id=bindparam("b_queue_id"),
        sent_at=bindparam("b_at"),
        updated_at=bindparam("b_at"),
        last_error=None,
    )
)


_SENT_EVENTS = insert(EVENTS)


def record_sent(session: Session, marks: list[SentMark]) -> int:
    """Write a group of sent marks in the session's transaction (the caller commits): one
    UPDATE per row, guarded by each row's lease token, as one executemany, and their
    events in one INSERT. Returns the rows written; fewer than given means some row was
    not ours any more, and the caller rolls back (the events would be wrong)."""
    written = changed_many(
        session,
        _RECORD_SENT,
        [
            {
                "b_id": m.delivery.id,
                "b_token": m.delivery.claim_token,
                "b_answer": m.answer[:500],
                "b_queue_id": m.queue_id,
                "b_at": m.at,
            }
            for m in marks
        ],
    )
    if written == len(marks):
        session.execute(
            _SENT_EVENTS,
            [
                {
                    "delivery_id": m.delivery.id,
                    "kind": "sent",
                    "detail": m.answer[:500],
                    "created_at": m.at,
                }
                for m in marks
            ],
        )
    return written


def mark_sent(
    session: Session,
    delivery: Claimed,
    response: str,
    queue_id: str | None = None,
    late: bool = False,
) -> bool:
    return _finish(
        session,
        delivery,
        {
            "state": DeliveryState.SENT,
            "smtp_response": response,
            "queue_id": queue_id,
            "sent_at": utcnow(),
            "last_error": None,
        },
        "sent",
        response,
        late,
    )


def mark_deferred(
    session: Session, delivery: Claimed, error: str, retry_at: dt.datetime, now: dt.datetime
) -> bool:
    return _finish(
        session,
        delivery,
        {
            "state": DeliveryState.DEFERRED,
            "last_error": error,
            "next_attempt_at": retry_at,
            "first_failed_at": delivery.first_failed_at or now,
        },
        "deferred",
        error,
    )


def hold_until(session: Session, delivery: Claimed, until: dt.datetime, why: str) -> bool:
    """Put a claimed delivery back untried until `until` (a domain's pace, a relay's rate):
    not an attempt, not a failure; the sweep requeues it when it is due."""
    return _finish(
        session,
        delivery,
        {
            "state": DeliveryState.DEFERRED,
            "next_attempt_at": until,
            "attempts": Delivery.attempts - 1,
        },
        "deferred",
        why,
    )


def mark_failed(session: Session, delivery: Claimed, error: str, commit: bool = True) -> bool:
    return _finish(
        session,
        delivery,
        {"state": DeliveryState.FAILED, "last_error": error},
        "failed",
        error,
        commit=commit,
    )


def cancel_waiting(session: Session, send_id: int) -> int:
    cancelled = changed(
        session,
        update(Delivery)
        .where(
            Delivery.send_id == send_id,
            Delivery.state.in_([DeliveryState.QUEUED, DeliveryState.DEFERRED]),
        )
        .values(state=DeliveryState.CANCELLED, claim_token=None, updated_at=utcnow())
        .execution_options(synchronize_session=False),
    )
    session.commit()
    return cancelled


def requeue_due(session: Session, now: dt.datetime) -> list[tuple[int, int, str]]:
    """Deferred deliveries whose retry time has come, back to the queue: (id, send, edition)."""
    cond = [
        Delivery.state == DeliveryState.DEFERRED,
        Delivery.next_attempt_at <= now,
        Delivery.claim_token.is_(None),
    ]
    rows = [
        (delivery_id, send_id, edition)
        for delivery_id, send_id, edition in session.execute(
            select(Delivery.id, Delivery.send_id, Delivery.edition)
            .where(*cond)
            .order_by(Delivery.id)
        )
    ]
    if rows:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_([r[0] for r in rows]), *cond)
            .values(state=DeliveryState.QUEUED)
            .execution_options(synchronize_session=False)
        )
    session.commit()
    return rows
