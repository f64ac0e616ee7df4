"""One message handed over and its outcome written.

`deliver_one` builds a claimed delivery's message, hands it to the transport and, when the
server took it, leaves its sent mark to the batch's group (delivery.marks). A failure is
classified by stage (classify.py) and settled here: only the reader's own mailbox marks
the reader (failed, and suppressed in the same transaction), transient ones are retried
with jittered backoff for RETRY_WINDOW_HOURS, and relay problems, or BREAKER_THRESHOLD
failures of one kind in a row, trip the breaker (`trip_breaker`): the send pauses with
the server's answer, failing nobody and spending no attempt.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from enum import Enum

from sqlalchemy.orm import Session

from newsletter.delivery import control, lookups, store
from newsletter.delivery.classify import Classification, Verdict
from newsletter.delivery.marks import Progress
from newsletter.delivery.pipeline import (
    PipelineSettings,
    _variants,
    subscriber_links,
    unsubscribe_mailto,
    verp_address,
)
from newsletter.delivery.relaypool import Grant
from newsletter.delivery.routing import RelayRouter
from newsletter.delivery.senders import BatchResult, Clock, Senders, Transport
from newsletter.delivery.transport import SmtpFailure
from newsletter.phrase import N_, P, Phrase
from newsletter.render import personalise
from newsletter.tracking.bounces import REF_HEADER
from newsletter.tracking.links import tracking_values
from subscribers.suppression import suppress_subscriber

log = logging.getLogger(__name__)


class Stop(Enum):
    """Why one message ends the batch's loop (besides a Classification tripping the breaker)."""

    LOST = "lost"  # the row was no longer ours when its answer came
    WAITING = "waiting"  # no relay can take mail now: the send was paused until then


# What handing one message over returns: None (go on), a Stop, or the breaker's trip.
Outcome = Classification | Stop | None


def deliver_one(
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


def trip_breaker(
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
        delay = backoff(settings, lookups.send_pauses(session, send_id) + 1)
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
