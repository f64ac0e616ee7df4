"""Transactional mail (confirmation links, password resets, staff notices) through a table.

The `outbox` row is the truth, written before anything touches Redis: the RQ job carries
only the row's id (no address, no link with a token), and the sweep re-enqueues rows whose
job was lost (a Redis restart) or whose retry is due. A claim is a guarded UPDATE with a
lease, so the job and the sweep can never both send one row; the Message-ID is fixed at the
first claim, so a resend after a crash can be folded by the reader's client.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session

from newsletter.config import AppConfig
from newsletter.delivery.classify import Verdict
from newsletter.delivery.message import MessageTemplate, check_header_value
from newsletter.delivery.models import OutboxMessage, OutboxState
from newsletter.delivery.tables import changed
from newsletter.delivery.transport import SmtpFailure, SmtpSettings, SmtpTransport
from newsletter.timeutil import utcnow

LEASE = dt.timedelta(minutes=5)
# A row waits this long for its own job before the sweep enqueues it again.
JOB_GRACE = dt.timedelta(seconds=30)
MAX_ATTEMPTS = 10  # with the backoff below: about a day of trying


def add(
    session: Session,
    to_email: str,
    subject: str,
    text: str,
    html: str | None = None,
    to_name: str = "",
) -> int:
    """Store one email to send (header values checked first: no injection); its id."""
    for value, what in ((to_email, "address"), (to_name, "name"), (subject, "subject")):
        check_header_value(value, what)
    row = OutboxMessage(
        to_email=to_email,
        to_name=to_name or "",
        subject=subject,
        text=text,
        html=html,
        state=OutboxState.PENDING,
        attempts=0,
        next_attempt_at=utcnow(),
    )
    session.add(row)
    session.commit()
    return row.id


def _claimable(now: dt.datetime) -> ColumnElement[bool]:
    return or_(
        OutboxMessage.state == OutboxState.PENDING,
        and_(OutboxMessage.state == OutboxState.SENDING, OutboxMessage.lease_expires_at <= now),
    )


def due(session: Session, now: dt.datetime) -> list[int]:
    """Rows nobody is sending whose job is overdue (lost) or whose retry time has come;
    each is pushed back JOB_GRACE so the next sweep does not enqueue it again at once."""
    ids = list(
        session.scalars(
            select(OutboxMessage.id)
            .where(_claimable(now), OutboxMessage.next_attempt_at <= now - JOB_GRACE)
            .order_by(OutboxMessage.id)
            .limit(500)
        )
    )
    if ids:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids))
            .values(next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
    session.commit()
    return ids


def deliver(
    session: Session,
    outbox_id: int,
    config: AppConfig,
    transport: SmtpTransport | None = None,
) -> str:
    """Send one row if nobody else is: 'sent', 'deferred', 'failed' or 'skipped'."""
    now = utcnow()
    claimed = changed(
        session,
        update(OutboxMessage)
        .where(OutboxMessage.id == outbox_id, _claimable(now))
        .values(
            state=OutboxState.SENDING,
            lease_expires_at=now + LEASE,
            attempts=OutboxMessage.attempts + 1,
        )
        .execution_options(synchronize_session=False),
    )
    session.commit()
    if not claimed:
        return "skipped"
    row = session.get(OutboxMessage, outbox_id, populate_existing=True)
    assert row is not None, "the claim above just updated it (outbox rows are never deleted)"
    template = MessageTemplate(config["MAIL_FROM"], row.subject, config["LIST_ID"])
    if not row.message_id:
        row.message_id = template.new_message_id("tx")
        session.commit()
    message = template.build(
        to_email=row.to_email,
        to_name=row.to_name,
        message_id=row.message_id,
        html=row.html,
        text=row.text,
        list_unsubscribe=[],
    )
    own = transport is None
    transport = transport or SmtpTransport(SmtpSettings.from_config(config))
    try:
        answer = transport.send(template.from_address, row.to_email, message)
    except SmtpFailure as failure:
        c = failure.classification
        row.last_error = f"{c.stage}: {c.code or ''} {c.text}"[:500]
        row.lease_expires_at = None
        if c.verdict in (Verdict.HARD_BOUNCE, Verdict.MESSAGE) or row.attempts >= MAX_ATTEMPTS:
            row.state = OutboxState.FAILED
        else:
            row.state = OutboxState.PENDING
            delay = min(30 * 2 ** (row.attempts - 1), 3 * 3600)
            row.next_attempt_at = utcnow() + dt.timedelta(seconds=max(delay, c.retry_after or 0))
        session.commit()
        return row.state == OutboxState.FAILED and "failed" or "deferred"
    finally:
        if own:
            transport.close()
    row.state, row.sent_at, row.lease_expires_at = OutboxState.SENT, utcnow(), None
    row.last_error = answer[:500]
    session.commit()
    return "sent"
