"""The mailbox poller against a private Dovecot (IMAP with STARTTLS, IMAPS, POP3S; LMTP in):
DSNs, a provider's non-standard bounce and unsubscribe mail, read, applied once, filed away."""

from __future__ import annotations

import imaplib
import ssl
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select

from newsletter.delivery.models import Delivery, DeliveryEvent, DeliveryState
from newsletter.extensions import db
from newsletter.tracking.links import TrackingSettings
from newsletter.tracking.mailbox import MailboxError, MailboxSettings, parse_url, poll
from subscribers import tokens
from subscribers.models import Subscriber, SubscriberStatus, Suppression, email_hash
from tests.dovecot import Dovecot
from tests.tracking.conftest import sample, verp_for
from tests.tracking.factory import make_send

BOX = "bounces@news.example.org"
UNSUB = "leave@news.example.org"


@pytest.fixture(scope="module")
def dovecot():
    with Dovecot(users={BOX: "box-pass", UNSUB: "leave-pass"}) as server:
        yield server


@pytest.fixture
def mailbox(dovecot):
    """An empty mailbox for each test (the previous test's mail removed over IMAP)."""
    for user in (BOX, UNSUB):
        conn = _imap(dovecot, user)
        for folder in ("INBOX", "Processed"):
            typ, data = conn.select(folder)
            if typ == "OK" and int(data[0]):
                conn.store("1:*", "+FLAGS", "(\\Deleted)")
                conn.expunge()
        conn.logout()
    return dovecot


def _imap(dovecot, user):
    conn = imaplib.IMAP4_SSL(
        dovecot.host,
        dovecot.ports["imaps"],
        ssl_context=ssl.create_default_context(cafile=dovecot.ca_file),
    )
    conn.login(user, dovecot.users[user])
    return conn


def _count(dovecot, user, folder):
    conn = _imap(dovecot, user)
    typ, data = conn.select(folder, readonly=True)
    conn.logout()
    return int(data[0]) if typ == "OK" else 0


def _settings(app, dovecot, scheme, user=BOX, **extra):
    config = {
        **app.config,
        "BOUNCE_MAILBOX_CA_FILE": dovecot.ca_file,
        "UNSUBSCRIBE_MAILTO": UNSUB,
        **extra,
    }
    return MailboxSettings.from_config(config, dovecot.url(scheme, user))


def _tracking(app):
    return TrackingSettings.from_config(app.config)


def _suppressed(email):
    return db.session.scalar(select(Suppression).where(Suppression.email_hash == email_hash(email)))


def _bounce_events():
    return db.session.scalar(
        select(func.count(DeliveryEvent.id)).where(DeliveryEvent.kind == "bounced")
    )


def _sina_bounce(email: str, original_msgid: str) -> bytes:
    """What mailer-daemon@sina.com sends: no delivery-status part, addresses in the text."""
    msg = EmailMessage()
    msg["From"] = "MAILER-DAEMON@sina.com"
    msg["To"] = BOX
    msg["Subject"] = "退信通知 Undelivered Mail Returned to Sender"
    msg["Message-ID"] = "<sina-bounce-1@sina.com>"
    msg.set_content(f"<{email}>: 收件人不存在 (user unknown)\n")
    msg.add_attachment(
        f"Message-ID: {original_msgid}\nTo: {email}\nSubject: weekly\n\nbody\n",
        subtype="plain",
        filename="original.txt",
    )
    return msg.as_bytes()


