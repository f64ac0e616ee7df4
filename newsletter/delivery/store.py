"""The SQL the send pipeline needs, and nothing else. Every function takes the session.

Deliveries move between states only through the guarded UPDATEs here: a claim succeeds
only for rows still waiting, so two workers (or a job enqueued twice) can never both send
the same delivery; a claim carries a lease (`delivery_leases`) that its worker renews, and
only an expired lease is ever taken back (leases.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Executable,
    Exists,
    Integer,
    String,
    Table,
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
    Send,
    SendStatus,
)
from newsletter.orm import Base
from newsletter.timeutil import utcnow
from subscribers.models import (
    Group,
    Membership,
    Subscriber,
    SubscriberStatus,
    Suppression,
    email_hash,
)

PAGE = 1000


def changed(
    session: Session, statement: Executable, params: dict[str, object] | None = None
) -> int:
    """Run an UPDATE or DELETE (with `params` for its bound values) and say how many rows
    it changed."""
    result = session.execute(statement, params)
    assert isinstance(result, CursorResult)  # what DML answers (typed as a plain Result)
    return result.rowcount


def changed_many(session: Session, statement: Executable, rows: list[dict[str, object]]) -> int:
    """Run an UPDATE once per parameter set (one executemany) and say how many rows it
    changed in all (SQLite and psycopg both sum the counts)."""
    result = session.execute(statement, rows)
    assert isinstance(result, CursorResult)
    return result.rowcount


def count_of(session: Session, statement: Executable) -> int:
    """A `SELECT count(...)`'s number (a count row always comes back)."""
    return session.scalar(statement) or 0


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


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)  # Core: statements built once, run without the ORM layer
    return table


# The statements a batch runs every few messages are built once, here: a statement object
# memoises its cache key, so running it again skips construction, coercion and keying.
DELIVERIES, SENDS, EVENTS = _table(Delivery), _table(Send), _table(DeliveryEvent)


def _priority_waiting_exists(in_doubt_ready: bool) -> Exists:
    """Is any priority delivery of a running send still waiting (bound: `b_since`, the
    first failure after which a deferred one no longer counts)."""
    d, s = DELIVERIES, SENDS
    waiting = [DeliveryState.QUEUED, DeliveryState.SENDING]
    if in_doubt_ready:
        waiting.append(DeliveryState.IN_DOUBT)
    return (
        select(d.c.id)
        .join(s, s.c.id == d.c.send_id)
        .where(
            d.c.edition == "priority",
            # Equalities, not IN: an IN list is re-rendered at every execution.
            or_(
                *(d.c.state == state for state in waiting),
                and_(
                    d.c.state == DeliveryState.DEFERRED,
                    d.c.first_failed_at > bindparam("b_since"),
                ),
            ),
            or_(s.c.status == SendStatus.QUEUED, s.c.status == SendStatus.SENDING),
        )
        .exists()
    )


_STATUS = select(SENDS.c.status).where(SENDS.c.id == bindparam("b_send"))
_PRIORITY_WAITING = {r: select(_priority_waiting_exists(r)) for r in (True, False)}
# A send's status and whether priority deliveries wait, in one round trip (no FROM: the
# status is NULL when the send is gone).
_STATUS_AND_PRIORITY = {
    r: select(_STATUS.scalar_subquery(), _priority_waiting_exists(r)) for r in (True, False)
}


def priority_waiting(
    session: Session, now: dt.datetime, grace: dt.timedelta, in_doubt_ready: bool = True
) -> bool:
    """Is any priority delivery of a running send still waiting to be handed to SMTP?
    A deferred one counts until `grace` after its first failure; then the regular edition
    goes on without it."""
    return bool(session.scalar(_PRIORITY_WAITING[in_doubt_ready], {"b_since": now - grace}))


def send_check(
    session: Session,
    send_id: int,
    now: dt.datetime,
    grace: dt.timedelta,
    in_doubt_ready: bool = True,
) -> tuple[str | None, bool]:
    """What a regular batch looks up every few messages, in one query: the send's status
    (None: gone) and `priority_waiting`."""
    row = session.execute(
        _STATUS_AND_PRIORITY[in_doubt_ready], {"b_send": send_id, "b_since": now - grace}
    ).one()
    return row[0], bool(row[1])


