"""Bounce and complaint intake: hand-written DSN/ARF samples, sent over real SMTP on
loopback to the inbound handler, fed to the file CLI and POSTed to the webhook."""

from __future__ import annotations

import datetime as dt
import logging
import smtplib

import pytest
from sqlalchemy import select

from newsletter.delivery.classify import classify_dsn
from newsletter.delivery.models import Delivery, DeliveryState
from newsletter.devsmtp import SinkServer
from newsletter.extensions import db
from newsletter.timeutil import utcnow
from newsletter.tracking.bounces import (
    DELAY,
    HARD,
    KLASS,
    MESSAGE,
    RELAY,
    SOFT,
    BounceParseError,
    parse,
)
from newsletter.tracking.inbound import BounceHandler
from newsletter.tracking.intake import ingest, record_unsubscribe
from newsletter.tracking.links import TrackingSettings
from subscribers.models import Subscriber, Suppression, email_hash
from tests.tracking.conftest import sample, verp_for
from tests.tracking.factory import events_of, make_send


def _fill(app, name: str, d: Delivery, **extra) -> bytes:
    values = {
        "verp": verp_for(app.config["SECRET_KEY"], d.id),
        "email": d.email,
        "msgid": d.message_id,
        **extra,
    }
    return sample(name, **values)


def _suppressed(email: str) -> Suppression | None:
    return db.session.scalar(select(Suppression).where(Suppression.email_hash == email_hash(email)))


@pytest.fixture
def inbound(app):
    server = SinkServer(handler=BounceHandler(app, feedback_addresses=["fbl@news.example.org"]))
    server.start()
    yield server
    server.stop()


def _smtp_send(server, rcpt: str, raw: bytes) -> None:
    with smtplib.SMTP(server.host, server.port, timeout=10) as client:
        client.sendmail("", [rcpt], raw)  # bounces come with the null sender MAIL FROM:<>


# --- parsing (pure) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "status", "diag", "expected"),
    [
        ("failed", "5.1.1", "", HARD),
        ("failed", "5.1.10", "", HARD),
        ("failed", "5.2.1", "", HARD),
        ("failed", "5.4.4", "", HARD),
        ("failed", "5.2.2", "", SOFT),
        ("failed", "5.7.1", "", MESSAGE),
        ("failed", "5.1.7", "", RELAY),
        ("failed", "4.4.1", "", SOFT),
        ("delayed", "4.4.7", "", DELAY),
        ("delivered", "2.0.0", "", None),
        ("relayed", "2.0.0", "", None),
        ("failed", "5.0.0", "550 user unknown", HARD),
        ("failed", "5.0.0", "554 blocked", MESSAGE),
        ("failed", "", "smtp; 550 5.1.1 no such user", HARD),
        ("failed", "bogus", "", MESSAGE),
        ("failed", "", "452 try later", SOFT),
        ("Failed", " 5.1.1 ", "", HARD),
        (
            "failed",
            "5.7.515",
            "smtp; 550 5.7.515 Access denied, sending domain does not meet the "
            "required authentication level",
            RELAY,
        ),
    ],
)
def test_dsn_blocks_are_judged_by_the_one_classifier(action, status, diag, expected):
    """The report's word for each recipient (hard/soft/…) is the classifier's verdict."""
    assert KLASS[classify_dsn(action, status, diag).verdict] == expected


def test_parse_reads_dsn_and_arf_samples():
    report = parse(
        sample(
            "dsn-hard-multipart.eml",
            verp="w+b1-0123456789@x",
            email="a@b.c",
            msgid="<m1@news.example.org>",
        )
    )
    assert report.kind == "dsn" and report.message_ids == ["<m1@news.example.org>"]
    assert [(r.recipient, r.status, r.klass) for r in report.recipients] == [
        ("a@b.c", "5.1.1", HARD)
    ]
    assert "User unknown" in report.recipients[0].diagnostic
    two = parse(sample("dsn-two-recipients.eml", email="x@y.z"))
    assert [r.klass for r in two.recipients] == [None, HARD] and two.worst.recipient == "x@y.z"
    arf = parse(sample("arf-abuse.eml", verp="v", email="a@b.c", msgid="<m2@n>"))
    assert (arf.kind, arf.feedback_type, arf.original_rcpt) == ("arf", "abuse", "a@b.c")
    assert arf.message_ids == ["<m2@n>"]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   \r\n",
        b"\x00\xff\xfe garbage",
        b"Subject: hi\r\n\r\nhello",
        sample("auto-reply.eml"),
        sample("malformed-report.eml"),
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x--\r\n",
        (
            b"Content-Type: multipart/report; report-type=feedback-report; boundary=x\r\n\r\n"
            b"--x\r\nContent-Type: message/feedback-report\r\n\r\nUser-Agent: x\r\n--x--\r\n"
        ),
        b"Content-Type: multipart/report; report-type=other; boundary=x\r\n\r\n--x--\r\n",
        b'Content-Type: multipart/report; boundary="\r\n\r\n\xff' * 50,
    ],
)
def test_unreadable_input_raises_a_parse_error_only(raw):
    with pytest.raises(BounceParseError):
        parse(raw)