@pytest.mark.parametrize("scheme", ["imaps", "imap", "pop3s"])
def test_real_bounces_in_the_mailbox_suppress_exactly_the_unknown_users(
    app, mailbox, sample_text, scheme
):
    sent = make_send(
        sample_text,
        [
            "gone1@qq.com",
            "gone2@163.com",
            "full@126.com",
            "fine@sina.com",
            "gone3@sina.com",
            "ok@example.org",
        ],
    )
    d = {x.email: x for x in sent.deliveries}
    secret = app.config["SECRET_KEY"]
    # A Postfix DSN quoting the whole original; one that quotes only headers, where the relay
    # replaced our Message-ID (our X-Newsletter-Bounce header still names the delivery);
    # a full mailbox (soft); and Sina's own format.
    mailbox.deliver(
        BOX,
        sample(
            "dsn-hard-multipart.eml",
            verp=BOX,
            email="gone1@qq.com",
            msgid=d["gone1@qq.com"].message_id,
        ),
    )
    rewritten = sample(
        "dsn-soft-headers-only.eml",
        verp=BOX,
        email="gone2@163.com",
        msgid="<relay-rewrote-it@smtp.relay.example>",
    )
    rewritten = rewritten.replace(b"Status: 5.2.2", b"Status: 5.1.1").replace(
        b"Subject: weekly",
        b"X-Newsletter-Bounce: "
        + verp_for(secret, d["gone2@163.com"].id).encode()
        + b"\r\nSubject: weekly",
    )
    mailbox.deliver(BOX, rewritten)
    mailbox.deliver(
        BOX,
        sample(
            "dsn-soft-headers-only.eml",
            verp=BOX,
            email="full@126.com",
            msgid=d["full@126.com"].message_id,
        ),
    )
    mailbox.deliver(BOX, _sina_bounce("gone3@sina.com", d["gone3@sina.com"].message_id))
    mailbox.deliver(
        BOX,
        b"From: someone@example.net\r\nTo: "
        + BOX.encode()
        + b"\r\nSubject: hello\r\nMessage-ID: <hi@example.net>\r\n\r\njust mail\r\n",
    )

    result = poll(db.session, _settings(app, mailbox, scheme), _tracking(app))

    assert result == {"hard": 3, "soft": 1, "dropped": 1}
    db.session.expire_all()
    for email in ("gone1@qq.com", "gone2@163.com", "gone3@sina.com"):
        assert _suppressed(email) is not None, email
        assert db.session.get(Delivery, d[email].id).state == DeliveryState.BOUNCED
    for email in ("full@126.com", "fine@sina.com", "ok@example.org"):
        assert _suppressed(email) is None, email
        assert db.session.get(Delivery, d[email].id).state == DeliveryState.SENT
    # Filed away: nothing left in the inbox; IMAP moved them, POP3 deleted them.
    assert _count(mailbox, BOX, "INBOX") == 0
    assert _count(mailbox, BOX, "Processed") == (0 if scheme == "pop3s" else 5)
    events = _bounce_events()
    assert events == 4
    # Polling again finds nothing and counts nothing.
    assert poll(db.session, _settings(app, mailbox, scheme), _tracking(app)) == {}
    assert _bounce_events() == events


def test_a_crash_between_commit_and_filing_counts_nothing_twice(app, mailbox, sample_text):
    sent = make_send(sample_text, ["gone@qq.com", "full@163.com"])
    raws = [
        sample(
            "dsn-hard-multipart.eml",
            verp=BOX,
            email="gone@qq.com",
            msgid=sent.deliveries[0].message_id,
        ),
        sample(
            "dsn-soft-headers-only.eml",
            verp=BOX,
            email="full@163.com",
            msgid=sent.deliveries[1].message_id,
        ),
    ]
    for raw in raws:
        mailbox.deliver(BOX, raw)
    assert poll(db.session, _settings(app, mailbox, "pop3s"), _tracking(app)) == {
        "hard": 1,
        "soft": 1,
    }
    events = _bounce_events()
    # The poller died after the commit and before QUIT/MOVE: the same mail is still there.
    for raw in raws:
        mailbox.deliver(BOX, raw)
    assert poll(db.session, _settings(app, mailbox, "imaps"), _tracking(app)) == {"duplicate": 2}
    assert _bounce_events() == events
    assert _count(mailbox, BOX, "INBOX") == 0