def priority_past_grace(
    session: Session, send_id: int, now: dt.datetime, grace: dt.timedelta
) -> int:
    """Deferred priority deliveries of the send that the regular edition no longer waits for."""
    return count_of(
        session,
        select(func.count())
        .select_from(Delivery)
        .where(
            Delivery.send_id == send_id,
            Delivery.edition == "priority",
            Delivery.state == DeliveryState.DEFERRED,
            Delivery.first_failed_at <= now - grace,
        ),
    )


def insert_deliveries(session: Session, rows: list[dict]) -> None:
    if rows:
        session.execute(insert(Delivery), rows)


def waiting_ids(
    session: Session, send_id: int, edition: str, now: dt.datetime, in_doubt_ready: bool = True
) -> Iterator[int]:
    """Ids of deliveries of one edition that a worker may take now, in id order, paged."""
    last_id = 0
    while True:
        ids = session.scalars(
            select(Delivery.id)
            .where(
                Delivery.send_id == send_id,
                Delivery.edition == edition,
                Delivery.id > last_id,
                ready(now, in_doubt_ready),
            )
            .order_by(Delivery.id)
            .limit(PAGE)
        ).all()
        if not ids:
            return
        yield from ids
        last_id = ids[-1]


def ready(now: dt.datetime, in_doubt_ready: bool = True) -> ColumnElement[bool]:
    """Waiting and not leased: queued, a deferred one whose time has come, and (policy
    `resend`) one in doubt."""
    return or_(
        Delivery.state == DeliveryState.QUEUED,
        and_(
            Delivery.state == DeliveryState.DEFERRED,
            or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
        ),
        *([Delivery.state == DeliveryState.IN_DOUBT] if in_doubt_ready else []),
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


def sends_with_ready(
    session: Session, send_ids: Iterable[int], now: dt.datetime, in_doubt_ready: bool = True
) -> list[int]:
    """Of these sends, those with a delivery a worker could take now."""
    return [
        sid
        for sid in send_ids
        if session.scalar(
            select(Delivery.id).where(Delivery.send_id == sid, ready(now, in_doubt_ready)).limit(1)
        )
        is not None
    ]


def active_sends(session: Session) -> list[int]:
    return list(
        session.scalars(
            select(Send.id).where(Send.status.in_([SendStatus.QUEUED, SendStatus.SENDING]))
        )
    )


def counts(session: Session, send_id: int) -> dict[str, int]:
    rows = session.execute(
        select(Delivery.state, func.count())
        .where(Delivery.send_id == send_id)
        .group_by(Delivery.state)
    ).all()
    return {state: n for state, n in rows}


def unfinished(session: Session, send_id: int, hold_in_doubt: bool = False) -> int:
    return count_of(
        session,
        select(func.count())
        .select_from(Delivery)
        .where(
            Delivery.send_id == send_id,
            Delivery.state.not_in(list(DeliveryState.settled(hold_in_doubt))),
        ),
    )


def sent_since(session: Session, send_id: int, since: dt.datetime) -> int:
    return count_of(
        session,
        select(func.count())
        .select_from(Delivery)
        .where(
            Delivery.send_id == send_id,
            Delivery.state == DeliveryState.SENT,
            Delivery.sent_at >= since,
        ),
    )


def due_scheduled(session: Session, now: dt.datetime) -> list[int]:
    return list(
        session.scalars(
            select(Send.id).where(Send.status == SendStatus.SCHEDULED, Send.scheduled_at <= now)
        )
    )


def edition_of(session: Session, delivery_id: int) -> str | None:
    return session.scalar(select(Delivery.edition).where(Delivery.id == delivery_id))


def send_pauses(session: Session, send_id: int) -> int:
    return session.scalar(select(Send.pauses).where(Send.id == send_id)) or 0


def send_status(session: Session, send_id: int) -> str | None:
    return session.scalar(_STATUS, {"b_send": send_id})
