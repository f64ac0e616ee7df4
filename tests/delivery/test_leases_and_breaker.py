"""Leases and the circuit breaker with real parts: worker processes, the real Redis, real
SMTP servers on loopback (a rate-limited batch with a short lease, a relay refusing our
envelope sender, a relay down for longer than the retry window)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from newsletter.bulletin.service import import_issue
from newsletter.delivery.models import DeliveryState, OutboxMessage, Send, SendStatus
from newsletter.devsmtp import SinkServer, free_port
from newsletter.extensions import db
from subscribers.models import Suppression
from tests.conftest import approve_for_tests
from tests.delivery.support import all_final, bulk_subscribers, state_counts, wait_until
from tests.delivery.test_faults import arrivals, start_send
from tests.delivery.test_transport import Scripted


def _outbox() -> list[str]:
    db.session.rollback()
    return db.session.scalars(select(OutboxMessage.to_email)).all()


def send_row(send_id: int) -> Send:
    return db.session.get(Send, send_id, populate_existing=True)


def test_a_rate_limited_batch_with_a_short_lease_sends_each_reader_once(
    app, runner, smtp, run_worker, sample_text
):
    """20 readers at 2 msg/s take 10 s in one batch; the lease is 3 s and the sweep runs
    every 0.5 s. The old one-shot claim sent 12 of them twice."""
    app.config.update(RATE_PER_SECOND=2, LEASE_SECONDS=3, BATCH_SIZE=200)
    approve_for_tests(import_issue(db.session, sample_text)[0])
    emails = bulk_subscribers(20, "members")
    send_id = start_send(runner, "members")
    run_worker("--sweep-interval", "0.5", burst=False)
    wait_until(lambda: all_final(send_id), 90, "every delivery final")
    counts = arrivals(smtp)
    assert set(counts) == set(emails) and max(counts.values()) == 1, counts.most_common(3)
    assert state_counts(send_id) == {DeliveryState.SENT: 20}


@pytest.mark.parametrize(
    "smtp",
    [
        lambda: Scripted(
            mail="553 5.7.1 <weekly@news.example.org>: Sender address rejected: not owned by user "
            "relay@example.net"
        )
    ],
    indirect=True,
)
def test_relay_refusing_our_envelope_sender_pauses_harms_nobody_and_resume_finishes(
    app, runner, smtp, run_worker, sample_text, make_staff
):
    admin = make_staff("admin", email="boss@example.org")
    approve_for_tests(import_issue(db.session, sample_text)[0])
    emails = bulk_subscribers(20, "members")
    send_id = start_send(runner, "members")
    run_worker("--sweep-interval", "0.5", burst=False)
    wait_until(lambda: send_row(send_id).status == SendStatus.PAUSED, 60, "the send paused")

    send = send_row(send_id)
    assert "553" in send.paused_detail and "not owned" in send.paused_detail
    assert send.resume_at is None  # a refusal: a person fixes the relay settings
    assert state_counts(send_id) == {DeliveryState.QUEUED: 20}  # nobody failed, no attempt
    assert db.session.scalars(select(Suppression)).all() == []
    # The notice goes into the outbox right after the pause (this relay refuses it too).
    wait_until(lambda: admin.email in _outbox(), 30, "the notice to the admin")
    result = runner.invoke(args=["send", "status", str(send_id)])
    assert result.exit_code == 0

    smtp.handler.mail = None  # the relay settings fixed
    result = runner.invoke(args=["send", "resume", str(send_id)])
    assert result.exit_code == 0, result.output
    wait_until(lambda: all_final(send_id), 60, "every delivery final")
    counts = arrivals(smtp)
    assert {e: counts[e] for e in emails} == {e: 1 for e in emails}
    assert state_counts(send_id) == {DeliveryState.SENT: 20}


def test_relay_down_longer_than_the_retry_window_is_survived(app, runner, run_worker, sample_text):
    """Nothing listens on the relay's port for 8 s, four times the retry window: the send
    pauses itself (connection refused is the relay's problem), resumes itself, and when
    the relay is back it finishes with nobody failed."""
    port = free_port()
    app.config.update(
        SMTP_PORT=port, RETRY_WINDOW_HOURS=2 / 3600, RETRY_BASE_SECONDS=0.5, RETRY_MAX_SECONDS=2
    )
    approve_for_tests(import_issue(db.session, sample_text)[0])
    emails = bulk_subscribers(30, "members")
    send_id = start_send(runner, "members")
    run_worker("--sweep-interval", "0.3", burst=False)
    wait_until(lambda: send_row(send_id).pauses >= 2, 30, "the breaker to pause it twice")
    time.sleep(7)
    assert state_counts(send_id).get(DeliveryState.FAILED, 0) == 0
    relay = SinkServer(port=port).start()
    try:
        wait_until(lambda: all_final(send_id), 60, "every delivery final")
        counts = arrivals(relay)
        assert {e: counts[e] for e in emails} == {e: 1 for e in emails}
        assert state_counts(send_id) == {DeliveryState.SENT: 30}
        wait_until(lambda: send_row(send_id).status == SendStatus.DONE, 30, "the send done")
    finally:
        relay.stop()
