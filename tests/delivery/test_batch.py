"""deliver_batch and recover in process: a fake transport and a fake clock, the real
database. Leases, the circuit breaker, the retry window, in-doubt deliveries, priority grace.
"""

from __future__ import annotations

import collections

import pytest
import sqlalchemy
from sqlalchemy import func, select

from newsletter.delivery import batch, control
from newsletter.delivery.batch import deliver_batch, recover
from newsletter.delivery.classify import Stage
from newsletter.delivery.models import Delivery, DeliveryState, Lease, Send, SendStatus
from newsletter.extensions import db
from subscribers.models import Suppression
from tests.delivery.fakes import (
    FakeClock,
    FakeTransport,
    Killed,
    ids,
    make_send,
    refuse,
    rows,
    senders,
)

S = DeliveryState


def states(send_id: int) -> collections.Counter:
    return collections.Counter(d.state for d in rows(send_id))


def test_a_sent_message_records_its_queue_id_and_the_message_id_it_carried(app):
    send_id, settings = make_send(3)
    transport = FakeTransport()
    result = deliver_batch(
        db.session, settings, senders(transport, FakeClock()), send_id, ids(send_id)
    )
    assert result.sent == 3
    got = rows(send_id)
    assert [d.queue_id for d in got] == ["Q1", "Q2", "Q3"]
    assert [m for _, m in transport.accepted] == [d.message_id for d in got]
    assert db.session.scalars(select(Lease)).all() == []  # the lease ended with the batch


def test_a_slow_rate_limited_batch_renews_its_lease_and_is_never_requeued(app):
    """Each message waits 0.6 lease for the rate limit; a sweep runs before every message.
    The lease is renewed as the batch goes, so the sweep never takes anything back."""
    send_id, settings = make_send(12, lease_seconds=10)
    clock = FakeClock()

    class SlowLimiter:
        def acquire(self, before_wait=None):
            before_wait()  # a real wait: the pending marks are written first
            clock.advance(6)

    swept = []
    transport = FakeTransport(
        before=lambda n, rcpt: swept.append(
            recover(db.session, settings, clock.now(), sends_with_jobs=set())
        )
    )
    result = deliver_batch(
        db.session,
        settings,
        senders(transport, clock, limiter=SlowLimiter()),
        send_id,
        ids(send_id),
    )
    assert result.sent == 12 and result.lease_lost == 0
    assert all(not groups for groups in swept)  # nothing requeued while the worker lived
    assert collections.Counter(r for r, _ in transport.accepted).most_common(1)[0][1] == 1
    assert states(send_id) == {S.SENT: 12}


@pytest.mark.parametrize("every", [1, 20])
def test_a_worker_that_lost_its_lease_stops_at_once_and_another_finishes_once(app, every):
    """The worker is stopped (SIGSTOP, a long GC pause) for longer than its lease: the sweep
    takes its deliveries back; when it wakes it finds the lease gone and stops."""
    send_id, settings = make_send(10, lease_seconds=10, sent_mark_every=every)
    clock = FakeClock()

    def stall(n, rcpt):
        if n == 4:  # stopped before its 4th message for 11 s; the sweep runs meanwhile
            clock.advance(11)
            recover(db.session, settings, clock.now(), sends_with_jobs=set())

    first = FakeTransport(before=stall)
    result = deliver_batch(db.session, settings, senders(first, clock), send_id, ids(send_id))
    # The 4th message was under way when the sweep ran (every == 1: it alone is in doubt;
    # grouped: none of the four was written yet, so the sweep held the whole group, up to
    # the lease's reach, here the batch, in doubt). The worker, waking, writes what the
    # server took onto rows no worker holds any more, and stops right there.
    assert result.sent == 4 and result.lease_lost == 6
    waiting = S.QUEUED if every == 1 else S.IN_DOUBT
    assert states(send_id) == {S.SENT: 4, waiting: 6}

    second = FakeTransport()
    again = deliver_batch(db.session, settings, senders(second, clock), send_id, ids(send_id))
    assert again.sent == 6
    assert states(send_id) == {S.SENT: 10}
    everyone = [r for r, _ in first.accepted + second.accepted]
    assert sorted(everyone) == sorted(d.email for d in rows(send_id))  # each once


