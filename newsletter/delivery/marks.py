"""What a batch writes as it goes: its lease kept, and the sent marks written in groups.

An accepted message costs no write of its own: its mark waits in memory and is written
with others in one transaction (one UPDATE per row sent as an executemany, the events in
one INSERT, one commit) every SENT_MARK_EVERY messages or SENT_MARK_MAX_MS, whichever
first, and before anything that waits, writes another outcome, or could lose the lease.

Why a crash cannot lose or duplicate silently: the Message-ID is stored before DATA (at
claim time), and a row whose mark is not written yet is still `sending` under the lease.
Before a message beyond the lease's *reach* is handed over, the pending marks are written
and the reach moved SENT_MARK_EVERY deliveries on, in the same transaction (with the lease
renewal). So at most SENT_MARK_EVERY deliveries are ever handed over and unwritten, all
at or below the reach; when a worker dies the sweep (leases.requeue_expired) marks its
unwritten rows up to the reach in doubt, and they are sent again with the same Message-ID
(IN_DOUBT_POLICY=resend) or held. With SENT_MARK_EVERY=1 every mark is written as its
answer comes, as before grouping, and the lease has no reach: the lowest unwritten row is
the one in flight.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from newsletter.delivery import leases, store
from newsletter.delivery.transport import queue_id
from newsletter.timeutil import utcnow

if TYPE_CHECKING:
    from newsletter.delivery.senders import Clock


class UnrecordedSend(Exception):
    """The server accepted messages whose rows could not be written (the database is
    away): the caller writes them with `record_late` once the database is back."""

    def __init__(self, accepted: list[tuple[store.Claimed, str]]):
        super().__init__(f"{len(accepted)} sent, not recorded: {[d.id for d, _ in accepted]}")
        self.accepted = accepted


def record_late(session: Session, unrecorded: UnrecordedSend) -> int:
    """Write the sent rows of an UnrecordedSend (those no other worker re-took since)."""
    return sum(
        store.mark_sent(session, delivery, answer, queue_id(answer), late=True)
        for delivery, answer in unrecorded.accepted
    )


class Progress:
    """The batch's lease and its pending sent marks. The batch calls `before(i)` before
    handing over its i-th claimed delivery, `accepted` when the server took it, `flush`
    before it waits or writes any other outcome, and `flush` again at the end."""

    def __init__(
        self,
        session: Session,
        token: str,
        clock: Clock,
        lease_seconds: float,
        claimed: list[store.Claimed],
        every: int,
        max_ms: float,
        now: dt.datetime,
    ):
        """`every`, `max_ms`: SENT_MARK_EVERY (1: each mark as its answer comes) and
        SENT_MARK_MAX_MS, the longest a mark waits in memory."""
        self.session, self.token, self.clock = session, token, clock
        self.claimed = claimed
        self.every, self.max_wait = every, dt.timedelta(milliseconds=max_ms)
        self.length = dt.timedelta(seconds=lease_seconds)
        self.renew_after = now + self.length / 2
        self.started = False
        self.reach: int | None = None  # the highest delivery id possibly handed over
        self.pending: list[store.SentMark] = []
        self.oldest: dt.datetime | None = None  # when the oldest pending mark came
        self.sent = 0  # marks written
        self.lost = False  # a mark found its row no longer ours: the lease was lost

    @property
    def grouped(self) -> bool:
        return self.every > 1

    def before(self, i: int) -> bool:
        """Before claimed[i] goes out: write what is due, keep the lease and the reach
        ahead of it. False: the lease (or a row of it) was lost: stop at once."""
        now = self.clock.now()
        outside = self.grouped and (self.reach is None or self.claimed[i].id > self.reach)
        if self.started and now < self.renew_after and not outside:
            if self.pending and self._due(now):
                self.flush()
            return not self.lost
        # Renew the lease (and move the reach) in the transaction of the pending marks.
        reach = self.claimed[min(i + self.every, len(self.claimed)) - 1].id
        held = self._write(now, reach if self.grouped else None)
        if held:
            self.started, self.renew_after = True, now + self.length / 2
            if self.grouped:
                self.reach = reach
        return held and not self.lost

    def accepted(self, delivery: store.Claimed, answer: str) -> bool:
        """The server took it. False: its row was not ours any more (lease lost)."""
        self.pending.append(store.SentMark(delivery, answer, queue_id(answer), utcnow()))
        # A full group is written by the next `before` (it is then past the reach), with
        # the reach's move, in one transaction; or by the flush at the end.
        if self.grouped:
            now = self.clock.now()
            if self.oldest is None:
                self.oldest = now
            if not self._due(now):
                return not self.lost
        self.flush()
        return not self.lost

    def _due(self, now: dt.datetime) -> bool:
        return self.oldest is not None and now - self.oldest >= self.max_wait

    def flush(self) -> bool:
        """Write the pending marks now (one transaction). False if some row was not ours."""
        if self.pending:
            self._write(None, None)
        return not self.lost

    def _write(self, renew_at: dt.datetime | None, reach: int | None) -> bool:
        """The pending marks and (given `renew_at`) the lease's renewal and reach, in one
        transaction. Returns whether the lease is held (True when not renewed)."""
        marks, self.pending, self.oldest = self.pending, [], None
        try:
            written = store.record_sent(self.session, marks) if marks else 0
            if written != len(marks):
                # Some row was taken back (the lease expired): write them one by one, each
                # still ours or in doubt with no worker on it (what the server took is
                # sent), never one another worker holds; and stop.
                self.session.rollback()
                written = sum(
                    store.mark_sent(self.session, m.delivery, m.answer, m.queue_id, late=True)
                    for m in marks
                )
                self.lost = True
            held = not self.lost
            if renew_at is not None and not self.lost:
                held = leases.renew(
                    self.session,
                    self.token,
                    renew_at,
                    renew_at + self.length,
                    start=not self.started,
                    reach=reach,
                    commit=False,
                )
            self.session.commit()
        except DBAPIError as exc:
            self.session.rollback()
            raise UnrecordedSend([(m.delivery, m.answer) for m in marks]) from exc
        self.sent += written
        return held
