"""Controlling a send once it exists: pause, resume, cancel, reschedule, and progress.

Status changes are guarded UPDATEs (only from the states that allow them), so two staff
members pressing buttons at once cannot put a send in an impossible state.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update
from sqlalchemy.orm import Session

from newsletter.delivery import store
from newsletter.delivery.models import DeliveryState, Send, SendStatus
from newsletter.delivery.pipeline import SendError
from newsletter.timeutil import utcnow


def pause_send(session: Session, send_id: int) -> None:
    """Workers stop taking this send's deliveries (within 10 messages (CHECK_EVERY)); `resume_send` goes on."""
    _transition(session, send_id, {SendStatus.QUEUED, SendStatus.SENDING}, SendStatus.PAUSED)


def resume_send(session: Session, send_id: int) -> None:
    """Back to sending; the caller re-enqueues the waiting deliveries (jobs.enqueue_send)."""
    _transition(session, send_id, {SendStatus.PAUSED}, SendStatus.SENDING)


def cancel_send(session: Session, send_id: int) -> int:
    """Stop for good: waiting deliveries become cancelled; returns how many."""
    _transition(session, send_id, {SendStatus.SCHEDULED, SendStatus.QUEUED,
                                   SendStatus.SENDING, SendStatus.PAUSED}, SendStatus.CANCELLED)
    cancelled = store.cancel_waiting(session, send_id)
    send = session.get(Send, send_id)
    send.finished_at = utcnow()
    session.commit()
    return cancelled


def reschedule_send(session: Session, send_id: int, at: dt.datetime) -> None:
    """Move a scheduled send that has not started (at: naive UTC, in the future)."""
    if at <= utcnow():
        raise SendError("the new time is in the past")
    _transition(session, send_id, {SendStatus.SCHEDULED}, SendStatus.SCHEDULED,
                scheduled_at=at)


def _transition(session: Session, send_id: int, allowed: set[SendStatus], to: SendStatus,
                **values) -> None:
    result = session.execute(
        update(Send).where(Send.id == send_id, Send.status.in_([a.value for a in allowed]))
        .values(status=to, **values).execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        session.rollback()
        current = store.send_status(session, send_id)
        if current is None:
            raise SendError(f"no send {send_id}")
        raise SendError(f"send {send_id} is {current}; it cannot become {to}")
    session.commit()


def progress(session: Session, send_id: int) -> dict:
    """Counts, current rate (messages/s over the last minute) and ETA of a send."""
    # Workers change the row from other processes: always read it afresh.
    send = session.get(Send, send_id, populate_existing=True)
    if send is None:
        raise SendError(f"no send {send_id}")
    counts = store.counts(session, send_id)
    total = sum(counts.values())
    final = sum(n for state, n in counts.items() if state in DeliveryState.final())
    rate = store.sent_since(session, send_id, utcnow() - dt.timedelta(seconds=60)) / 60.0
    remaining = total - final
    return {
        "send_id": send_id, "status": send.status, "total": total,
        "sent": counts.get(DeliveryState.SENT, 0),
        "failed": counts.get(DeliveryState.FAILED, 0) + counts.get(DeliveryState.BOUNCED, 0),
        "deferred": counts.get(DeliveryState.DEFERRED, 0),
        "cancelled": counts.get(DeliveryState.CANCELLED, 0),
        "remaining": remaining, "counts": counts, "rate_per_second": round(rate, 2),
        "eta_seconds": round(remaining / rate) if rate > 0 and remaining else None,
        "scheduled_at": send.scheduled_at.isoformat() if send.scheduled_at else None,
    }
