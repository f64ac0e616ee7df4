"""Controlling a send once it exists: pause, resume, cancel, reschedule, and progress.

Status changes are guarded UPDATEs (only from the states that allow them), so two staff
members pressing buttons at once cannot put a send in an impossible state.
"""

from __future__ import annotations

import datetime as dt
from typing import TypedDict

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from newsletter import states
from newsletter.delivery import lookups, store, tables
from newsletter.delivery.models import DeliveryState, Send, SendStatus
from newsletter.delivery.pipeline import SendError
from newsletter.phrase import N_, P, Phrase
from newsletter.timeutil import utcnow


def pause_send(session: Session, send_id: int) -> None:
    """Workers stop taking this send's deliveries (within 10 messages (CHECK_EVERY)); `resume_send` goes on."""
    _transition(session, send_id, {SendStatus.QUEUED, SendStatus.SENDING}, SendStatus.PAUSED)


def resume_send(session: Session, send_id: int) -> None:
    """Back to sending; the caller re-enqueues the waiting deliveries (jobs.enqueue_send)."""
    _transition(
        session,
        send_id,
        {SendStatus.PAUSED},
        SendStatus.SENDING,
        paused_reason=None,
        paused_words=None,
        paused_detail=None,
        resume_at=None,
    )


def breaker_pause(
    session: Session,
    send_id: int,
    reason: Phrase | str,
    detail: str,
    resume_at: dt.datetime | None,
    now: dt.datetime,
) -> bool:
    """The circuit breaker: pause a running send, saying why. True if this call paused it
    (so one worker, not every one that saw the failure, tells staff). With `resume_at`
    (a relay that is down for now) the sweep resumes it then by itself.

    The reason is stored twice: as data (`paused_words`, said in each reader's language by
    the send page) and as zh-CN text (`paused_reason`: the staff mail, the CLI, the API and
    the log, all zh-CN by default, read it as it was when the send paused)."""
    words = reason if isinstance(reason, Phrase) else Phrase(reason)
    paused = tables.changed(
        session,
        update(Send)
        .where(Send.id == send_id, Send.status.in_([SendStatus.QUEUED, SendStatus.SENDING]))
        .values(
            status=SendStatus.PAUSED,
            paused_reason=words.text()[:200],
            paused_words=words.to_json(),
            paused_detail=detail[:500],
            paused_at=now,
            resume_at=resume_at,
            pauses=Send.pauses + 1,
        )
        .execution_options(synchronize_session=False),
    )
    session.commit()
    return paused == 1


def auto_resume_due(session: Session, now: dt.datetime) -> list[int]:
    """Sends the breaker paused for a passing relay problem whose time to try again has
    come: back to sending (the reason stays visible until the next pause or resume)."""
    due = list(
        session.scalars(
            select(Send.id).where(
                Send.status == SendStatus.PAUSED, Send.resume_at.is_not(None), Send.resume_at <= now
            )
        )
    )
    resumed: list[int] = []
    for send_id in due:
        if tables.changed(
            session,
            update(Send)
            .where(Send.id == send_id, Send.status == SendStatus.PAUSED, Send.resume_at <= now)
            .values(status=SendStatus.SENDING, resume_at=None)
            .execution_options(synchronize_session=False),
        ):
            resumed.append(send_id)
    session.commit()
    return resumed


def cancel_send(session: Session, send_id: int) -> int:
    """Stop for good: waiting deliveries become cancelled; returns how many."""
    _transition(
        session,
        send_id,
        {SendStatus.SCHEDULED, SendStatus.QUEUED, SendStatus.SENDING, SendStatus.PAUSED},
        SendStatus.CANCELLED,
    )
    cancelled = store.cancel_waiting(session, send_id)
    send = session.get(Send, send_id)
    assert send is not None, "the transition above found it (sends are never deleted)"
    send.finished_at = utcnow()
    session.commit()
    return cancelled


def reschedule_send(session: Session, send_id: int, at: dt.datetime) -> None:
    """Move a scheduled send that has not started (at: naive UTC, in the future)."""
    if at <= utcnow():
        raise SendError("the new time is in the past")
    _transition(session, send_id, {SendStatus.SCHEDULED}, SendStatus.SCHEDULED, scheduled_at=at)


# The step a button or command asked for, refused (the state's own name: newsletter/states.py).
_REFUSALS: dict[str, str] = {
    SendStatus.PAUSED: N_("不能暂停"),
    SendStatus.SENDING: N_("不能继续"),
    SendStatus.CANCELLED: N_("不能取消"),
    SendStatus.SCHEDULED: N_("不能改期"),
}


class StateConflict(SendError):
    """The send's state does not allow the step (it finished meanwhile, say)."""


def _transition(
    session: Session, send_id: int, allowed: set[SendStatus], to: SendStatus, **values: object
) -> None:
    moved = tables.changed(
        session,
        update(Send)
        .where(Send.id == send_id, Send.status.in_([a.value for a in allowed]))
        .values(status=to, **values)
        .execution_options(synchronize_session=False),
    )
    if moved != 1:
        session.rollback()
        current = lookups.send_status(session, send_id)
        if current is None:
            raise SendError(P(N_("没有发送 #%(id)s。"), id=str(send_id)))
        raise StateConflict(
            P(
                N_("发送 #%(id)s %(state)s，%(refusal)s。"),
                id=str(send_id),
                state=P(states.SEND.get(current, current)),
                refusal=P(_REFUSALS[to]),
            )
        )
    session.commit()


