"""A batch's messages through the relay pool (delivery.routing): the relay check before a
send's first message, each message on a relay with room (a relay that fails is paused and
the message goes to the next), and what happens when none has room: a long wait for a
domain's pace or a relay's rate puts the message back until then; every relay out of
quota or paused makes the send wait, saying until when.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from newsletter.delivery import control, lookups, store
from newsletter.delivery.classify import Classification
from newsletter.delivery.marks import Progress
from newsletter.delivery.outcomes import Outcome, Stop, deliver_one, describe, trip_breaker
from newsletter.delivery.pipeline import PipelineSettings
from newsletter.delivery.relaypool import Wait
from newsletter.delivery.routing import RelayRouter
from newsletter.delivery.senders import BatchResult, Senders
from newsletter.phrase import N_, P

if TYPE_CHECKING:
    from newsletter.delivery.relaycheck import CheckResult

log = logging.getLogger(__name__)


def preflight(
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
        trip_breaker(
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


def route_one(
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
    `deliver_one`). A long wait for the domain or the rate puts the message back until
    then (untried) and the batch goes on with the others."""
    while True:
        grant = router.route(delivery.email, before_wait=progress.flush)
        if isinstance(grant, Wait):
            progress.flush()  # its outcome (put back, or the send waits) comes after theirs
            return _wait(session, senders, router, delivery, grant, result)
        senders.relay = grant.relay.name  # the breaker's streaks are per relay
        try:
            trip = deliver_one(
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
    left = lookups.unfinished(session, delivery.send_id)
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
