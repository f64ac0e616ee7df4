"""Delivering a batch, and the sweep that recovers what no worker holds. No Flask, no rq.

`deliver_batch` talks to the database only through `store`/`leases`/`control` and to SMTP
only through the transport it is handed, and reads time from the clock it is handed: it runs
the same in a worker process and in an in-process test with a fake transport and clock.

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
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.orm import Session

from newsletter.bulletin.models import IssueStatus
from newsletter.delivery import control, leases, store
from newsletter.delivery.classify import Classification, Verdict
from newsletter.delivery.marks import Progress
from newsletter.delivery.marks import UnrecordedSend as UnrecordedSend  # jobs.py's names
from newsletter.delivery.marks import record_late as record_late
from newsletter.delivery.message import DkimSigner, domain_of
from newsletter.delivery.models import DeliveryState, Send, SendStatus
from newsletter.delivery.pipeline import (
    PipelineSettings,
    _variants,
    plan_batches,
    subscriber_links,
    unsubscribe_mailto,
    verp_address,
)
from newsletter.delivery.relays import Grant, Wait
from newsletter.delivery.routing import RelayRouter
from newsletter.delivery.transport import SmtpFailure
from newsletter.phrase import N_, P, Phrase
from newsletter.render import Edition, personalise
from newsletter.timeutil import utcnow
from newsletter.tracking.bounces import REF_HEADER
from newsletter.tracking.links import tracking_values
from subscribers.suppression import suppress_subscriber

if TYPE_CHECKING:
    from newsletter.delivery.relaycheck import CheckResult

log = logging.getLogger(__name__)

# How often (in messages) a batch looks up whether its send was paused or cancelled, and
# whether a priority send now needs the way: a query each time, so not every message.
CHECK_EVERY = 10


class Clock(Protocol):
    def now(self) -> dt.datetime: ...


class Transport(Protocol):
    """What a batch hands messages to: transport.SmtpTransport, or a test's fake."""

    def send(self, mail_from: str, rcpt: str, message: bytes) -> str: ...


class Limiter(Protocol):
    """ratelimit.RateLimiter, or a test's stand-in: blocks until one more may go, calling
    `before_wait` first if it has to wait."""

    def acquire(self, before_wait: Callable[[], object] | None = None) -> None: ...


class SystemClock:
    def now(self) -> dt.datetime:
        return utcnow()


@dataclass
class Streak:
    """Failures of one kind in a row, for the circuit breaker (per send and relay)."""

    kind: tuple[object, ...] | None = None
    count: int = 0

    def add(self, kind: tuple[object, ...]) -> int:
        self.count = self.count + 1 if kind == self.kind else 1
        self.kind = kind
        return self.count

    def reset(self) -> None:
        self.kind, self.count = None, 0


# Per worker process: a streak outlives the batch (a relay failing every message of many
# small batches still trips the breaker).
_STREAKS: dict[tuple[int, str], Streak] = {}


@dataclass
class Senders:
    """What a batch sends through: one SMTP transport, the shared rate limit, DKIM, a clock,
    and who to tell when the breaker pauses a send (`on_pause(send_id)`)."""

    transport: Transport | None  # None: every message goes through `router`
    limiter: Limiter | None = None  # ratelimit.RateLimiter
    signer: DkimSigner | None = None
    clock: Clock = field(default_factory=SystemClock)
    relay: str = ""  # names the relay for the breaker
    on_pause: Callable[[int], None] | None = None
    # Several relays (delivery.routing): each message takes the relay the pool gives it,
    # with that relay's connection and envelope sender; None: `transport` for everything.
    router: RelayRouter | None = None
    # The relay check (delivery.relaycheck) a send runs before its first message: returns
    # one result per relay; a send whose every relay fails it does not start.
    preflight: Callable[[], list[CheckResult]] | None = None
    streaks: dict[tuple[int, str], Streak] = field(default_factory=lambda: _STREAKS)
    timezone: str = "Asia/Shanghai"  # for what the send page is told

    def streak(self, send_id: int) -> Streak:
        return self.streaks.setdefault((send_id, self.relay), Streak())