def test_relay_refusing_the_envelope_sender_pauses_the_send_and_harms_no_reader(app):
    send_id, settings = make_send(20)
    told = []
    transport = FakeTransport(
        answer=lambda n, rcpt: refuse(
            Stage.MAIL_FROM, 553, "5.7.1 Sender address rejected: not owned by user weekly"
        )
    )
    result = deliver_batch(
        db.session,
        settings,
        senders(transport, FakeClock(), on_pause=told.append),
        send_id,
        ids(send_id),
    )
    assert result.paused and result.failed == 0
    send = db.session.get(Send, send_id, populate_existing=True)
    assert send.status == SendStatus.PAUSED and send.resume_at is None  # needs a person
    assert "553" in send.paused_detail and "not owned" in send.paused_detail
    assert send.paused_reason
    assert told == [send_id]
    assert states(send_id) == {S.QUEUED: 20}
    assert all(d.attempts == 0 for d in rows(send_id))  # no attempt spent
    assert db.session.scalars(select(Suppression)).all() == []
    p = control.progress(db.session, send_id)
    assert p["paused_reason"] == send.paused_reason and "553" in p["paused_detail"]

    # Fixed and resumed: it continues where it stopped, everyone once.
    control.resume_send(db.session, send_id)
    fixed = FakeTransport()
    deliver_batch(db.session, settings, senders(fixed, FakeClock()), send_id, ids(send_id))
    assert states(send_id) == {S.SENT: 20}
    assert len({r for r, _ in fixed.accepted}) == 20 == len(fixed.accepted)


def test_relay_down_pauses_and_the_sweep_resumes_by_itself_when_due(app):
    send_id, settings = make_send(5, retry_base_seconds=30)
    clock = FakeClock()
    down = FakeTransport(
        answer=lambda n, rcpt: refuse(
            Stage.CONNECT, None, "127.0.0.1:25: Connection refused", ConnectionRefusedError(111)
        )
    )
    deliver_batch(db.session, settings, senders(down, clock), send_id, ids(send_id))
    send = db.session.get(Send, send_id, populate_existing=True)
    assert send.status == SendStatus.PAUSED and send.resume_at is not None
    assert recover(db.session, settings, clock.now(), sends_with_jobs=set()) == {}
    clock.advance(60)
    groups = recover(db.session, settings, clock.now(), sends_with_jobs=set())
    assert groups == {(send_id, "regular"): ids(send_id)}
    assert db.session.get(Send, send_id, populate_existing=True).status == SendStatus.SENDING
    assert states(send_id) == {S.QUEUED: 5}


def test_a_streak_of_failures_of_one_kind_trips_the_breaker(app):
    send_id, settings = make_send(10, breaker_threshold=3)
    transport = FakeTransport(answer=lambda n, rcpt: refuse(Stage.DATA, 554, "5.6.0 refused"))
    result = deliver_batch(
        db.session, settings, senders(transport, FakeClock()), send_id, ids(send_id)
    )
    assert result.paused and result.failed == 2  # judged one by one until the third
    send = db.session.get(Send, send_id, populate_existing=True)
    assert send.status == SendStatus.PAUSED and "连续 3 次" in send.paused_reason
    assert states(send_id) == {S.FAILED: 2, S.QUEUED: 8}


def one_unknown_user(bad: str) -> FakeTransport:
    """A relay that takes every message but `bad`'s, whose mailbox does not exist (5.1.1)."""
    return FakeTransport(
        answer=lambda n, rcpt: (
            refuse(Stage.RCPT, 550, "5.1.1 <x>: Recipient address rejected: User unknown")
            if rcpt == bad
            else "250 ok"
        )
    )


def test_a_bad_mailbox_fails_and_suppresses_only_that_reader(app):
    send_id, settings = make_send(4)
    bad = rows(send_id)[1].email
    transport = one_unknown_user(bad)
    deliver_batch(db.session, settings, senders(transport, FakeClock()), send_id, ids(send_id))
    assert states(send_id) == {S.SENT: 3, S.FAILED: 1}
    assert len(db.session.scalars(select(Suppression)).all()) == 1


def test_a_bad_mailboxs_failure_and_its_suppression_are_committed_together(app):
    """Seen from another connection after every commit, the bad mailbox is never failed
    without its suppression (a worker dying between two commits would leave it mailed)."""
    send_id, settings = make_send(3)
    bad = rows(send_id)[1].email
    transport = one_unknown_user(bad)
    seen: list[tuple[str, int]] = []

    def look(_session) -> None:
        with db.engine.connect() as other:
            state = other.scalar(
                select(Delivery.state).where(Delivery.send_id == send_id, Delivery.email == bad)
            )
            suppressed = other.scalar(select(func.count()).select_from(Suppression))
        seen.append((state, suppressed))

    sqlalchemy.event.listen(db.session, "after_commit", look)
    try:
        deliver_batch(db.session, settings, senders(transport, FakeClock()), send_id, ids(send_id))
    finally:
        sqlalchemy.event.remove(db.session, "after_commit", look)
    assert (S.FAILED, 1) in seen
    assert (S.FAILED, 0) not in seen, seen


