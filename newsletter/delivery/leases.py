"""Leases: a worker's renewable hold on the deliveries it claimed. All their SQL.

A claim (store.claim) writes a `delivery_leases` row and stamps its token on the rows it
took. The worker renews the lease as it works (`renew`, a one-row UPDATE, every half lease)
and, before each message, checks in memory that the lease still has at least half its
length to run; a renewal that finds the lease gone or expired means the worker lost it and
must stop at once. The sweep takes back only deliveries whose lease has expired
(`requeue_expired`): so no slow batch, rate limit or stopped worker overlaps a requeue.

When a dead worker's lease had started handing messages over, its lowest unfinished
delivery (batches go in id order) is the one that was in flight, and with grouped sent
marks (delivery.marks) so is every unfinished one up to the lease's `reach`: they become
IN_DOUBT, keeping their Message-ID; the rest go back to the queue.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Table, Update, bindparam, delete, exists, insert, select, update
from sqlalchemy.orm import Session

from newsletter.delivery.models import Delivery, DeliveryEvent, DeliveryState, Lease
from newsletter.delivery.tables import changed


def _renew_statement(start: bool, reach: bool) -> Update:
    leases = Lease.__table__
    assert isinstance(leases, Table)  # Core: built once (its cache key memoised), run often
    values: dict[str, object] = {"expires_at": bindparam("b_expires")}
    if start:
        values["started"] = True
    if reach:
        values["reach"] = bindparam("b_reach")
    return (
        update(leases)
        .where(leases.c.token == bindparam("b_token"), leases.c.expires_at > bindparam("b_now"))
        .values(**values)
    )


_RENEW = {
    (start, reach): _renew_statement(start, reach)
    for start in (False, True)
    for reach in (False, True)
}


def renew(
    session: Session,
    token: str,
    now: dt.datetime,
    expires_at: dt.datetime,
    start: bool = False,
    reach: int | None = None,
    commit: bool = True,
) -> bool:
    """Extend a lease that has not expired; False if it is gone (taken back) or expired.
    `reach`: the highest delivery id the worker may hand over before it writes again
    (grouped sent marks, delivery.marks); the sweep holds everything up to it in doubt."""
    renewed = changed(
        session,
        _RENEW[bool(start), reach is not None],
        {"b_token": token, "b_now": now, "b_expires": expires_at, "b_reach": reach},
    )
    if commit:
        session.commit()
    return renewed == 1


def release(session: Session, token: str) -> int:
    """Give back what the lease holds and has not sent (a pause, a yield, a breaker trip):
    back to the queue, the attempt not counted; the lease ends."""
    released = changed(
        session,
        update(Delivery)
        .where(Delivery.claim_token == token, Delivery.state == DeliveryState.SENDING)
        .values(state=DeliveryState.QUEUED, claim_token=None, attempts=Delivery.attempts - 1)
        .execution_options(synchronize_session=False),
    )
    session.execute(delete(Lease).where(Lease.token == token))
    session.commit()
    return released


def end(session: Session, token: str) -> None:
    """The batch is over: its lease row goes (whatever it still held was released)."""
    session.execute(delete(Lease).where(Lease.token == token))
    session.commit()


def requeue_expired(
    session: Session,
    now: dt.datetime,
    lease_seconds: float,
) -> list[tuple[int, int, str, str]]:
    """Take back the deliveries of expired leases: (id, send id, edition, new state).

    Also rows stamped with a token whose lease row is missing (written before leases
    existed, or a lease ended by hand) once they are a lease length old.
    """
    out: list[tuple[int, int, str, str]] = []
    for token, started, reach in session.execute(
        select(Lease.token, Lease.started, Lease.reach).where(Lease.expires_at <= now)
    ).all():
        # Guarded: the lease must still be expired when we delete it (no renewal raced us).
        gone = changed(session, delete(Lease).where(Lease.token == token, Lease.expires_at <= now))
        if not gone:
            session.rollback()
            continue
        rows = session.execute(
            select(Delivery.id, Delivery.send_id, Delivery.edition)
            .where(Delivery.claim_token == token, Delivery.state == DeliveryState.SENDING)
            .order_by(Delivery.id)
        ).all()
        if rows and started:
            # In flight: the lowest unwritten row, and with grouped marks every unwritten
            # row up to the reach (accepted with its mark not written yet, or not tried).
            last = max(rows[0][0], reach or 0)
            doubt = [r for r in rows if r[0] <= last]
            _move(session, [r[0] for r in doubt], token, DeliveryState.IN_DOUBT, now, in_doubt=True)
            out.extend((*r, DeliveryState.IN_DOUBT) for r in doubt)
            rows = rows[len(doubt) :]
        if rows:
            _move(session, [r[0] for r in rows], token, DeliveryState.QUEUED, now)
            out.extend((*r, DeliveryState.QUEUED) for r in rows)
        session.commit()
    orphans = session.execute(
        select(Delivery.id, Delivery.send_id, Delivery.edition, Delivery.claim_token).where(
            Delivery.state == DeliveryState.SENDING,
            Delivery.claimed_at <= now - dt.timedelta(seconds=lease_seconds),
            ~exists().where(Lease.token == Delivery.claim_token),
        )
    ).all()
    for delivery_id, send_id, edition, stamped in orphans:
        _move(session, [delivery_id], stamped, DeliveryState.IN_DOUBT, now, in_doubt=True)
        out.append((delivery_id, send_id, edition, DeliveryState.IN_DOUBT))
    session.commit()
    return out


def _move(
    session: Session,
    ids: list[int],
    token: str | None,
    state: str,
    now: dt.datetime,
    in_doubt: bool = False,
) -> None:
    values: dict[str, object] = {"state": state, "claim_token": None, "updated_at": now}
    if in_doubt:
        values["in_doubt_at"] = now
    else:
        values["attempts"] = Delivery.attempts - 1  # claimed, never tried: not an attempt
    session.execute(
        update(Delivery)
        .where(
            Delivery.id.in_(ids),
            Delivery.claim_token == token if token is not None else Delivery.claim_token.is_(None),
            Delivery.state == DeliveryState.SENDING,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if in_doubt:
        session.execute(
            insert(DeliveryEvent),
            [
                {
                    "delivery_id": i,
                    "kind": "in_doubt",
                    "created_at": now,
                    "detail": "its worker died while handing it to the server",
                }
                for i in ids
            ],
        )
