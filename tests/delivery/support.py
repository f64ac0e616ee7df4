"""Helpers for the pipeline tests: bulk subscribers, waiting on the database, and SMTP
servers that misbehave on purpose (real aiosmtpd servers on loopback)."""

from __future__ import annotations

import asyncio
import collections
import threading
import time

from sqlalchemy import func, insert, select

from newsletter.delivery.models import Delivery, DeliveryState
from newsletter.devsmtp import SinkHandler
from newsletter.extensions import db
from newsletter.timeutil import utcnow
from subscribers.models import Group, Membership, Subscriber, SubscriberStatus


def bulk_subscribers(
    count: int, group_code: str, prefix: str = "reader", domain: str = "example.org"
) -> list[str]:
    """Insert `count` active subscribers of one group in a few statements."""
    group_id = db.session.scalar(select(Group.id).where(Group.code == group_code))
    emails = [f"{prefix}{i:05d}@{domain}" for i in range(count)]
    now = utcnow()
    db.session.execute(
        insert(Subscriber),
        [
            {
                "email": e,
                "name": f"读者{i}",
                "organisation": "",
                "status": SubscriberStatus.ACTIVE,
                "locale": "zh_CN",
                "format": "html",
                "tracking_opt_out": False,
                "created_at": now,
            }
            for i, e in enumerate(emails)
        ],
    )
    ids = db.session.scalars(select(Subscriber.id).where(Subscriber.email.in_(emails))).all()
    db.session.execute(
        insert(Membership),
        [{"subscriber_id": sid, "group_id": group_id, "created_at": now} for sid in ids],
    )
    db.session.commit()
    return emails


def state_counts(send_id: int) -> dict[str, int]:
    db.session.rollback()  # a fresh snapshot: workers write from other processes
    return dict(
        db.session.execute(
            select(Delivery.state, func.count())
            .where(Delivery.send_id == send_id)
            .group_by(Delivery.state)
        ).all()
    )


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def all_final(send_id: int) -> bool:
    counts = state_counts(send_id)
    return bool(counts) and all(s in DeliveryState.final() for s in counts)


class HoldingHandler(SinkHandler):
    """Stores every message, except that the message numbered `hold_at` is held inside
    DATA (not stored, not answered) until `release` is set; then it answers 451 and is
    NOT stored: the worker that sent it is meant to be dead by then."""

    def __init__(self, hold_at: int):
        super().__init__()
        self.hold_at = hold_at
        self.data_count = 0
        self.holding = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        self.data_count += 1
        if self.data_count == self.hold_at:
            self.holding.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
            return "451 4.3.0 held and dropped by the test"
        return await super().handle_DATA(server, session, envelope)


class FaultyHandler(SinkHandler):
    """Answers by the recipient's local part, counting attempts per address:
    hard*  -> 550 at RCPT every time            (permanent, bad mailbox)
    perm*  -> 554 at DATA every time            (permanent, not the mailbox)
    soft*  -> 451 at RCPT for the first 2 tries, then accepted
    busy*  -> 421 at DATA the first time (server closing), then accepted
    drop*  -> the connection is dropped at DATA the first time, then accepted
    never* -> 451 at RCPT every time            (retries run out)
    anything else is accepted."""

    def __init__(self):
        super().__init__()
        self.tries: collections.Counter[str] = collections.Counter()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.tries[address] += 1
        if address.startswith("hard"):
            return "550 5.1.1 no such mailbox"
        if address.startswith("never") or (address.startswith("soft") and self.tries[address] <= 2):
            return "451 4.7.1 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        address = envelope.rcpt_tos[0]
        if address.startswith("perm"):
            return "554 5.6.0 message refused"
        if address.startswith("busy") and self.tries[address] == 1:
            return "421 4.3.2 closing, try later"
        if address.startswith("drop") and self.tries[address] == 1:
            server.transport.close()
            return "451 dropped"
        return await super().handle_DATA(server, session, envelope)