def test_mail_to_the_unsubscribe_address_unsubscribes_its_sender(app, mailbox, sample_text):
    sent = make_send(sample_text, ["reader@qq.com", "other@163.com", "token@126.com"])
    by_email = {x.email: x for x in sent.deliveries}
    secret = app.config["SECRET_KEY"]
    # 1. A reader's client follows the mailto: from their own address, empty subject.
    plain = EmailMessage()
    plain["From"], plain["To"], plain["Subject"] = "Reader <Reader@QQ.com>", UNSUB, "退订"
    plain.set_content("请退订")
    mailbox.deliver(UNSUB, plain.as_bytes())
    # 2. Forwarded from another address, but with our token in the subject.
    token = tokens.make_token(secret, tokens.UNSUBSCRIBE, by_email["token@126.com"].subscriber_id)
    forwarded = EmailMessage()
    forwarded["From"], forwarded["To"] = "assistant@corp.example", UNSUB
    forwarded["Subject"] = f"unsubscribe {token}"
    forwarded.set_content("")
    mailbox.deliver(UNSUB, forwarded.as_bytes())
    # 3. A stranger, and an auto-reply: nothing happens to anyone.
    stranger = EmailMessage()
    stranger["From"], stranger["To"], stranger["Subject"] = "x@evil.example", UNSUB, "unsubscribe"
    stranger.set_content("")
    mailbox.deliver(UNSUB, stranger.as_bytes())
    vacation = EmailMessage()
    vacation["From"], vacation["To"], vacation["Subject"] = "other@163.com", UNSUB, "休假自动回复"
    vacation["Auto-Submitted"] = "auto-replied"
    vacation.set_content("我在休假")
    mailbox.deliver(UNSUB, vacation.as_bytes())

    result = poll(db.session, _settings(app, mailbox, "imaps", user=UNSUB), _tracking(app))

    assert result == {"unsubscribed": 2, "dropped": 1, "ignored": 1}
    db.session.expire_all()
    status = {s.email: s.status for s in db.session.scalars(select(Subscriber))}
    assert status == {
        "reader@qq.com": SubscriberStatus.UNSUBSCRIBED,
        "token@126.com": SubscriberStatus.UNSUBSCRIBED,
        "other@163.com": SubscriberStatus.ACTIVE,
    }
    assert _suppressed("reader@qq.com").reason == "unsubscribed"
    # Again (the same mails back in the box): still two unsubscribed, one event each.
    mailbox.deliver(UNSUB, plain.as_bytes())
    assert poll(db.session, _settings(app, mailbox, "pop3s", user=UNSUB), _tracking(app)) == {
        "unsubscribed": 1
    }
    unsub_events = db.session.scalar(
        select(func.count(DeliveryEvent.id)).where(DeliveryEvent.kind == "unsubscribed")
    )
    assert unsub_events == 2


def test_cli_polls_and_says_what_is_wrong(app, runner, mailbox, sample_text):
    sent = make_send(sample_text, ["gone@qq.com"])
    mailbox.deliver(
        BOX,
        sample(
            "dsn-hard-multipart.eml",
            verp=BOX,
            email="gone@qq.com",
            msgid=sent.deliveries[0].message_id,
        ),
    )
    app.config.update(
        BOUNCE_MAILBOX_URL=mailbox.url("imaps", BOX), BOUNCE_MAILBOX_CA_FILE=mailbox.ca_file
    )
    result = runner.invoke(args=["bounces", "poll"])
    assert result.exit_code == 0, result.output
    assert '"hard": 1' in result.output
    # Without the CA file the self-signed certificate is refused, and said so.
    app.config["BOUNCE_MAILBOX_CA_FILE"] = ""
    result = runner.invoke(args=["bounces", "poll"])
    assert result.exit_code == 2
    assert "certificate not trusted" in result.output and "BOUNCE_MAILBOX_CA_FILE" in result.output
    # A wrong password is named as such, and nothing is lost: the mail waits.
    mailbox.deliver(
        BOX,
        sample(
            "dsn-hard-multipart.eml",
            verp=BOX,
            email="gone@qq.com",
            msgid=sent.deliveries[0].message_id,
        ),
    )
    app.config.update(
        BOUNCE_MAILBOX_CA_FILE=mailbox.ca_file,
        BOUNCE_MAILBOX_URL=mailbox.url("imaps", BOX).replace("box-pass", "nope"),
    )
    result = runner.invoke(args=["bounces", "poll"])
    assert result.exit_code == 2 and "AUTHENTICATIONFAILED" in result.output
    assert _count(mailbox, BOX, "INBOX") == 1


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://u:p@host/", "scheme must be one of"),
        ("imaps://host/INBOX", "needs a user and a host"),
        ("imaps://u:p@host:99999/", "malformed"),
    ],
)
def test_bad_mailbox_urls_are_explained(url, message):
    with pytest.raises(MailboxError, match=message):
        parse_url(url)


def test_url_defaults_and_escapes():
    u = parse_url("imaps://bounce%40news.example.org:p%40ss@mail.example.org/%E9%80%80%E4%BF%A1")
    assert (u.username, u.password, u.port, u.folder) == (
        "bounce@news.example.org",
        "p@ss",
        993,
        "退信",
    )
    assert "p@ss" not in str(u)
    assert parse_url("pop3s://u:p@h").port == 995
