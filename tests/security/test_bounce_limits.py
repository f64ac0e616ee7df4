"""Finding: the bounce SMTP handler spent ~20 s of CPU on one 10 MB message and ~2 GB for six
at once. Every intake edge (SMTP, file, webhook) now refuses what is over BOUNCE_MAX_BYTES
before parsing it, and the SMTP handler parses at most two messages at a time."""

from __future__ import annotations

import smtplib
import time

import pytest

from newsletter.devsmtp import SinkServer
from newsletter.tracking import inbound
from newsletter.tracking.inbound import BounceHandler
from tests.tracking.conftest import verp_for

MB = 1024 * 1024


def _big(size: int) -> bytes:
    head = b"From: MAILER-DAEMON@example.org\r\nSubject: Undelivered\r\n\r\n"
    return head + (b"x" * 998 + b"\r\n") * (size // 1000)


def test_the_smtp_intake_refuses_a_message_over_the_limit(app):
    assert app.config["BOUNCE_MAX_BYTES"] == 2 * MB  # the documented default
    server = SinkServer(handler=BounceHandler(app)).start()
    try:
        rcpt = verp_for(app.config["SECRET_KEY"], 1)
        with smtplib.SMTP(server.host, server.port, timeout=30) as client:
            started = time.monotonic()
            with pytest.raises(smtplib.SMTPException) as refused:
                client.sendmail("", [rcpt], _big(3 * MB))
            assert time.monotonic() - started < 20
        assert "552" in str(refused.value)
        assert list(server.handler.results) == []  # never parsed
        with smtplib.SMTP(server.host, server.port, timeout=30) as client:  # small ones go on
            client.sendmail("", [rcpt], _big(10_000))
        assert [r.outcome for r in server.handler.results] == ["dropped"]
    finally:
        server.stop()


def test_the_smtp_intake_parses_at_most_two_messages_at_once(app, monkeypatch):
    import threading

    running, peak, lock = [0], [0], threading.Lock()
    original = BounceHandler._apply

    def slow_apply(self, raw, rcpts):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.3)
        try:
            return original(self, raw, rcpts)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(BounceHandler, "_apply", slow_apply)
    server = SinkServer(handler=BounceHandler(app)).start()
    rcpt = verp_for(app.config["SECRET_KEY"], 1)

    def one():
        with smtplib.SMTP(server.host, server.port, timeout=30) as client:
            client.sendmail("", [rcpt], _big(5_000))

    try:
        threads = [threading.Thread(target=one) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        server.stop()
    assert len(server.handler.results) == 6
    assert peak[0] <= inbound.PARSERS == 2


def test_the_file_intake_refuses_a_file_over_the_limit(app, runner, tmp_path):
    big = tmp_path / "big.eml"
    big.write_bytes(_big(3 * MB))
    result = runner.invoke(args=["bounces", "ingest", str(big)])
    assert result.exit_code == 1
    assert "larger than BOUNCE_MAX_BYTES" in result.output


def test_the_webhook_refuses_a_body_over_the_limit(app, client):
    app.config["BOUNCE_WEBHOOK_SECRET"] = "hook-secret"
    response = client.post(
        "/webhooks/bounce",
        data=_big(3 * MB),
        headers={"X-Bounce-Secret": "hook-secret", "Content-Type": "message/rfc822"},
    )
    assert response.status_code == 413 and "2097152" in response.get_json()["error"]