def test_transient_failures_retry_within_the_window_and_honour_retry_after(app):
    send_id, settings = make_send(
        1, retry_window_hours=1, retry_base_seconds=60, retry_max_seconds=600
    )
    clock = FakeClock()
    start = clock.now()
    transport = FakeTransport(
        answer=lambda n, rcpt: refuse(
            Stage.DATA, 451, "DT:SPM 163 smtp14, test mail looks like spam, please retry later"
        )
    )
    tries = 0
    while True:
        deliver_batch(db.session, settings, senders(transport, clock), send_id, ids(send_id))
        tries += 1
        (d,) = rows(send_id)
        if d.state != S.DEFERRED:
            break
        assert d.next_attempt_at - clock.now() >= batch.dt.timedelta(
            seconds=120
        ) or d.next_attempt_at == start + batch.dt.timedelta(hours=1)  # DT:SPM: ~2 min
        assert d.first_failed_at == start
        clock.t = d.next_attempt_at
    assert d.state == S.FAILED and "gave up after 1 h" in d.last_error
    assert clock.now() - start >= batch.dt.timedelta(hours=1)
    assert tries == d.attempts >= 5


@pytest.mark.parametrize("policy", ["resend", "hold"])
def test_worker_killed_in_data_leaves_one_delivery_in_doubt(app, policy):
    """Each mark written as its answer comes (SENT_MARK_EVERY=1): exactly the one message
    in flight is in doubt. Grouped marks: test_marks.py."""
    send_id, settings = make_send(6, lease_seconds=10, in_doubt_policy=policy, sent_mark_every=1)
    clock = FakeClock()

    def die(n, rcpt):
        if n == 3:
            raise Killed()

    first = FakeTransport(before=die)
    with pytest.raises(Killed):
        deliver_batch(db.session, settings, senders(first, clock), send_id, ids(send_id))
    db.session.rollback()
    doomed = rows(send_id)[2]
    assert states(send_id) == {S.SENT: 2, S.SENDING: 4}
    assert recover(db.session, settings, clock.now(), sends_with_jobs=set()) == {}  # leased
    clock.advance(11)
    groups = recover(db.session, settings, clock.now(), sends_with_jobs=set())
    assert states(send_id) == {S.SENT: 2, S.IN_DOUBT: 1, S.QUEUED: 3}
    assert control.progress(db.session, send_id, hold_in_doubt=policy == "hold")["in_doubt"] == 1
    second = FakeTransport()
    deliver_batch(
        db.session,
        settings,
        senders(second, clock),
        send_id,
        sorted(i for v in groups.values() for i in v),
    )
    sent_to = [r for r, _ in second.accepted]
    if policy == "resend":
        assert sorted(groups[(send_id, "regular")]) == [d.id for d in rows(send_id)[2:]]
        assert states(send_id) == {S.SENT: 6}
        assert doomed.email in sent_to
        assert dict(second.accepted)[doomed.email] == doomed.message_id  # the same id
    else:
        assert doomed.email not in sent_to
        assert states(send_id) == {S.SENT: 5, S.IN_DOUBT: 1}
        assert db.session.get(Send, send_id, populate_existing=True).status == SendStatus.DONE


def test_regular_edition_waits_for_deferred_priority_copies_up_to_the_grace(app):
    send_id, settings = make_send(5, leaders=2, priority_grace_minutes=10)
    clock = FakeClock()
    busy = FakeTransport(answer=lambda n, rcpt: refuse(Stage.RCPT, 451, "4.7.1 try later"))
    deliver_batch(db.session, settings, senders(busy, clock), send_id, ids(send_id, "priority"))
    assert {d.state for d in rows(send_id) if d.edition == "priority"} == {S.DEFERRED}
    clock.advance(60)
    ok = FakeTransport()
    waiting = deliver_batch(
        db.session, settings, senders(ok, clock), send_id, ids(send_id, "regular")
    )
    assert waiting.yielded and ok.accepted == []
    note = control.progress(db.session, send_id, now=clock.now())["priority_note"]
    assert note and "等待" in note
    clock.advance(10 * 60)
    went = deliver_batch(db.session, settings, senders(ok, clock), send_id, ids(send_id, "regular"))
    assert went.sent == 5 and not went.yielded
    assert "不再等待" in control.progress(db.session, send_id, now=clock.now())["priority_note"]
