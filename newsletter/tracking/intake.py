"""Bounce and complaint intake: a parsed report applied to the delivery it names.

The delivery is found from the VERP envelope address (signed: a forged bounce cannot name
a delivery) or, failing that, from the original Message-ID (random per message). Then:

Each recipient block is judged by the one classifier (`delivery.classify.classify_dsn`), so
a DSN means what the same answer would have meant over SMTP:

* hard bounce  -> Delivery.state = bounced, event, address suppressed;
* soft bounce  -> event; the address is suppressed once the last N weeks it was mailed in
  (SOFT_BOUNCE_WEEKS, default 3) each had a hard or soft bounce;
* message / relay -> a `bounced` event only: refused for its content, or for our sender's
  authentication (SPF, DMARC, 5.7.515): nobody's address is to blame;
* delayed      -> a `deferred` event (the remote server is still trying);
* complaint    -> event, address suppressed (ARF; "not-spam" feedback is ignored).

Every suppression records its verdict, send and delivery (so a mistaken wave can be lifted).

Every outcome is idempotent: the same report fed twice (SMTP and then the file CLI, say)
changes nothing the second time. Malformed input is logged and dropped, never raised.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from newsletter.delivery.models import (
    Delivery,
    DeliveryEvent,
    DeliveryState,
    EventKind,
    Send,
)
from newsletter.timeutil import utcnow
from newsletter.tracking import signing
from newsletter.tracking.bounces import DELAY, HARD, SOFT, BounceParseError, Report, parse_any
from newsletter.tracking.links import TrackingSettings
from newsletter.tracking.models import TrackedEvent
from subscribers.models import SuppressionReason
from subscribers.suppression import suppress_subscriber

log = logging.getLogger(__name__)


@dataclass
class IngestResult:
    outcome: str  # hard/soft/message/relay/delay/complaint/ignored/duplicate/dropped
    delivery_id: int | None = None
    detail: str = ""
    suppressed: bool = False


def ingest(
    session: Session,
    raw: bytes,
    settings: TrackingSettings,
    *,
    envelope_rcpts: list[str] | tuple[str, ...] = (),
    source: str = "",
) -> IngestResult:
    """Apply one DSN or ARF message. Never raises for bad input: returns outcome 'dropped'."""
    try:
        report = parse_any(raw)
    except BounceParseError as exc:
        log.warning("bounce intake (%s): dropped: %s", source or "?", exc)
        return IngestResult("dropped", detail=str(exc))
    delivery = find_delivery(session, settings, report, envelope_rcpts)
    if delivery is None:
        detail = "no delivery matches the VERP address or the Message-ID"
        log.warning("bounce intake (%s): dropped %s report: %s", source or "?", report.kind, detail)
        return IngestResult("dropped", detail=detail)
    if report.kind == "nonstandard":
        # Heuristic detectors: only a failure of the very address we mailed counts.
        report.recipients = [r for r in report.recipients if r.recipient == delivery.email]
        if not report.recipients:
            return IngestResult(
                "dropped", delivery.id, "the bounce names other addresses than the delivery's"
            )
    return apply_report(session, settings, report, delivery, raw)


def apply_report(
    session: Session, settings: TrackingSettings, report: Report, delivery: Delivery, raw: bytes
) -> IngestResult:
    """A parsed report (a DSN, an ARF, or a provider's event made into one) applied to the
    delivery it names; idempotent by the report's id (or, without one, its bytes)."""
    if report.kind == "arf":
        return _complaint(session, settings, report, delivery, raw)
    return _bounce(session, settings, report, delivery, raw)


def latest_delivery_to(session: Session, email: str, *, days: int = 30) -> Delivery | None:
    """The last delivery handed to `email` (for provider events that name only the
    recipient; they are authenticated by the provider's signature)."""
    import datetime as dt

    return session.scalar(
        select(Delivery)
        .where(
            Delivery.email == email.strip().lower(),
            Delivery.sent_at >= utcnow() - dt.timedelta(days=days),
        )
        .order_by(Delivery.sent_at.desc())
        .limit(1)
    )


def find_delivery(
    session: Session,
    settings: TrackingSettings,
    report: Report,
    envelope_rcpts: Iterable[str] = (),
) -> Delivery | None:
    for address in [*envelope_rcpts, *report.addresses]:
        delivery_id = signing.read_verp(settings.secret_key, address)
        if delivery_id is not None:
            delivery = session.get(Delivery, delivery_id)
            if delivery is not None:
                return delivery
    for message_id in report.message_ids:
        delivery = session.scalar(select(Delivery).where(Delivery.message_id == message_id))
        if delivery is not None:
            return delivery
    return None


def _key(kind: str, delivery_id: int, what: str, report: Report, raw: bytes) -> str:
    origin = report.report_id or hashlib.sha256(raw).hexdigest()
    return hashlib.sha256(f"{kind}|{delivery_id}|{what}|{origin}".encode()).hexdigest()[:40]


def _record(
    session: Session, delivery: Delivery, kind: str, detail: str, key: str, bounce: str = ""
) -> None:
    event = DeliveryEvent(
        delivery_id=delivery.id, kind=kind, detail=detail[:500], created_at=utcnow()
    )
    session.add(event)
    session.flush()
    session.add(
        TrackedEvent(
            key=key,
            event_id=event.id,
            send_id=delivery.send_id,
            delivery_id=delivery.id,
            kind=kind,
            bounce=bounce,
            created_at=event.created_at,
        )
    )


def _seen(session: Session, key: str) -> bool:
    return session.get(TrackedEvent, key) is not None


def _bounce(
    session: Session, settings: TrackingSettings, report: Report, delivery: Delivery, raw: bytes
) -> IngestResult:
    worst = report.worst
    klass = worst.klass if worst is not None else None  # set: `worst` is a failing recipient
    if worst is None or klass is None:
        return IngestResult("ignored", delivery.id, "report says delivered/relayed")
    detail = f"{klass} {worst.status or '-'} {worst.diagnostic}".strip()
    key = _key("dsn", delivery.id, f"{klass}|{worst.status}", report, raw)
    if _seen(session, key):
        return IngestResult("duplicate", delivery.id, detail)
    if klass == DELAY:
        _record(session, delivery, EventKind.DEFERRED, f"remote delay: {detail}", key, DELAY)
        session.commit()
        return IngestResult(DELAY, delivery.id, detail)
    _record(session, delivery, EventKind.BOUNCED, detail, key, klass)
    result = IngestResult(klass, delivery.id, detail)
    if klass == HARD:
        if delivery.state != DeliveryState.CANCELLED:
            delivery.state = DeliveryState.BOUNCED
            delivery.last_error = detail[:500]
        session.commit()
        if delivery.subscriber_id is not None:
            _suppress(
                session, delivery, SuppressionReason.BOUNCED, detail, worst.classification.verdict
            )
            result.suppressed = True
        return result
    session.commit()
    weeks = settings.soft_bounce_weeks
    if (
        klass == SOFT
        and delivery.subscriber_id is not None
        and soft_bounce_streak(session, delivery.email, weeks)
    ):
        _suppress(
            session,
            delivery,
            SuppressionReason.BOUNCED,
            f"soft bounces {weeks} weeks in a row",
            "soft_streak",
        )
        result.suppressed = True
    return result


def _suppress(session: Session, delivery: Delivery, reason: str, detail: str, verdict: str) -> None:
    suppress_subscriber(
        session,
        delivery.email,
        reason,
        detail,
        verdict=verdict,
        send_id=delivery.send_id,
        delivery_id=delivery.id,
    )


def soft_bounce_streak(session: Session, email: str, weeks: int) -> bool:
    """Whether each of the last `weeks` ISO weeks in which `email` was mailed had a bounce.

    Weeks without a send are skipped, not counted as good: the chain is of mailings.
    """
    if weeks <= 0:
        return False
    # Only the reader's own mailbox counts: refusals of the message or of our sender do not.
    bounced = exists(
        select(TrackedEvent.key).where(
            TrackedEvent.delivery_id == Delivery.id,
            TrackedEvent.kind == EventKind.BOUNCED,
            TrackedEvent.bounce.in_([HARD, SOFT]),
        )
    )
    rows = session.execute(
        select(Send.created_at, bounced)
        .select_from(Delivery)
        .join(Send, Send.id == Delivery.send_id)
        .where(
            Delivery.email == email.lower(),
            Send.is_test.is_(False),
            Delivery.state.in_([DeliveryState.SENT, DeliveryState.BOUNCED]),
        )
        .order_by(Send.created_at.desc())
        .limit(weeks * 5)
    ).all()
    per_week: dict[tuple[int, int], bool] = {}
    for created_at, had_bounce in rows:
        iso = created_at.isocalendar()
        week = (iso.year, iso.week)
        per_week[week] = per_week.get(week, False) or bool(had_bounce)
    recent = list(per_week.values())[:weeks]
    return len(recent) >= weeks and all(recent)


def _complaint(
    session: Session, settings: TrackingSettings, report: Report, delivery: Delivery, raw: bytes
) -> IngestResult:
    if report.feedback_type == "not-spam":
        return IngestResult("ignored", delivery.id, "feedback type not-spam")
    detail = f"ARF {report.feedback_type}"
    key = _key("arf", delivery.id, report.feedback_type, report, raw)
    if _seen(session, key):
        return IngestResult("duplicate", delivery.id, detail)
    _record(session, delivery, EventKind.COMPLAINED, detail, key)
    session.commit()
    result = IngestResult("complaint", delivery.id, detail)
    if delivery.subscriber_id is not None:
        _suppress(session, delivery, SuppressionReason.COMPLAINED, detail, "complaint")
        result.suppressed = True
    return result


def record_unsubscribe(session: Session, subscriber_id: int, *, days: int = 60) -> int | None:
    """Attach an `unsubscribed` event to the subscriber's latest delivery (for the reports).

    For the unsubscribe service to call; returns the delivery id, or None when the
    subscriber was not mailed in the last `days` days. Does not commit.
    """
    import datetime as dt

    delivery_id = session.scalar(
        select(Delivery.id)
        .where(
            Delivery.subscriber_id == subscriber_id,
            Delivery.sent_at >= utcnow() - dt.timedelta(days=days),
        )
        .order_by(Delivery.sent_at.desc())
        .limit(1)
    )
    if delivery_id is not None:
        session.add(
            DeliveryEvent(
                delivery_id=delivery_id, kind=EventKind.UNSUBSCRIBED, detail="", created_at=utcnow()
            )
        )
    return delivery_id


__all__ = [
    "DELAY",
    "HARD",
    "SOFT",
    "IngestResult",
    "find_delivery",
    "apply_report",
    "ingest",
    "latest_delivery_to",
    "record_unsubscribe",
    "soft_bounce_streak",
]
