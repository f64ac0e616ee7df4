"""The Postfix test rig itself (tests/mta.py): a real Postfix behaves as the relays the
delivery tests stand for. Each answer asserted here is Postfix's own."""

from __future__ import annotations

import imaplib
import smtplib
import ssl
import uuid

import pytest

from newsletter.tracking.bounces import parse


def _user(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}"


def _message(rig, to: str, subject: str = "rig test") -> bytes:
    mid = f"<{uuid.uuid4().hex}@news.test>"
    return (
        f"From: {rig.sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: {mid}\r\n\r\nhello\r\n"
    ).encode()


def _session(rig, *, login=True, password=None) -> smtplib.SMTP:
    conn = smtplib.SMTP(rig.host, rig.port, timeout=15)
    conn.ehlo()
    if login:
        conn.login(rig.login[0], password or rig.login[1])
    return conn


def test_auth_is_required_to_send(postfix):
    conn = _session(postfix, login=False)
    try:
        assert "AUTH" in conn.esmtp_features.get("auth", "").upper() or conn.has_extn("auth")
        code, text = conn.mail(postfix.sender)
        assert code == 553 and b"not logged in" in text
        conn.rset()
        code, text = conn.mail("someone@elsewhere.test")
        assert code == 554 and b"Access denied" in text
    finally:
        conn.close()


def test_wrong_password_is_535(postfix):
    conn = smtplib.SMTP(postfix.host, postfix.port, timeout=15)
    try:
        with pytest.raises(smtplib.SMTPAuthenticationError) as err:
            conn.login(postfix.login[0], "not-the-password")
        assert err.value.smtp_code == 535
        assert b"5.7.8" in err.value.smtp_error
    finally:
        conn.close()


def test_verp_sender_is_refused_at_mail_from(postfix):
    conn = _session(postfix)
    try:
        code, text = conn.mail(f"{postfix.login[0]}+12-3f9a0c1b2d@{postfix.domain}")
        assert code == 553
        assert b"5.7.1" in text and b"not owned by user weekly" in text
    finally:
        conn.close()


def test_sender_refusal_at_rcpt_when_delay_reject(postfix_factory):
    rig = postfix_factory(delay_reject=True)
    conn = _session(rig)
    try:
        assert conn.mail("bounce+1-abc@news.test")[0] == 250
        code, text = conn.rcpt(rig.address(_user("r")))
        assert code == 553 and b"Sender address rejected: not owned by user" in text
    finally:
        conn.close()


def test_fixed_sender_is_accepted_and_delivered(postfix):
    user = _user("reader")
    conn = _session(postfix)
    try:
        conn.sendmail(
            postfix.sender, [postfix.address(user)], _message(postfix, user, "固定发件人")
        )
    finally:
        conn.quit()
    [msg] = postfix.wait_for_messages(user, 1)
    assert msg["Subject"] == "固定发件人"
    assert msg["Delivered-To"].startswith(user)
    assert postfix.messages(_user("other")) == []


def test_implicit_tls_port_with_the_rig_ca(postfix):
    user = _user("tls")
    context = ssl.create_default_context(cafile=str(postfix.ca_file))
    with smtplib.SMTP_SSL(postfix.host, postfix.smtps_port, timeout=15, context=context) as conn:
        assert conn.sock.version().startswith("TLS")
        conn.login(*postfix.login)
        conn.sendmail(postfix.sender, [postfix.address(user)], _message(postfix, user))
    postfix.wait_for_messages(user, 1)
    # Without the rig's CA the certificate is not trusted: a clear verification failure.
    with pytest.raises(ssl.SSLCertVerificationError):
        smtplib.SMTP_SSL(
            postfix.host, postfix.smtps_port, timeout=15, context=ssl.create_default_context()
        )


