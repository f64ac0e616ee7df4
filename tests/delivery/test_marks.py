"""Sent marks written in groups (delivery.marks), in process: the fake transport and clock,
the real database. When the marks are written (by count, by time, before a wait), what a
lost lease and a crash leave, and that the recovery resends each in-doubt delivery once
with the same Message-ID.
"""

from __future__ import annotations

import collections
import datetime as dt

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from newsletter.delivery import leases, store
from newsletter.delivery.batch import deliver_batch, recover
from newsletter.delivery.models import Delivery, DeliveryEvent, DeliveryState
from newsletter.delivery.ratelimit import RateLimiter, Window
from newsletter.extensions import db, redis_store
from tests.delivery.fakes import (
    FakeClock,
    FakeTransport,
    Killed,
    ids,
    make_send,
    mortal,
    rows,
    senders,
)

S = DeliveryState


def committed_sent(send_id: int) -> int:
    """Sent rows as another connection sees them: what is committed."""
    with db.engine.connect() as conn:
        return conn.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.send_id == send_id, Delivery.state == S.SENT)
        )


def states(send_id: int) -> collections.Counter:
    return collections.Counter(d.state for d in rows(send_id))


class Statements:
    """Counts the UPDATEs of deliveries and the commits the batch's engine runs."""

    def __init__(self):
        self.updates = self.executemany = self.commits = 0

    def __enter__(self):
        event.listen(db.engine, "before_cursor_execute", self._cursor)
        event.listen(db.engine, "commit", self._commit)
        return self

    def __exit__(self, *exc):
        event.remove(db.engine, "before_cursor_execute", self._cursor)
        event.remove(db.engine, "commit", self._commit)

    def _cursor(self, conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE DELIVERIES"):
            self.updates += 1
            self.executemany += bool(executemany)

    def _commit(self, conn):
        self.commits += 1


def test_marks_are_written_every_n_messages_in_one_executemany(app):
    send_id, settings = make_send(20, sent_mark_every=5, sent_mark_max_ms=60_000)
    seen = []  # committed sent rows when each message goes out
    transport = FakeTransport(before=lambda n, rcpt: seen.append(committed_sent(send_id)))
    with Statements() as counted:
        result = deliver_batch(
            db.session, settings, senders(transport, FakeClock()), send_id, ids(send_id)
        )
    assert result.sent == 20 and states(send_id) == {S.SENT: 20}
    assert seen == [0] * 5 + [5] * 5 + [10] * 5 + [15] * 5
    # The claim, four groups of marks (one executemany each) and the release at the end.
    assert counted.executemany == 4 and counted.updates == 1 + 4 + 1
    print("COMMITS", counted.commits)
    assert counted.commits <= 3 + 4 + 2  # start/claim, 4 groups, release/finish
    events = db.session.scalars(
        select(DeliveryEvent.kind)
        .join(Delivery, Delivery.id == DeliveryEvent.delivery_id)
        .where(Delivery.send_id == send_id)
    ).all()
    assert events.count("sent") == 20
    got = rows(send_id)
    assert [d.queue_id for d in got] == [f"Q{n}" for n in range(1, 21)]
    assert all(d.claim_token is None and d.sent_at is not None for d in got)


def test_one_means_each_mark_as_its_answer_comes(app):
    send_id, settings = make_send(6, sent_mark_every=1)
    seen = []
    transport = FakeTransport(before=lambda n, rcpt: seen.append(committed_sent(send_id)))
    deliver_batch(db.session, settings, senders(transport, FakeClock()), send_id, ids(send_id))
    assert seen == [0, 1, 2, 3, 4, 5] and states(send_id) == {S.SENT: 6}


def test_marks_wait_no_longer_than_the_time_bound(app):
    """Each message takes 100 ms (the fake clock); the bound is 250 ms: the marks go out
    as soon as the oldest has waited 250 ms, long before 100 messages."""
    send_id, settings = make_send(12, sent_mark_every=100, sent_mark_max_ms=250)
    clock = FakeClock()
    seen = []

    def before(n, rcpt):
        seen.append(committed_sent(send_id))
        clock.advance(0.1)

    deliver_batch(
        db.session, settings, senders(FakeTransport(before=before), clock), send_id, ids(send_id)
    )
    # The first mark comes at 0.1 s; at the 4th answer (0.4 s) it has waited 0.3 s.
    assert seen == [0] * 4 + [4] * 4 + [8] * 4
    assert states(send_id) == {S.SENT: 12}


def test_marks_are_written_before_a_rate_limit_wait(app):
    send_id, settings = make_send(6, sent_mark_every=20, sent_mark_max_ms=60_000)
    clock = FakeClock()
    at_wait = []

    class Limiter:
        calls = 0

        def acquire(self, before_wait=None):
            self.calls += 1
            if self.calls == 4:  # the 4th message must wait a second
                before_wait()
                at_wait.append(committed_sent(send_id))
                clock.advance(1)

    deliver_batch(
        db.session,
        settings,
        senders(FakeTransport(), clock, limiter=Limiter()),
        send_id,
        ids(send_id),
    )
    assert at_wait == [3] and states(send_id) == {S.SENT: 6}


def test_the_real_rate_limiter_calls_before_wait_once_and_only_when_it_waits(app):
    limiter = RateLimiter(
        redis_store.client(app.config), f"{app.config['QUEUE_PREFIX']}:marks", [Window(0.05, 1)]
    )
    calls = []
    limiter.acquire(before_wait=lambda: calls.append("first"))
    assert calls == []  # room at once: nothing to write first
    limiter.acquire(before_wait=lambda: calls.append("second"))
    assert calls == ["second"]  # it had to wait (once, however many sleeps)


def test_a_lease_lost_mid_group_leaves_the_other_workers_rows_untouched(app):
    """Worker A has 4 accepted marks in memory when it stalls past its lease; the sweep
    takes its rows back and worker B leases them. A's marks find the rows B's: nothing of
    A's is written, and B sends each once with the Message-ID A's copies carried."""
    send_id, settings = make_send(8, lease_seconds=10, sent_mark_every=20)
    clock = FakeClock()
    b_token = "b" * 32

    def stall(n, rcpt):
        if n == 4:  # A stopped in its 4th DATA for 11 s; meanwhile B takes the batch
            clock.advance(11)
            recover(db.session, settings, clock.now(), sends_with_jobs=set())
            now = clock.now()
            store.claim(
                db.session,
                send_id,
                ids(send_id),
                b_token,
                now,
                now + dt.timedelta(seconds=10),
                "news.example.org",
            )

    a = FakeTransport(before=stall)
    result = deliver_batch(db.session, settings, senders(a, clock), send_id, ids(send_id))
    assert result.sent == 0 and result.lease_lost == 4
    held = rows(send_id)
    assert {(d.state, d.claim_token) for d in held} == {(S.SENDING, b_token)}
    sent_events = select(func.count()).where(DeliveryEvent.kind == "sent")
    assert db.session.scalar(sent_events) == 0

    leases.release(db.session, b_token)  # B gives them back; a worker sends them
    b = FakeTransport()
    deliver_batch(db.session, settings, senders(b, clock), send_id, ids(send_id))
    assert states(send_id) == {S.SENT: 8}
    assert collections.Counter(r for r, _ in b.accepted) == {d.email: 1 for d in held}
    first_ids = dict(a.accepted)
    assert all(dict(b.accepted)[r] == m for r, m in first_ids.items())  # the same ids


def test_an_exception_mid_group_still_writes_what_the_server_took(app):
    send_id, settings = make_send(8, sent_mark_every=20)

    def broken(n, rcpt):
        if n == 4:
            raise RuntimeError("a bug in building the 4th message")
        return "250 ok"

    with pytest.raises(RuntimeError):
        deliver_batch(
            db.session,
            settings,
            senders(FakeTransport(answer=broken), FakeClock()),
            send_id,
            ids(send_id),
        )
    db.session.rollback()
    # The finally wrote the three the server took; the job gives back the rest.
    assert states(send_id) == {S.SENT: 3, S.SENDING: 5}


@pytest.mark.parametrize(
    "death, accepted_unwritten",
    [("in_data", 4), ("after_data", 3)],
    ids=["killed-in-5th-DATA", "killed-after-3rd-DATA"],
)
@pytest.mark.parametrize("policy", ["resend", "hold"])
def test_a_crash_mid_group_leaves_the_group_in_doubt_and_each_is_resent_once(
    app, death, accepted_unwritten, policy
):
    """SENT_MARK_EVERY=5, 12 readers. The worker process dies (its session runs nothing
    more) with K accepted marks not yet written: in DATA of the 5th message (K=4), or just
    after the server took the 3rd (K=3). The sweep holds the group (the lease's reach:
    the first 5) in doubt: the K the server took, the one in flight, and (K=3) one never
    tried — never more than 5. With `resend` each is sent again once, with its Message-ID;
    with `hold` they stay in doubt and the rest is sent."""
    send_id, settings = make_send(
        12, lease_seconds=10, sent_mark_every=5, sent_mark_max_ms=60_000, in_doubt_policy=policy
    )
    clock = FakeClock()
    session = Session(db.engine)
    die = mortal(session)
    at = accepted_unwritten + (1 if death == "in_data" else 0)

    def answer(n, rcpt):
        if n == at and death == "in_data":
            die()
            raise Killed()
        return "250 ok"

    def after(n, rcpt):  # the fake records the acceptance, then the process dies
        if n == at and death == "after_data":
            die()
            raise Killed()

    class Transport(FakeTransport):
        def send(self, mail_from, rcpt, message):
            got = super().send(mail_from, rcpt, message)
            after(self.calls, rcpt)
            return got

    first = Transport(answer=answer)
    with pytest.raises(Killed):
        deliver_batch(session, settings, senders(first, clock), send_id, ids(send_id))
    session.close()  # the dead process's connection goes; what it had not committed too
    assert states(send_id) == {S.SENDING: 12}  # nothing was written after the claim
    assert len(first.accepted) == accepted_unwritten

    clock.advance(11)
    groups = recover(db.session, settings, clock.now(), sends_with_jobs=set())
    got = rows(send_id)
    doubt = [d for d in got if d.state == S.IN_DOUBT]
    assert [d.id for d in doubt] == [d.id for d in got[:5]]  # the group, no more
    taken = {r for r, _ in first.accepted}
    assert taken <= {d.email for d in doubt}  # none the server took is lost...
    assert states(send_id) == {S.IN_DOUBT: 5, S.QUEUED: 7}

    second = FakeTransport()
    again = sorted(i for v in groups.values() for i in v)
    deliver_batch(db.session, settings, senders(second, clock), send_id, again)
    copies = collections.defaultdict(list)
    for rcpt, msgid in first.accepted + second.accepted:
        copies[rcpt].append(msgid)
    if policy == "resend":
        assert states(send_id) == {S.SENT: 12}
        assert all(len(set(m)) == 1 for m in copies.values())  # one Message-ID each
        twice = {r for r, m in copies.items() if len(m) == 2}
        assert twice == taken  # ...and each of them went exactly twice, nobody else
        assert max(len(m) for m in copies.values()) == 2
    else:
        assert states(send_id) == {S.SENT: 7, S.IN_DOUBT: 5}
        assert all(len(m) == 1 for m in copies.values())
        assert not {r for r, _ in second.accepted} & {d.email for d in doubt}
