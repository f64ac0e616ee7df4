"""Sends through the relays an association has: implicit TLS with a verified certificate and
a fixed envelope through the strict Postfix rig, two relays sharing a send when the first
runs out of its daily quota, every relay out of quota, and a domain that defers slowed alone.
Real Redis, Postfix and aiosmtpd on loopback; real worker processes where two share a send
or one runs for long, the queues drained in process (tests/inprocess.py) elsewhere."""

from __future__ import annotations

import collections
import uuid

from redis import Redis
from sqlalchemy import select

from newsletter.bulletin.service import import_issue
from newsletter.delivery.models import Delivery, DeliveryState, Send, SendStatus
from newsletter.delivery.relaypool import RelayPool
from newsletter.delivery.relays import load
from newsletter.devsmtp import SinkServer
from newsletter.extensions import db
from tests.conftest import REDIS_URL, approve_for_tests
from tests.delivery.support import all_final, bulk_subscribers, state_counts, wait_until
from tests.delivery.test_faults import start_send


def _relays_file(tmp_path, text: str) -> str:
    path = tmp_path / "relays.toml"
    path.write_text(text, "utf-8")
    return str(path)


def _send_status(send_id: int) -> Send:
    db.session.rollback()
    return db.session.get(Send, send_id)


def test_implicit_tls_fixed_envelope_through_the_strict_relay(
    app, runner, run_jobs, postfix, sample_text, tmp_path
):
    approve_for_tests(import_issue(db.session, sample_text)[0])
    # addresses of their own: the rig (and its mailboxes) outlives this test, across backends
    emails = bulk_subscribers(6, "media", prefix=f"tls-{uuid.uuid4().hex[:8]}")
    emails = [e.replace("@example.org", f"@{postfix.domain}") for e in emails]
    from subscribers.models import Subscriber

    for sub in db.session.scalars(select(Subscriber)):
        sub.email = sub.email.replace("@example.org", f"@{postfix.domain}")
    db.session.commit()
    relays = _relays_file(
        tmp_path,
        f"""
[[relay]]
name = "exmail"
host = "{postfix.host}"
port = {postfix.smtps_port}
security = "ssl"
ca_file = "{postfix.ca_file}"
username = "{postfix.login[0]}"
password = "{postfix.login[1]}"
envelope = "fixed"
envelope_sender = "{postfix.sender}"
""",
    )
    send_id = start_send(runner, "media")
    app.config["RELAYS_FILE"] = relays  # the worker's setting (run_worker passed it on)
    run_jobs()
    send = _send_status(send_id)
    assert send.paused_reason is None, (send.paused_reason, send.paused_detail)
    assert state_counts(send_id) == {DeliveryState.SENT: 6}
    for address in emails:
        [message] = postfix.wait_for_messages(address, 1)
        assert message["Return-Path"] == f"<{postfix.sender}>"  # the fixed envelope
        assert message["X-Newsletter-Bounce"].startswith("weekly+b")  # bounces still matched


def test_an_unverified_certificate_pauses_the_send_and_harms_nobody(
    app, runner, run_jobs, postfix, sample_text, tmp_path
):
    approve_for_tests(import_issue(db.session, sample_text)[0])
    bulk_subscribers(4, "media", prefix="untrusted")
    relays = _relays_file(
        tmp_path,
        f"""
[[relay]]
name = "exmail"
host = "{postfix.host}"
port = {postfix.smtps_port}
security = "ssl"
username = "{postfix.login[0]}"
password = "{postfix.login[1]}"
envelope = "fixed"
envelope_sender = "{postfix.sender}"
""",
    )
    send_id = start_send(runner, "media")
    app.config["RELAYS_FILE"] = relays
    run_jobs()
    send = _send_status(send_id)
    assert send.status == SendStatus.PAUSED
    assert "tls" in (send.paused_detail or "").lower()
    assert "CERTIFICATE_VERIFY_FAILED" in send.paused_detail
    assert set(state_counts(send_id)) <= {DeliveryState.QUEUED}  # nobody failed, nothing spent
    assert all(d.attempts == 0 for d in db.session.scalars(select(Delivery)))


def test_the_second_relay_finishes_when_the_first_runs_out_of_quota(
    app, runner, run_worker, sample_text, tmp_path
):
    approve_for_tests(import_issue(db.session, sample_text)[0])
    emails = bulk_subscribers(30, "media", prefix="quota")
    first, second = SinkServer().start(), SinkServer().start()
    try:
        relays = _relays_file(
            tmp_path,
            f"""
[[relay]]
name = "mailbox"
host = "127.0.0.1"
port = {first.port}
per_day = 12
order = 1

[[relay]]
name = "service"
host = "127.0.0.1"
port = {second.port}
order = 2
""",
        )
        send_id = start_send(runner, "media")
        env = {"RELAYS_FILE": relays, "BATCH_SIZE": "7"}
        workers = [run_worker(env=env), run_worker(env=env)]
        assert all(w.wait(timeout=120) == 0 for w in workers)
        assert state_counts(send_id) == {DeliveryState.SENT: 30}
        got = collections.Counter(
            r for s in (first, second) for m in s.received for r in m.rcpt_tos
        )
        assert got == {e: 1 for e in emails}  # each reader once
        assert len(first.received) == 12 and len(second.received) == 18
    finally:
        first.stop()
        second.stop()