def test_starttls_on_the_submission_port(postfix):
    context = ssl.create_default_context(cafile=str(postfix.ca_file))
    with smtplib.SMTP(postfix.host, postfix.port, timeout=15) as conn:
        conn.starttls(context=context)
        conn.login(*postfix.login)
        assert conn.mail(postfix.sender)[0] == 250


def test_unknown_user_refused_at_rcpt(postfix):
    conn = _session(postfix)
    try:
        assert conn.mail(postfix.sender)[0] == 250
        code, text = conn.rcpt(postfix.address("nobody-" + uuid.uuid4().hex[:6]))
        assert code == 550
        assert b"5.1.1" in text and b"User unknown" in text
    finally:
        conn.close()


def test_unknown_user_accepted_then_a_real_dsn_arrives(postfix_bouncing):
    rig = postfix_bouncing
    before = len(rig.raw_messages(rig.login[0]))
    unknown, known = "unknown-" + uuid.uuid4().hex[:6], _user("known")
    message = _message(rig, unknown)
    conn = _session(rig)
    try:
        refused = conn.sendmail(rig.sender, [rig.address(unknown), rig.address(known)], message)
        assert refused == {}  # accepted at RCPT: the bounce comes later, as mail
    finally:
        conn.quit()
    rig.wait_for_messages(known, 1)
    raw = rig.wait_for(
        lambda: (m := rig.raw_messages(rig.login[0])) and len(m) > before and m[-1],
        what="the DSN in the sender's mailbox",
    )
    report = parse(raw)
    assert report.kind == "dsn"
    [rcpt] = report.recipients
    assert rcpt.recipient == rig.address(unknown)
    assert rcpt.action == "failed" and rcpt.status == "5.1.1"
    assert message.split(b"Message-ID: ")[1].split(b"\r\n")[0].decode() in report.message_ids
    # The same DSN is in the sender's mailbox as Dovecot serves it over IMAP.
    imap = imaplib.IMAP4(rig.host, rig.imap_port)
    try:
        imap.login(rig.sender, rig.login[1])
        imap.select("INBOX", readonly=True)
        _, found = imap.search(None, "BODY", unknown)
        assert len(found[0].split()) == 1
    finally:
        imap.logout()


def test_rate_limit_answers_4xx(postfix_factory):
    rig = postfix_factory(fresh=True, rate_limit=(3, 60))
    conn = _session(rig)
    answers = []
    try:
        for _ in range(5):
            code, text = conn.mail(rig.sender)
            answers.append(code)
            last = text
            conn.rset()
    finally:
        conn.close()
    assert answers[:3] == [250, 250, 250]
    assert answers[3:] == [450, 450]
    assert last == b"4.7.1 Error: too much mail from 127.0.0.1"
    assert "Message delivery request rate limit exceeded" in rig.log()


def test_discard_mode_takes_anything_and_keeps_nothing(postfix_factory):
    rig = postfix_factory(discard=True)
    conn = _session(rig)
    try:
        conn.sendmail(rig.sender, ["nobody@test.example", "reader@example.org"], _message(rig, "x"))
    finally:
        conn.quit()
    rig.wait_for(
        lambda: rig.log_count("status=sent (discarded by the test rig)") >= 2, what="two discards"
    )
    assert rig.sent_count() == 2
    assert rig.delivered_count() == 0


def test_verp_sender_accepted_when_sender_login_is_off(postfix_factory):
    rig = postfix_factory(sender_login=False, unknown="bounce")
    unknown = "unknown-" + uuid.uuid4().hex[:6]
    conn = _session(rig)
    try:
        conn.sendmail(
            f"{rig.login[0]}+b7-0123456789@{rig.domain}",
            [rig.address(unknown)],
            _message(rig, unknown),
        )
    finally:
        conn.quit()
    raw = rig.wait_for(
        lambda: [r for r in rig.raw_messages(rig.login[0]) if unknown.encode() in r],
        what="the DSN to the VERP address",
    )
    assert b"Delivered-To: weekly+b7-0123456789@test.example" in raw[0]