# --- over SMTP --------------------------------------------------------------------------


def test_hard_bounce_over_smtp_marks_the_delivery_and_suppresses(app, inbound, sample_text):
    s = make_send(sample_text, ["gone@example.com", "fine@example.com"])
    gone, fine = s.deliveries
    _smtp_send(
        inbound,
        verp_for(app.config["SECRET_KEY"], gone.id),
        _fill(app, "dsn-hard-multipart.eml", gone),
    )
    assert [r.outcome for r in inbound.handler.results] == ["hard"]
    db.session.expire_all()
    assert db.session.get(Delivery, gone.id).state == DeliveryState.BOUNCED
    assert "5.1.1" in db.session.get(Delivery, gone.id).last_error
    [event] = events_of(gone.id, "bounced")
    assert event.detail.startswith("hard 5.1.1 smtp; 550 5.1.1")
    assert _suppressed("gone@example.com").reason == "bounced"
    sub = db.session.scalar(select(Subscriber).where(Subscriber.email == "gone@example.com"))
    assert sub.status == "bounced"
    assert db.session.get(Delivery, fine.id).state == DeliveryState.SENT
    assert _suppressed("fine@example.com") is None


def test_soft_bounce_and_delay_are_events_only(app, inbound, sample_text):
    s = make_send(sample_text, ["full@example.com"])
    d = s.deliveries[0]
    rcpt = verp_for(app.config["SECRET_KEY"], d.id)
    _smtp_send(inbound, rcpt, _fill(app, "dsn-soft-headers-only.eml", d))
    _smtp_send(inbound, rcpt, _fill(app, "dsn-delayed.eml", d))
    assert [r.outcome for r in inbound.handler.results] == ["soft", "delay"]
    db.session.expire_all()
    assert db.session.get(Delivery, d.id).state == DeliveryState.SENT
    assert [e.detail[:10] for e in events_of(d.id, "bounced")] == ["soft 5.2.2"]
    assert events_of(d.id, "deferred")[0].detail.startswith("remote delay: delay 4.4.7")
    assert _suppressed("full@example.com") is None


def test_arf_complaint_found_by_message_id_suppresses(app, inbound, sample_text):
    s = make_send(sample_text, ["angry@example.com"])
    d = s.deliveries[0]
    raw = _fill(app, "arf-abuse.eml", d, verp="weekly@news.example.org")  # no VERP to go by
    _smtp_send(inbound, "fbl@news.example.org", raw)
    assert inbound.handler.results[-1].outcome == "complaint"
    assert [e.detail for e in events_of(d.id, "complained")] == ["ARF abuse"]
    assert _suppressed("angry@example.com").reason == "complained"


def test_malformed_and_unmatched_reports_are_logged_and_dropped(app, inbound, sample_text, caplog):
    s = make_send(sample_text, ["a@example.com"])
    d = s.deliveries[0]
    rcpt = verp_for(app.config["SECRET_KEY"], d.id)
    # alembic's fileConfig (the session's migration) disables loggers that existed then
    logging.getLogger("newsletter.tracking.intake").disabled = False
    caplog.set_level(logging.WARNING, logger="newsletter.tracking")
    _smtp_send(inbound, rcpt, _fill(app, "malformed-report.eml", d) + b"\x00\x01\xff\xfe")
    _smtp_send(inbound, rcpt, _fill(app, "auto-reply.eml", d))
    # a well-formed DSN that names nothing of ours (sent to the feedback address)
    _smtp_send(
        inbound,
        "fbl@news.example.org",
        sample(
            "dsn-hard-multipart.eml",
            verp="weekly+b1-0000000000@news.example.org",
            email="x@example.com",
            msgid="<nope@x>",
        ),
    )
    results = list(inbound.handler.results)
    assert [r.outcome for r in results] == ["dropped"] * 3
    assert "no recipient with an Action" in results[0].detail
    assert "no recipient with an Action" in caplog.text and "not a report" in caplog.text
    assert "no delivery matches" in caplog.text
    assert events_of(d.id, "bounced") == [] and _suppressed("a@example.com") is None