# The moving average looks this far back (or less, while the send is younger than this).
RECENT_SECONDS = 60


class SendPace(TypedDict):
    elapsed_seconds: float | None
    rate_per_second: float | None  # since the send started
    recent_rate_per_second: float | None  # over the last minute (None once it finished)
    eta_seconds: int | None


class Progress(SendPace):
    send_id: int
    status: str
    total: int
    sent: int
    failed: int  # failed and bounced
    deferred: int
    cancelled: int
    remaining: int
    counts: dict[str, int]  # per delivery state
    scheduled_at: str | None  # ISO 8601, naive UTC (so are the other times)
    in_doubt: int
    paused_reason: str | None  # zh-CN text
    paused_words: dict | None  # the same as data (Phrase.to_json), for pages
    paused_detail: str | None
    paused_at: str | None
    resume_at: str | None
    priority_note: str | None  # zh-CN text
    priority_words: dict | None  # the same as data, for pages


def pace(send: Send, sent: int, recent: int, remaining: int, now: dt.datetime) -> SendPace:
    """Rate from the send's own start, a moving average over the last minute, and the ETA
    from the rate since start (None while nothing measures it, or when nothing is left)."""
    if send.started_at is None:
        return {
            "elapsed_seconds": None,
            "rate_per_second": None,
            "recent_rate_per_second": None,
            "eta_seconds": None,
        }
    end = send.finished_at or now
    elapsed = max((end - send.started_at).total_seconds(), 0.001)
    rate = sent / elapsed
    window = min(float(RECENT_SECONDS), elapsed)
    recent_rate = recent / window if send.finished_at is None else None
    going = send.status in (SendStatus.QUEUED, SendStatus.SENDING)
    return {
        "elapsed_seconds": round(elapsed, 1),
        "rate_per_second": round(rate, 2),
        "recent_rate_per_second": round(recent_rate, 2) if recent_rate is not None else None,
        "eta_seconds": round(remaining / rate) if going and rate > 0 and remaining else None,
    }


def progress(
    session: Session,
    send_id: int,
    priority_grace_minutes: float = 10.0,
    hold_in_doubt: bool = False,
    now: dt.datetime | None = None,
) -> Progress:
    """Counts, the rate since the send started and over the last minute, and the ETA; why
    it is paused (the breaker's reason and the server's answer); what waits for the
    priority edition."""
    # Workers change the row from other processes: always read it afresh.
    send = session.get(Send, send_id, populate_existing=True)
    if send is None:
        raise SendError(P(N_("没有发送 #%(id)s。"), id=str(send_id)))
    counts = lookups.counts(session, send_id)
    total = sum(counts.values())
    final = sum(n for state, n in counts.items() if state in DeliveryState.settled(hold_in_doubt))
    remaining = total - final
    now = now or utcnow()
    sent = counts.get(DeliveryState.SENT, 0)
    note = _priority_note(session, send_id, counts, priority_grace_minutes, now)
    recent = lookups.sent_since(session, send_id, now - dt.timedelta(seconds=RECENT_SECONDS))
    return {
        "send_id": send_id,
        "status": send.status,
        "total": total,
        "sent": counts.get(DeliveryState.SENT, 0),
        "failed": counts.get(DeliveryState.FAILED, 0) + counts.get(DeliveryState.BOUNCED, 0),
        "deferred": counts.get(DeliveryState.DEFERRED, 0),
        "cancelled": counts.get(DeliveryState.CANCELLED, 0),
        "remaining": remaining,
        "counts": counts,
        **pace(send, sent, recent, remaining, now),
        "scheduled_at": send.scheduled_at.isoformat() if send.scheduled_at else None,
        "in_doubt": counts.get(DeliveryState.IN_DOUBT, 0),
        "paused_reason": send.paused_reason,
        "paused_words": send.paused_words,
        "paused_detail": send.paused_detail,
        "paused_at": send.paused_at.isoformat() if send.paused_at else None,
        "resume_at": send.resume_at.isoformat() if send.resume_at else None,
        "priority_note": note.text() if note else None,
        "priority_words": note.to_json() if note else None,
    }


def _priority_note(
    session: Session, send_id: int, counts: dict[str, int], grace_minutes: float, now: dt.datetime
) -> Phrase | None:
    """Why the regular edition waits, or why it went on without some priority copies."""
    if not counts.get(DeliveryState.DEFERRED):
        return None
    grace = dt.timedelta(minutes=grace_minutes)
    late = lookups.priority_past_grace(session, send_id, now, grace)
    if late:
        return P(
            N_("领导版有 %(late)s 封在重试已超过 %(minutes)s 分钟，普通版不再等待，继续发送"),
            late=late,
            minutes=f"{grace_minutes:g}",
        )
    if lookups.priority_waiting(session, now, grace):
        return P(
            N_("领导版有邮件在重试，普通版最多等待 %(minutes)s 分钟"), minutes=f"{grace_minutes:g}"
        )
    return None
