"""The suppression list: the one path every suppression takes, and lifting a mistaken wave.

`add_suppression` is the only writer of `Suppression` rows; `suppress_subscriber` adds one
and stops mailing the address's subscriber (bounced, or suppressed). Each row records where
it came from (verdict, send, delivery, the subscriber's previous status), so that
`lift_wave` can undo the suppressions one send (or one cause) created — a relay that said
"user unknown" to everybody, a misread report — and give those readers their status back.
A reader's own unsubscribe, an erasure and a staff entry are never lifted this way.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from subscribers.models import (
    Subscriber,
    SubscriberStatus,
    Suppression,
    SuppressionReason,
    email_hash,
    normalise_email,
)

# Suppressions the system made on its own judgement, which staff may lift as a wave.
LIFTABLE = (SuppressionReason.BOUNCED, SuppressionReason.COMPLAINED)
# A subscriber in one of these may be suppressed (and later restored); others (unsubscribed,
# erased) keep their status.
_STOPPABLE = (SubscriberStatus.ACTIVE, SubscriberStatus.PAUSED, SubscriberStatus.PENDING)


class LiftError(ValueError):
    """The lift cannot be done as asked; the message says why (zh-CN, for staff)."""


def is_suppressed(session: Session, address: str) -> bool:
    return (
        session.scalar(select(Suppression.id).where(Suppression.email_hash == email_hash(address)))
        is not None
    )


def add_suppression(
    session: Session,
    address: str,
    reason: str,
    detail: str = "",
    *,
    verdict: str = "",
    send_id: int | None = None,
    delivery_id: int | None = None,
    previous_status: str | None = None,
) -> bool:
    """Put the address's hash on the suppression list; False if it was there already.
    Does not commit."""
    if is_suppressed(session, address):
        return False
    try:
        with session.begin_nested():
            session.add(
                Suppression(
                    email_hash=email_hash(address),
                    reason=reason,
                    detail=(detail or "")[:500],
                    verdict=verdict[:32],
                    send_id=send_id,
                    delivery_id=delivery_id,
                    previous_status=previous_status,
                )
            )
    except IntegrityError:  # another request added it at the same moment
        return False
    return True


def suppress_subscriber(
    session: Session,
    address: str,
    reason: str,
    detail: str = "",
    *,
    verdict: str = "",
    send_id: int | None = None,
    delivery_id: int | None = None,
    commit: bool = True,
) -> bool:
    """Suppress the address and stop mailing its subscriber: status `bounced` for a bounce,
    `suppressed` otherwise (only for one who was active, paused or pending). Returns
    whether a suppression was added."""
    address = normalise_email(address)
    sub = session.scalar(select(Subscriber).where(Subscriber.email == address))
    previous = sub.status if sub is not None and sub.status in _STOPPABLE else None
    added = add_suppression(
        session,
        address,
        reason,
        detail,
        verdict=verdict,
        send_id=send_id,
        delivery_id=delivery_id,
        previous_status=previous,
    )
    if sub is not None and previous is not None:
        sub.status = (
            SubscriberStatus.BOUNCED
            if reason == SuppressionReason.BOUNCED
            else SubscriberStatus.SUPPRESSED
        )
    if commit:
        session.commit()
    return added


# --- lifting a wave -------------------------------------------------------------------------


@dataclass
class Lift:
    send_id: int | None
    cause: str | None
    suppressions: int  # rows lifted (or that would be, for a preview)
    restored: int  # subscribers given their previous status back
    dry_run: bool

    def describe(self) -> dict:
        return {
            "send_id": self.send_id,
            "cause": self.cause,
            "suppressions": self.suppressions,
            "restored": self.restored,
            "dry_run": self.dry_run,
        }


def _wave(send_id: int | None, cause: str | None):
    if send_id is None and not cause:
        raise LiftError("请指定发送编号或原因（至少一项）。")
    if cause and cause not in LIFTABLE:
        raise LiftError(
            f"原因 {cause!r} 不能批量解除：只有系统判定的 "
            f"{'、'.join(LIFTABLE)} 可以；读者自己的退订与删除永远有效。"
        )
    conds: list[ColumnElement[bool]] = [Suppression.reason.in_([cause] if cause else LIFTABLE)]
    if send_id is not None:
        conds.append(Suppression.send_id == send_id)
    return conds


def lift_wave(
    session: Session, *, send_id: int | None = None, cause: str | None = None, dry_run: bool = False
) -> Lift:
    """Lift the suppressions created by one send and/or one cause (bounced, complained).

    Subscribers whose status that wave changed (bounced or suppressed) get their previous
    status back (usually active). With `dry_run` nothing changes: the counts are a preview.
    Commits unless dry_run. The caller writes the audit entry."""
    from newsletter.delivery.models import Delivery  # the delivery names its subscriber

    rows = list(
        session.execute(
            select(Suppression.id, Suppression.previous_status, Delivery.subscriber_id)
            .outerjoin(Delivery, Delivery.id == Suppression.delivery_id)
            .where(*_wave(send_id, cause))
        )
    )
    restore: dict[int, str] = {
        sub_id: prev for _, prev, sub_id in rows if sub_id is not None and prev
    }
    subs = (
        list(
            session.scalars(
                select(Subscriber).where(
                    Subscriber.id.in_(list(restore)),
                    Subscriber.status.in_([SubscriberStatus.BOUNCED, SubscriberStatus.SUPPRESSED]),
                )
            )
        )
        if restore
        else []
    )
    result = Lift(send_id, cause, len(rows), len(subs), dry_run)
    if dry_run:
        return result
    for sub in subs:
        sub.status = restore[sub.id]
    ids = [row[0] for row in rows]
    for start in range(0, len(ids), 500):
        session.execute(delete(Suppression).where(Suppression.id.in_(ids[start : start + 500])))
    session.commit()
    return result


__all__ = [
    "LIFTABLE",
    "Lift",
    "LiftError",
    "add_suppression",
    "is_suppressed",
    "lift_wave",
    "suppress_subscriber",
]
