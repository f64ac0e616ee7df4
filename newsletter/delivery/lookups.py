"""What the pipeline asks about sends and their deliveries, without writing: a send's
status, whether priority deliveries wait, what is left, counts for the send page. Every
function takes the session.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator

from sqlalchemy import (
    Exists,
    and_,
    bindparam,
    func,
    or_,
    select,
)
from sqlalchemy.orm import Session

from newsletter.delivery.models import (
    Delivery,
    DeliveryState,
    Send,
    SendStatus,
)
from newsletter.delivery.tables import DELIVERIES, PAGE, SENDS, count_of, ready


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
