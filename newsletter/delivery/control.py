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


# The words staff read (zh-CN first): a state, and the step a button or command asked for.
STATUS_LABELS = {SendStatus.SCHEDULED: "已定时", SendStatus.QUEUED: "排队中",
                 SendStatus.SENDING: "发送中", SendStatus.PAUSED: "已暂停",
                 SendStatus.CANCELLED: "已取消", SendStatus.DONE: "已完成"}
_STEPS = {SendStatus.PAUSED: "暂停", SendStatus.SENDING: "继续", SendStatus.CANCELLED: "取消",
          SendStatus.SCHEDULED: "改期"}


class StateConflict(SendError):
    """The send's state does not allow the step (it finished meanwhile, say)."""


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
            raise SendError(f"没有发送 #{send_id}。")
        label = STATUS_LABELS.get(current, current)
        raise StateConflict(f"发送 #{send_id} {label}，不能{_STEPS.get(to, to)}。")
    session.commit()


# The moving average looks this far back (or less, while the send is younger than this).
RECENT_SECONDS = 60


def pace(send: Send, sent: int, recent: int, remaining: int, now: dt.datetime) -> dict:
    """Rate from the send's own start, a moving average over the last minute, and the ETA
    from the rate since start (None while nothing measures it, or when nothing is left)."""
    if send.started_at is None:
        return {"elapsed_seconds": None, "rate_per_second": None,
                "recent_rate_per_second": None, "eta_seconds": None}
    end = send.finished_at or now
    elapsed = max((end - send.started_at).total_seconds(), 0.001)
    rate = sent / elapsed
    window = min(float(RECENT_SECONDS), elapsed)
    recent_rate = recent / window if send.finished_at is None else None
    going = send.status in (SendStatus.QUEUED, SendStatus.SENDING)
    return {"elapsed_seconds": round(elapsed, 1), "rate_per_second": round(rate, 2),
            "recent_rate_per_second": round(recent_rate, 2) if recent_rate is not None else None,
            "eta_seconds": round(remaining / rate) if going and rate > 0 and remaining else None}


def progress(session: Session, send_id: int) -> dict:
    """Counts, the rate since the send started and over the last minute, and the ETA."""
    # Workers change the row from other processes: always read it afresh.
    send = session.get(Send, send_id, populate_existing=True)
    if send is None:
        raise SendError(f"没有发送 #{send_id}。")
    counts = store.counts(session, send_id)
    total = sum(counts.values())
    final = sum(n for state, n in counts.items() if state in DeliveryState.final())
    remaining = total - final
    now = utcnow()
    sent = counts.get(DeliveryState.SENT, 0)
    recent = store.sent_since(session, send_id, now - dt.timedelta(seconds=RECENT_SECONDS))
    return {
        "send_id": send_id, "status": send.status, "total": total,
        "sent": counts.get(DeliveryState.SENT, 0),
        "failed": counts.get(DeliveryState.FAILED, 0) + counts.get(DeliveryState.BOUNCED, 0),
        "deferred": counts.get(DeliveryState.DEFERRED, 0),
        "cancelled": counts.get(DeliveryState.CANCELLED, 0),
        "remaining": remaining, "counts": counts, **pace(send, sent, recent, remaining, now),
        "scheduled_at": send.scheduled_at.isoformat() if send.scheduled_at else None,
    }
