"""What every message carries (DKIM, List-Unsubscribe with https and mailto, VERP), the shared
rate limit, and pausing a running send."""

from __future__ import annotations

import base64
import email
import re
import subprocess
import time
from email import policy

import dkim
import pytest
from sqlalchemy import select

from newsletter.bulletin.service import import_issue
from newsletter.delivery.models import DeliveryState, Send
from newsletter.extensions import db
from subscribers import tokens
from subscribers.models import Subscriber
from tests.conftest import approve_for_tests, csrf_token
from tests.delivery.support import all_final, bulk_subscribers, state_counts, wait_until


@pytest.fixture(scope="module")
def dkim_key(tmp_path_factory):
    """An RSA key pair made with openssl; the public half as the DNS TXT record would be.
    One per module: only read, and each 2048-bit key took 0.3-0.5 s (load 9)."""
    private = tmp_path_factory.mktemp("dkim") / "dkim.pem"
    subprocess.run(
        ["openssl", "genrsa", "-out", str(private), "2048"], check=True, capture_output=True
    )
    der = subprocess.run(
        ["openssl", "rsa", "-in", str(private), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    return private, b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


@pytest.fixture
def app_config(app_config, dkim_key):
    return {
        **app_config,
        "DKIM_SELECTOR": "weekly",
        "DKIM_DOMAIN": "news.example.org",
        "DKIM_KEY_FILE": str(dkim_key[0]),
        "UNSUBSCRIBE_MAILTO": "leave@news.example.org",
    }


def test_messages_are_dkim_signed_and_carry_both_unsubscribe_ways(
    app, runner, smtp, run_jobs, sample_text, dkim_key
):
    approve_for_tests(import_issue(db.session, sample_text)[0])  # 责编/复核 before a send
    bulk_subscribers(3, "media")
    assert runner.invoke(args=["send", "396", "--group", "media"]).exit_code == 0
    run_jobs()
    assert len(smtp.received) == 3

    def dns(name, timeout=5):
        assert name == b"weekly._domainkey.news.example.org."
        return dkim_key[1]

    for received in smtp.received:
        assert dkim.verify(received.data, dnsfunc=dns), "the DKIM signature does not verify"
        msg = email.message_from_bytes(received.data, policy=policy.default)
        assert msg["DKIM-Signature"] and "d=news.example.org" in msg["DKIM-Signature"]
        unsubscribe = msg["List-Unsubscribe"]
        assert "<http://newsletter.test/unsubscribe/" in unsubscribe
        # The mailto's subject carries the reader's signed token (tracking.mailbox reads it).
        assert "<mailto:leave@news.example.org?subject=unsubscribe%20" in unsubscribe
        # Both name this reader (the same token, unless a second turned between the two).
        link = re.search(r"<http://newsletter\.test/unsubscribe/([\w.-]+)>", unsubscribe)
        mailto = re.search(r"subject=unsubscribe%20([\w.-]+)>", unsubscribe)
        assert link and mailto
        for token in (link[1], mailto[1]):
            subscriber_id = tokens.read_token(app.config["SECRET_KEY"], tokens.UNSUBSCRIBE, token)
            assert db.session.get(Subscriber, subscriber_id).email == received.rcpt_tos[0]
        assert msg["X-Newsletter-Bounce"].startswith("weekly+b")  # names the delivery
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # A tampered body no longer verifies: the signature covers it.
    tampered = smtp.received[0].data.replace(
        b"Content-Transfer-Encoding: base64\r\n\r\n",
        b"Content-Transfer-Encoding: base64\r\n\r\nAAAA",
        1,
    )
    assert not dkim.verify(tampered, dnsfunc=dns)


def test_rate_limit_holds_across_two_workers(app, runner, smtp, run_worker, sample_text):
    app.config["RATE_PER_SECOND"] = 10
    approve_for_tests(import_issue(db.session, sample_text)[0])  # 责编/复核 before a send
    bulk_subscribers(40, "media")
    assert runner.invoke(args=["send", "396", "--group", "media"]).exit_code == 0
    env = {"RATE_PER_SECOND": "10", "BATCH_SIZE": "5"}
    first, second = run_worker(env=env), run_worker(env=env)
    assert first.wait(timeout=60) == 0 and second.wait(timeout=60) == 0
    times = sorted(m.at for m in smtp.received)
    assert len(times) == 40
    # At most 10 in any one-second window (one more allowed for network jitter between the
    # limiter's clock in Redis and the arrival at the server).
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert busiest <= 11, busiest
    assert times[-1] - times[0] >= 3.0


def test_pause_stops_workers_and_resume_finishes_exactly_once(
    app, runner, smtp, run_worker, sample_text, staff_client
):
    approve_for_tests(import_issue(db.session, sample_text)[0])  # 责编/复核 before a send
    emails = bulk_subscribers(300, "media")
    assert runner.invoke(args=["send", "396", "--group", "media"]).exit_code == 0
    send_id = db.session.scalar(select(Send.id))
    app.config["RATE_PER_SECOND"] = 50
    run_worker(burst=False, env={"RATE_PER_SECOND": "50", "BATCH_SIZE": "50"})
    wait_until(lambda: state_counts(send_id).get(DeliveryState.SENT, 0) >= 20, 30, "20 sent")

    client = staff_client("sender")
    page = f"/sends/{send_id}"
    client.post(f"{page}/pause", data={"csrf_token": csrf_token(client, page)})
    time.sleep(1.5)  # workers notice within CHECK_EVERY messages
    paused_at = state_counts(send_id).get(DeliveryState.SENT, 0)
    time.sleep(1.5)
    assert state_counts(send_id).get(DeliveryState.SENT, 0) == paused_at < 300
    assert DeliveryState.SENDING not in state_counts(send_id)  # claims were given back

    client.post(f"{page}/resume", data={"csrf_token": csrf_token(client, page)})
    wait_until(lambda: all_final(send_id), 60, "the resumed send to finish")
    counts = {}
    for m in smtp.received:
        counts[m.rcpt_tos[0]] = counts.get(m.rcpt_tos[0], 0) + 1
    assert sorted(counts) == sorted(emails) and set(counts.values()) == {1}
