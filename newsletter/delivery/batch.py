"""Delivering a batch, and the sweep that recovers what no worker holds. No Flask, no rq.

`deliver_batch` talks to the database only through `store`/`lookups`/`leases`/`control`
and to SMTP only through the transport it is handed, and reads time from the clock it is
handed: it runs the same in a worker process and in an in-process test with a fake
transport and clock.
Its stages have modules of their own: what it sends through (delivery.senders), one
message and its outcome (delivery.outcomes), the way through the relay pool
(delivery.pooled), the sent marks and the lease (delivery.marks).

What it guarantees (README, "Never twice, never dropped"):
- a lease on what it claimed, renewed every half lease and checked before each message; a
  worker that lost its lease stops at once;
- the Message-ID stored before DATA (at claim time), the relay's queue id after; the sent
  marks written in groups (delivery/marks.py), so a crash leaves at most SENT_MARK_EVERY
  deliveries in doubt, each resent with its Message-ID;
- failures classified by stage (classify.py): only the reader's own mailbox marks the
  reader; relay problems, or BREAKER_THRESHOLD failures of one kind in a row, pause the
  send with the server's answer, fail nobody and spend no attempt;
- transient failures retried with jittered backoff for RETRY_WINDOW_HOURS;
- the regular edition gives way to priority deliveries, deferred ones included for
  PRIORITY_GRACE_MINUTES.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from collections.abc import Callable

from sqlalchemy.orm import Session

from newsletter.bulletin.models import IssueStatus
from newsletter.delivery import control, leases, lookups, store
from newsletter.delivery.classify import Classification
from newsletter.delivery.marks import Progress
from newsletter.delivery.message import domain_of
from newsletter.delivery.models import DeliveryState, Send, SendStatus
from newsletter.delivery.outcomes import Stop, deliver_one, trip_breaker
from newsletter.delivery.pipeline import PipelineSettings, plan_batches
from newsletter.delivery.pooled import preflight, route_one
from newsletter.delivery.senders import BatchResult, Clock, Senders
from newsletter.render import Edition
from newsletter.timeutil import utcnow

log = logging.getLogger(__name__)


# How often (in messages) a batch looks up whether its send was paused or cancelled, and
# whether a priority send now needs the way: a query each time, so not every message.
CHECK_EVERY = 10


def deliver_batch(
    session: Session,
    settings: PipelineSettings,
    senders: Senders,
    send_id: int,
    delivery_ids: list[int],
    token: str | None = None,
) -> BatchResult:
    """Lease the batch's waiting deliveries and hand each to SMTP over one connection.

    Sent marks are written in groups (delivery.marks: every SENT_MARK_EVERY messages or
    SENT_MARK_MAX_MS, and before any wait, other outcome, lease renewal or the end, even
    on an exception), so a crash leaves at most SENT_MARK_EVERY deliveries in doubt, each
    resent with its Message-ID. Deliveries already final or leased by another worker are
    skipped: running the same batch twice is harmless.
    """
    result = BatchResult()
    status = lookups.send_status(session, send_id)
    if status in (SendStatus.PAUSED, SendStatus.CANCELLED, None) or not delivery_ids:
        result.skipped = len(delivery_ids)
        return result
    clock = senders.clock
    regular = lookups.edition_of(session, delivery_ids[0]) != Edition.PRIORITY.value
    if regular and _priority_waiting(session, settings, clock):
        result.yielded = list(delivery_ids)
        return result
    if (
        status == SendStatus.QUEUED
        and senders.preflight is not None
        and not preflight(session, settings, senders, senders.preflight, send_id)
    ):
        result.skipped, result.paused = len(delivery_ids), True
        return result
    _mark_started(session, send_id)
    token = token or secrets.token_hex(16)
    now = clock.now()
    claimed = store.claim(
        session,
        send_id,
        delivery_ids,
        token,
        now,
        now + dt.timedelta(seconds=settings.lease_seconds),
        domain_of(settings.mail_from),
        settings.resend_in_doubt,
    )
    result.skipped = len(delivery_ids) - len(claimed)
    progress = Progress(
        session,
        token,
        clock,
        settings.lease_seconds,
        claimed,
        settings.sent_mark_every,
        settings.sent_mark_max_ms,
        now,
    )
    try:
        _hand_over(session, settings, senders, send_id, claimed, regular, progress, result)
    finally:
        progress.flush()  # whatever ends the batch, what the server took is written first
        result.sent = progress.sent
    if claimed:
        leases.release(session, token)  # whatever was not handed over; the lease ends
    finish_if_done(session, settings, send_id)
    return result


def _hand_over(
    session: Session,
    settings: PipelineSettings,
    senders: Senders,
    send_id: int,
    claimed: list[store.Claimed],
    regular: bool,
    progress: Progress,
    result: BatchResult,
) -> None:
    """The batch's messages, one by one, until done or something stops it."""
    grace = dt.timedelta(minutes=settings.priority_grace_minutes)
    for n, delivery in enumerate(claimed):
        if n and n % CHECK_EVERY == 0:
            if not regular:
                if lookups.send_status(session, send_id) != SendStatus.SENDING:
                    break  # paused or cancelled mid-batch: what is left goes back below
            else:
                # The status and the priority look-up in one query (one round trip).
                status, waiting = lookups.send_check(
                    session, send_id, senders.clock.now(), grace, settings.resend_in_doubt
                )
                session.rollback()  # end the read transaction: the next look sees new commits
                if status != SendStatus.SENDING:
                    break
                if waiting:
                    _give_way(progress.flush)
                    result.yielded = [d.id for d in claimed[n:]]
                    break
        if senders.limiter is not None:
            senders.limiter.acquire(before_wait=progress.flush)
        if not progress.before(n):
            result.lease_lost = len(claimed) - n  # nothing in flight: stop right here
            break
        if senders.router is not None:
            trip = route_one(session, settings, senders, senders.router, delivery, result, progress)
            if trip is Stop.WAITING:  # every relay out of quota or paused: the send waits
                break
        else:
            trip = deliver_one(session, settings, senders, delivery, result, progress)
        if trip is Stop.LOST:
            result.lease_lost = len(claimed) - n - 1
            break
        if isinstance(trip, Classification):
            progress.flush()
            leases.release(session, progress.token)  # this one too: no attempt spent
            result.paused = True
            trip_breaker(session, settings, senders, send_id, trip, senders.clock)
            break


