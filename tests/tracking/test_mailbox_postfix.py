"""Real Postfix DSNs for a fixed-envelope send, read back from the mailbox: the strict
Postfix rig (tests/mta.py) bounces the unknown users of its test domain to the fixed sender;
those DSNs go into the private Dovecot over LMTP and the poller reads them over IMAP/POP3."""

from __future__ import annotations

import smtplib
import ssl
import uuid

import pytest
from sqlalchemy import select

from newsletter.delivery.message import MessageTemplate
from newsletter.delivery.models import Delivery, DeliveryState
from newsletter.delivery.pipeline import PipelineSettings, verp_address
from newsletter.extensions import db
from newsletter.tracking.bounces import REF_HEADER
from newsletter.tracking.links import TrackingSettings
from newsletter.tracking.mailbox import MailboxSettings, poll
from subscribers.models import Suppression, email_hash
from tests.dovecot import Dovecot
from tests.tracking.factory import make_send

BOX = "weekly@news.example.org"


@pytest.fixture(scope="module")
def dovecot():
    with Dovecot(users={BOX: "box-pass"}) as server:
        yield server


def _send_fixed(app, rig, deliveries) -> None:
    """Each message as the pipeline builds it (Message-ID, X-Newsletter-Bounce), handed to
    the strict relay with the login as envelope sender, over verified STARTTLS."""
    settings = PipelineSettings.from_config(app.config)
    template = MessageTemplate(f"周报 <{rig.sender}>", "行业动态周报 第396期", "weekly.test")
    conn = smtplib.SMTP(rig.host, rig.port, timeout=15)
    try:
        conn.starttls(context=ssl.create_default_context(cafile=str(rig.ca_file)))
        conn.login(*rig.login)
        for d in deliveries:
            raw = template.build(
                to_email=d.email,
                to_name="",
                message_id=d.message_id,
                html=None,
                text="本期内容",
                list_unsubscribe=[],
                extra_headers={REF_HEADER: verp_address(settings, template, d.id)},
            )
            assert conn.sendmail(rig.sender, [d.email], raw) == {}
    finally:
        conn.quit()


@pytest.mark.parametrize("scheme", ["imaps", "pop3s"])
def test_real_postfix_dsns_suppress_exactly_the_unknown_users(
    app, postfix_bouncing, dovecot, sample_text, scheme
):
    rig = postfix_bouncing
    tag = uuid.uuid4().hex[:6]
    unknown = [f"unknown-{tag}-{n}@{rig.domain}" for n in range(2)] + [f"nobody-{tag}@{rig.domain}"]
    known = [f"reader-{tag}-{n}@{rig.domain}" for n in range(3)]
    sent = make_send(sample_text, unknown + known)
    before = len(rig.raw_messages(rig.login[0]))
    _send_fixed(app, rig, sent.deliveries)
    dsns = rig.wait_for(
        lambda: (m := rig.raw_messages(rig.login[0])) and len(m) >= before + 3 and m[before:],
        what="three DSNs in the fixed sender's mailbox",
    )
    for raw in dsns:
        dovecot.deliver(BOX, raw, mail_from="")  # Postfix's DSNs, as an MTA hands them on

    settings = MailboxSettings.from_config(
        {**app.config, "BOUNCE_MAILBOX_CA_FILE": dovecot.ca_file}, dovecot.url(scheme, BOX)
    )
    tracking = TrackingSettings.from_config(app.config)
    assert poll(db.session, settings, tracking) == {"hard": 3}
    db.session.expire_all()
    states = {d.email: db.session.get(Delivery, d.id).state for d in sent.deliveries}
    assert states == {
        **{e: DeliveryState.BOUNCED for e in unknown},
        **{e: DeliveryState.SENT for e in known},
    }
    suppressed = {
        e
        for e in unknown + known
        if db.session.scalar(select(Suppression).where(Suppression.email_hash == email_hash(e)))
    }
    assert suppressed == set(unknown)
    assert poll(db.session, settings, tracking) == {}