@dataclass
class BatchResult:
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    skipped: int = 0
    lease_lost: int = 0  # deliveries left when the lease was found lost
    paced: int = 0  # put back untried until a domain's pace or a relay's rate allows
    paused: bool = False  # the breaker paused the send
    # Regular deliveries handed back because priority ones are waiting: the job enqueues
    # them again behind the priority queue instead of holding its worker.
    yielded: list[int] = field(default_factory=list)


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
    status = store.send_status(session, send_id)
    if status in (SendStatus.PAUSED, SendStatus.CANCELLED, None) or not delivery_ids:
        result.skipped = len(delivery_ids)
        return result
    clock = senders.clock
    regular = store.edition_of(session, delivery_ids[0]) != Edition.PRIORITY.value
    if regular and _priority_waiting(session, settings, clock):
        result.yielded = list(delivery_ids)
        return result
    if (
        status == SendStatus.QUEUED
        and senders.preflight is not None
        and not _preflight(session, settings, senders, senders.preflight, send_id)
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
                if store.send_status(session, send_id) != SendStatus.SENDING:
                    break  # paused or cancelled mid-batch: what is left goes back below
            else:
                # The status and the priority look-up in one query (one round trip).
                status, waiting = store.send_check(
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
            trip = _route_one(
                session, settings, senders, senders.router, delivery, result, progress
            )
            if trip is Stop.WAITING:  # every relay out of quota or paused: the send waits
                break
        else:
            trip = _deliver_one(session, settings, senders, delivery, result, progress)
        if trip is Stop.LOST:
            result.lease_lost = len(claimed) - n - 1
            break
        if isinstance(trip, Classification):
            progress.flush()
            leases.release(session, progress.token)  # this one too: no attempt spent
            result.paused = True
            _trip_breaker(session, settings, senders, send_id, trip, senders.clock)
            break


def release_claims(session: Session, token: str) -> None:
    """After a batch failed as a whole: the deliveries it still holds back to the queue."""
    try:
        leases.release(session, token)
    except Exception:  # the database may be what failed: the lease expires, the sweep acts
        session.rollback()


def _priority_waiting(session: Session, settings: PipelineSettings, clock: Clock) -> bool:
    waiting = store.priority_waiting(
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


class Stop(Enum):
    """Why one message ends the batch's loop (besides a Classification tripping the breaker)."""

    LOST = "lost"  # the row was no longer ours when its answer came
    WAITING = "waiting"  # no relay can take mail now: the send was paused until then


# What handing one message over returns: None (go on), a Stop, or the breaker's trip.
Outcome = Classification | Stop | None


def _preflight(
    session: Session,
    settings: PipelineSettings,
    senders: Senders,
    preflight: Callable[[], list[CheckResult]],
    send_id: int,
) -> bool:
    """The relay check before a send's first message: relays that fail it are paused;
    when all fail the send does not start (paused as the breaker would: by itself again
    later when the relay is only down or busy), and its page says what to change."""
    results = preflight()
    failed = [r for r in results if not r.ok]
    if results and len(failed) == len(results):
        first = failed[0]
        assert isinstance(first.classification, Classification)  # a failed check has one
        _trip_breaker(
            session,
            settings,
            senders,
            send_id,
            first.classification,
            senders.clock,
            reason=P(
                N_("发送前检查未通过（中继 %(relay)s）：%(problem)s。%(advice)s"),
                relay=first.relay,
                problem=first.problem,
                advice=first.advice,
            ),
        )
        return False
    if senders.router is not None:
        for r in failed:
            senders.router.pause(r.relay, f"{r.problem}（发送前检查）")
    return True


def _route_one(
    session: Session,
    settings: PipelineSettings,
    senders: Senders,
    router: RelayRouter,
    delivery: store.Claimed,
    result: BatchResult,
    progress: Progress,
) -> Outcome:
    """One message through the relay pool: a relay with room under its limits and the
    receiving domain's pace; a relay-level failure pauses that relay and the message goes
    to the next; only when none is left does the send's breaker trip (returned as for
    `_deliver_one`). A long wait for the domain or the rate puts the message back until
    then (untried) and the batch goes on with the others."""
    while True:
        grant = router.route(delivery.email, before_wait=progress.flush)
        if isinstance(grant, Wait):
            progress.flush()  # its outcome (put back, or the send waits) comes after theirs
            return _wait(session, senders, router, delivery, grant, result)
        senders.relay = grant.relay.name  # the breaker's streaks are per relay
        try:
            trip = _deliver_one(
                session, settings, senders, delivery, result, progress, (router, grant)
            )
        finally:
            grant.release()
        if not isinstance(trip, Classification):
            return trip
        others = [
            r for r in router.relays if r.name != grant.relay.name and not router.paused(r.name)
        ]
        if not others:
            return trip  # the last relay standing: pause the send (and say why)
        router.pause(grant.relay.name, f"{trip.reason}: {describe(trip)}", trip.retry_after or None)
        senders.streak(delivery.send_id).reset()
        log.warning(
            "relay %s paused (%s); its work goes to %s",
            grant.relay.name,
            describe(trip),
            ", ".join(r.name for r in others),
        )


def _wait(
    session: Session,
    senders: Senders,
    router: RelayRouter,
    delivery: store.Claimed,
    wait: Wait,
    result: BatchResult,
) -> Stop | None:
    now = senders.clock.now()
    until = now + dt.timedelta(seconds=wait.seconds)
    if wait.reason in ("domain", "rate"):
        store.hold_until(
            session, delivery, until, f"paced: {wait.reason} limit, {wait.seconds:.0f}s"
        )
        result.paced += 1
        return None
    # Every relay out of its daily quota (or paused): the send waits, and says until when.
    left = store.unfinished(session, delivery.send_id)
    from newsletter.delivery.forecast import quota_phrase

    tz = senders.timezone
    if wait.reason == "quota":
        opens = router.pool.quota_exhausted() or until
        reason = quota_phrase(left, opens, now, tz)
        detail = "every relay is out of its daily quota"
    else:
        opens = until
        reason = P(
            N_("所有中继均已暂停：%(relays)s"),
            relays="；".join(
                f"{r.name} {router.pause_reason(r.name) or ''}".strip() for r in router.relays
            ),
        )
        detail = "every relay is paused by its circuit breaker"
    if control.breaker_pause(session, delivery.send_id, reason, detail, opens, now):
        log.warning("send %s waits: %s", delivery.send_id, reason)
    result.paused = True
    return Stop.WAITING


def _deliver_one(
    session: Session,
    settings: PipelineSettings,
    senders: Senders,
    delivery: store.Claimed,
    result: BatchResult,
    progress: Progress,
    via: tuple[RelayRouter, Grant] | None = None,
) -> Outcome:
    """One message (through the granted relay when `via` is given). Returns None,
    Stop.LOST, or the Classification that trips the breaker."""
    fmt, rendered, template = _variants.get(session, settings, delivery.send_id, delivery.variant)
    links = subscriber_links(settings, delivery.subscriber_id)
    # Test addresses (no subscriber) are never tracked: they would count as readers.
    opted_out = delivery.subscriber_id is None or delivery.tracking_opt_out
    tracking = tracking_values(
        settings.tracking, delivery.send_id, delivery.id, opted_out=opted_out
    )
    html, text = personalise(rendered, {**links, "name": delivery.name, **tracking})
    unsubscribe = [links["unsubscribe_url"]]
    if settings.unsubscribe_mailto:
        unsubscribe.append(unsubscribe_mailto(settings, delivery.subscriber_id))
    streak = senders.streak(delivery.send_id)
    verp = verp_address(settings, template, delivery.id)
    try:
        message = template.build(
            to_email=delivery.email,
            to_name=delivery.name,
            message_id=delivery.message_id,
            html=None if fmt == "text" else html,
            text=text,
            list_unsubscribe=unsubscribe,
            extra_headers={REF_HEADER: verp},  # names the delivery in bounces without VERP
        )
        if senders.signer is not None:
            message = senders.signer.sign(message)
        if via is not None:
            router, grant = via
            transport: Transport = router.transport(grant.relay)
            envelope = router.envelope(grant.relay, verp)
        elif senders.transport is not None:
            transport, envelope = senders.transport, verp
        else:
            raise RuntimeError("Senders needs a transport or a router")
        answer = transport.send(envelope, delivery.email, message)
    except SmtpFailure as failure:
        c = failure.classification
        if (
            via is not None
            and c.verdict == Verdict.TRANSIENT
            and c.code
            and c.stage in ("rcpt", "data")
        ):
            via[0].deferred(delivery.email)  # that domain slows down, no other
        return _settle(session, settings, senders, delivery, c, result, progress)
    except ValueError as exc:  # a header that failed validation: never retry
        progress.flush()  # the events stay in the order things happened
        store.mark_failed(session, delivery, f"message not built: {exc}")
        result.failed += 1
        return None
    streak.reset()
    # Written with its group (delivery.marks); a database outage raises UnrecordedSend.
    return None if progress.accepted(delivery, answer) else Stop.LOST


def describe(c: Classification) -> str:
    return f"{c.stage}: {c.code} {c.text}" if c.code else f"{c.stage}: {c.text}"


def _settle(
    session: Session,
    settings: PipelineSettings,
    senders: Senders,
    delivery: store.Claimed,
    c: Classification,
    result: BatchResult,
    progress: Progress,
) -> Outcome:
    if c.pauses_send:
        return c
    threshold = settings.breaker_threshold
    if (
        threshold
        and senders.streak(delivery.send_id).add((c.verdict, c.stage, c.code, c.enhanced))
        >= threshold
    ):
        return c
    progress.flush()  # the sent marks before this outcome: the events stay in order
    now = senders.clock.now()
    if c.verdict in (Verdict.HARD_BOUNCE, Verdict.MESSAGE):
        # The failure and its suppression in one transaction: a worker that dies between
        # two commits would leave a bad mailbox failed but still mailed next week.
        ours = store.mark_failed(session, delivery, describe(c), commit=False)
        if ours and c.suppress and delivery.subscriber_id is not None:
            suppress_subscriber(
                session,
                delivery.email,
                "bounced",
                describe(c),
                verdict=c.verdict,
                send_id=delivery.send_id,
                delivery_id=delivery.id,
                commit=False,
            )
        session.commit()
        result.failed += 1
        return None if ours else Stop.LOST
    horizon = (delivery.first_failed_at or now) + dt.timedelta(hours=settings.retry_window_hours)
    if now >= horizon:
        ours = store.mark_failed(
            session, delivery, f"gave up after {settings.retry_window_hours:g} h: {describe(c)}"
        )
        result.failed += 1
    else:
        delay = backoff(settings, delivery.attempts)
        if c.retry_after:
            delay = max(delay, dt.timedelta(seconds=c.retry_after))
        ours = store.mark_deferred(session, delivery, describe(c), min(now + delay, horizon), now)
        result.deferred += 1
    return None if ours else Stop.LOST


def backoff(settings: PipelineSettings, attempts: int) -> dt.timedelta:
    base = settings.retry_base_seconds * (2 ** min(max(attempts - 1, 0), 30))
    delay = min(base, settings.retry_max_seconds) * random.uniform(0.8, 1.2)
    return dt.timedelta(seconds=delay)


def _trip_breaker(
    session: Session,
    settings: PipelineSettings,
    senders: Senders,
    send_id: int,
    c: Classification,
    clock: Clock,
    reason: Phrase | None = None,
) -> None:
    streak = senders.streak(send_id)
    # The classifier's reason is its own zh-CN diagnosis (also on the delivery's row).
    reason = reason or P(c.reason)
    if not c.pauses_send:
        reason = P(N_("%(reason)s（连续 %(n)s 次同类失败）"), reason=P(c.reason), n=streak.count)
    streak.reset()
    now = clock.now()
    resume_at = None
    if c.code is None or 400 <= c.code < 500:  # down or busy for now: try again by itself
        delay = backoff(settings, store.send_pauses(session, send_id) + 1)
        if c.retry_after:
            delay = max(delay, dt.timedelta(seconds=c.retry_after))
        resume_at = now + delay
    if control.breaker_pause(session, send_id, reason, describe(c), resume_at, now):
        log.warning("send %s paused by the circuit breaker: %s — %s", send_id, reason, describe(c))
        if senders.on_pause is not None:
            try:
                senders.on_pause(send_id)
            except Exception:  # telling staff must not undo the pause
                session.rollback()
                log.exception("could not notify staff of the pause of send %s", send_id)


def _mark_started(session: Session, send_id: int) -> None:
    send = session.get_one(Send, send_id)
    if send.status == SendStatus.QUEUED:
        send.status = SendStatus.SENDING
        send.started_at = utcnow()
        if not send.is_test:
            send.issue.status = IssueStatus.SENDING
        session.commit()


def finish_if_done(session: Session, settings: PipelineSettings, send_id: int) -> bool:
    if store.unfinished(session, send_id, not settings.resend_in_doubt):
        return False
    send = session.get_one(Send, send_id, populate_existing=True)
    if send.status in (SendStatus.QUEUED, SendStatus.SENDING):
        send.status = SendStatus.DONE
        send.finished_at = utcnow()
        if not send.is_test:
            send.issue.status = IssueStatus.SENT
        session.commit()
    return True


# --- recovery -------------------------------------------------------------------------


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
            for s in store.active_sends(session)
            if s not in sends_with_jobs and not any(k[0] == s for k in groups)
        ]
        planned.update(store.sends_with_ready(session, idle, now, settings.resend_in_doubt))
    for send_id in planned:
        for edition, ids in plan_batches(session, settings, send_id):
            add(send_id, edition, ids)
    for key, ids in groups.items():
        groups[key] = sorted(set(ids))
    for send_id in store.active_sends(session):
        finish_if_done(session, settings, send_id)
    return groups