def release_claims(session: Session, token: str) -> None:
    """After a batch failed as a whole: the deliveries it still holds back to the queue."""
    try:
        leases.release(session, token)
    except Exception:  # the database may be what failed: the lease expires, the sweep acts
        session.rollback()


def _priority_waiting(session: Session, settings: PipelineSettings, clock: Clock) -> bool:
    waiting = lookups.priority_waiting(
        session,
        clock.now(),
        dt.timedelta(minutes=settings.priority_grace_minutes),
        settings.resend_in_doubt,
    )
    session.rollback()  # end the read transaction so the next look sees new commits
    if waiting:
        _give_way(None)
    return waiting


def _give_way(before_wait: Callable[[], object] | None) -> None:
    """A regular batch yields to waiting priority deliveries: its marks written first."""
    if before_wait is not None:
        before_wait()
    time.sleep(0.2)  # give the priority batches a moment before this one comes round again


def _mark_started(session: Session, send_id: int) -> None:
    send = session.get_one(Send, send_id)
    if send.status == SendStatus.QUEUED:
        send.status = SendStatus.SENDING
        send.started_at = utcnow()
        if not send.is_test:
            send.issue.status = IssueStatus.SENDING
        session.commit()


def finish_if_done(session: Session, settings: PipelineSettings, send_id: int) -> bool:
    if lookups.unfinished(session, send_id, not settings.resend_in_doubt):
        return False
    send = session.get_one(Send, send_id, populate_existing=True)
    if send.status in (SendStatus.QUEUED, SendStatus.SENDING):
        send.status = SendStatus.DONE
        send.finished_at = utcnow()
        if not send.is_test:
            send.issue.status = IssueStatus.SENT
        session.commit()
    return True


def recover(
    session: Session,
    settings: PipelineSettings,
    now: dt.datetime | None = None,
    sends_with_jobs: set[int] | None = None,
) -> dict[tuple[int, str], list[int]]:
    """What no live worker holds and is due, back to work. The database is the truth.

    Expired leases (a dead or stopped worker), due retries, sends the breaker paused for a
    passing relay problem and (given the sends that still have jobs in Redis) every active send with waiting deliveries but no job: a lost job, a Redis
    restart, a send whose jobs never reached Redis. Returns the delivery ids to enqueue,
    grouped by (send id, edition); active sends with nothing left are marked done.
    """
    now = now or utcnow()
    groups: dict[tuple[int, str], list[int]] = {}

    def add(send_id: int, edition: str, ids: list[int]) -> None:
        groups.setdefault((send_id, edition), []).extend(ids)

    for delivery_id, send_id, edition, state in leases.requeue_expired(
        session, now, settings.lease_seconds
    ):
        if state == DeliveryState.QUEUED or settings.resend_in_doubt:
            add(send_id, edition, [delivery_id])
    for delivery_id, send_id, edition in store.requeue_due(session, now):
        add(send_id, edition, [delivery_id])
    # (Due scheduled sends whose job was lost are started by the send service: worker.py.)
    planned = set(control.auto_resume_due(session, now))
    if sends_with_jobs is not None:
        idle = [
            s
            for s in lookups.active_sends(session)
            if s not in sends_with_jobs and not any(k[0] == s for k in groups)
        ]
        planned.update(lookups.sends_with_ready(session, idle, now, settings.resend_in_doubt))
    for send_id in planned:
        for edition, ids in plan_batches(session, settings, send_id):
            add(send_id, edition, ids)
    for key, ids in groups.items():
        groups[key] = sorted(set(ids))
    for send_id in lookups.active_sends(session):
        finish_if_done(session, settings, send_id)
    return groups