def test_smtp_refuses_recipients_that_are_not_signed_bounce_addresses(app, inbound, sample_text):
    s = make_send(sample_text, ["a@example.com"])
    forged = verp_for("wrong-key", s.deliveries[0].id)
    with smtplib.SMTP(inbound.host, inbound.port, timeout=10) as client:
        client.ehlo()
        client.mail("")
        code, _ = client.rcpt(forged)
        assert code == 550
        code, _ = client.rcpt("postmaster@news.example.org")
        assert code == 550
    assert list(inbound.handler.results) == []


def test_the_same_report_twice_changes_nothing_the_second_time(app, sample_text):
    s = make_send(sample_text, ["gone@example.com"])
    d = s.deliveries[0]
    raw = _fill(app, "dsn-hard-multipart.eml", d)
    settings = TrackingSettings.from_config(app.config)
    assert ingest(db.session, raw, settings).outcome == "hard"
    assert ingest(db.session, raw, settings).outcome == "duplicate"
    assert len(events_of(d.id, "bounced")) == 1


def test_soft_bounces_three_weeks_in_a_row_suppress(app, sample_text):
    settings = TrackingSettings.from_config(app.config)
    weeks_ago = [21, 14, 7, 0]
    sends = [
        make_send(
            sample_text,
            ["flaky@example.com", "ok@example.com"],
            created_at=utcnow() - dt.timedelta(days=d, hours=2),
        )
        for d in weeks_ago
    ]
    # week 1 bounces, week 2 goes through (chain broken), weeks 3 and 4 bounce: 2 in a row
    for i in (0, 2, 3):
        d = sends[i].deliveries[0]
        outcome = ingest(db.session, _fill(app, "dsn-soft-headers-only.eml", d), settings)
        assert outcome.outcome == "soft" and not outcome.suppressed
    assert _suppressed("flaky@example.com") is None
    # a fifth week bounces: weeks 3, 4, 5 in a row
    fifth = make_send(
        sample_text, ["flaky@example.com"], created_at=utcnow() + dt.timedelta(days=7)
    )
    result = ingest(
        db.session, _fill(app, "dsn-soft-headers-only.eml", fifth.deliveries[0]), settings
    )
    assert (
        result.suppressed
        and _suppressed("flaky@example.com").detail == "soft bounces 3 weeks in a row"
    )


# --- file CLI and webhook ---------------------------------------------------------------


def test_cli_ingests_files_and_reports_the_dropped(app, runner, sample_text, tmp_path):
    s = make_send(sample_text, ["gone@example.com"])
    d = s.deliveries[0]
    good = tmp_path / "hard.eml"
    good.write_bytes(_fill(app, "dsn-hard-multipart.eml", d))
    bad = tmp_path / "bad.eml"
    bad.write_bytes(b"\x00garbage")
    result = runner.invoke(args=["bounces", "ingest", str(good)])
    assert result.exit_code == 0 and f"hard delivery {d.id} (address suppressed)" in result.output
    result = runner.invoke(args=["bounces", "ingest", str(bad), str(tmp_path / "missing.eml")])
    assert result.exit_code == 1
    assert "dropped: not a report" in result.output and "cannot read" in result.output


def test_webhook_needs_the_shared_secret(app, client, sample_text):
    s = make_send(sample_text, ["gone@example.com"])
    d = s.deliveries[0]
    raw = _fill(app, "dsn-hard-multipart.eml", d)
    assert client.post("/webhooks/bounce", data=raw).status_code == 404  # not configured
    app.config["BOUNCE_WEBHOOK_SECRET"] = "hook-secret"
    app.extensions.pop("tracking_settings", None)
    r = client.post("/webhooks/bounce", data=raw, headers={"X-Bounce-Secret": "wrong"})
    assert r.status_code == 403 and "X-Bounce-Secret" in r.get_json()["error"]
    assert events_of(d.id, "bounced") == []
    r = client.post("/webhooks/bounce", data=b"junk", headers={"X-Bounce-Secret": "hook-secret"})
    assert r.status_code == 422 and r.get_json()["outcome"] == "dropped"
    r = client.post(
        "/webhooks/bounce",
        data=raw,
        headers={"X-Bounce-Secret": "hook-secret", "Content-Type": "message/rfc822"},
    )
    assert r.status_code == 200
    assert r.get_json() == {
        "outcome": "hard",
        "delivery_id": d.id,
        "suppressed": True,
        "detail": r.get_json()["detail"],
    }


def test_unsubscribe_is_attached_to_the_latest_delivery(app, sample_text):
    s = make_send(sample_text, ["bye@example.com"])
    d = s.deliveries[0]
    assert record_unsubscribe(db.session, d.subscriber_id) == d.id
    db.session.commit()
    assert len(events_of(d.id, "unsubscribed")) == 1
    assert record_unsubscribe(db.session, 10**6) is None