def test_every_relay_out_of_quota_pauses_the_send_until_the_window_opens(
    app, runner, run_jobs, sample_text, tmp_path
):
    approve_for_tests(import_issue(db.session, sample_text)[0])
    bulk_subscribers(10, "media", prefix="over")
    sink = SinkServer().start()
    try:
        relays = _relays_file(
            tmp_path,
            f"""
[[relay]]
name = "mailbox"
host = "127.0.0.1"
port = {sink.port}
per_day = 4
""",
        )
        send_id = start_send(runner, "media")
        app.config["RELAYS_FILE"] = relays
        run_jobs()
        send = _send_status(send_id)
        assert send.status == SendStatus.PAUSED and len(sink.received) == 4
        assert (
            send.paused_reason.startswith("剩余 6 封将于明日")
            and "配额恢复后继续" in send.paused_reason
        )
        assert send.resume_at is not None  # the sweep resumes it by itself then
        counts = state_counts(send_id)
        assert counts[DeliveryState.SENT] == 4 and DeliveryState.FAILED not in counts
    finally:
        sink.stop()


class DeferringHandler:
    """451 at RCPT for slow.example (the first two tries of each), accepts the rest."""

    def __init__(self):
        from newsletter.devsmtp import SinkHandler

        self.sink = SinkHandler()
        self.received = self.sink.received
        self.tries: collections.Counter = collections.Counter()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.endswith("@slow.example"):
            self.tries[address] += 1
            if self.tries[address] <= 2:
                return "451 4.7.1 too many messages, slow down"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        return await self.sink.handle_DATA(server, session, envelope)


def test_a_domain_that_defers_is_slowed_while_the_others_are_not(
    app, runner, run_worker, sample_text, tmp_path
):
    from subscribers.models import Subscriber

    approve_for_tests(import_issue(db.session, sample_text)[0])
    bulk_subscribers(6, "media", prefix="slow")
    bulk_subscribers(20, "media", prefix="fast")
    for sub in db.session.scalars(select(Subscriber)):
        domain = "slow.example" if sub.email.startswith("slow") else "fast.example"
        sub.email = sub.email.replace("@example.org", f"@{domain}")
    db.session.commit()
    handler = DeferringHandler()
    server = SinkServer(handler=handler).start()
    try:
        relays = _relays_file(
            tmp_path,
            f"""
[[relay]]
name = "own"
host = "127.0.0.1"
port = {server.port}

[domains."slow.example"]
per_minute = 240

[domains."fast.example"]
per_minute = 240
""",
        )
        app.config["RELAYS_FILE"] = relays
        send_id = start_send(runner, "media")
        run_worker("--sweep-interval", "0.3", burst=False, env={"RELAYS_FILE": relays})
        wait_until(lambda: all_final(send_id), 90, "every delivery final")
        assert state_counts(send_id) == {DeliveryState.SENT: 26}
        pool = RelayPool(Redis.from_url(REDIS_URL), app.config["QUEUE_PREFIX"], load(app.config))
        assert pool.pace("slow.example").per_minute < 240 // 4  # halved per deferral
        assert pool.pace("fast.example").per_minute == 240  # untouched
        assert set(handler.tries) == {e for e in handler.tries if e.endswith("@slow.example")}
        assert len(handler.received) == 26
    finally:
        server.stop()


def test_a_send_whose_relay_check_fails_does_not_start(app, runner, run_jobs, postfix, sample_text):
    approve_for_tests(import_issue(db.session, sample_text)[0])
    bulk_subscribers(3, "media", prefix="precheck")
    # The strict relay refuses the VERP sender a default (verp) relay would use.
    send_id = start_send(runner, "media")
    app.config.update(  # the worker's settings (run_worker passed them on as its environment)
        SMTP_HOST=postfix.host,
        SMTP_PORT=postfix.port,
        SMTP_SECURITY="starttls",
        SMTP_CA_FILE=str(postfix.ca_file),
        SMTP_USERNAME=postfix.login[0],
        SMTP_PASSWORD=postfix.login[1],
    )
    run_jobs()
    send = _send_status(send_id)
    assert send.status == SendStatus.PAUSED and send.started_at is None
    assert send.paused_reason.startswith(
        "发送前检查未通过（中继 default）：该服务器拒绝 VERP 退信地址"
    )
    assert "fixed" in send.paused_reason
    assert state_counts(send_id) == {DeliveryState.QUEUED: 3}
    assert postfix.log_count("precheck") == 0  # no message to a reader reached the relay
