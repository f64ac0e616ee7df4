"""The send against a real Postfix (tests/mta.py) as the relay: SASL AUTH, sender-login
checks, a client message-rate limit, and a local domain whose unknown users bounce with
Postfix's own DSNs. Worker processes, Redis and the database are real too; every count is
taken where the mail lands (the rig's Maildirs) and in the database."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import func, select

from newsletter.bulletin.service import import_issue
from newsletter.delivery.models import Delivery, DeliveryState, Send
from newsletter.extensions import db
from subscribers.models import Subscriber, SubscriberStatus, Suppression, email_hash
from tests.conftest import approve_for_tests
from tests.delivery.support import all_final, bulk_subscribers, state_counts, wait_until
from tests.delivery.test_faults import start_send
from tests.mta import DOMAIN, UNKNOWN_PREFIXES

FROM = f"行业动态周报 <weekly@{DOMAIN}>"


def relay_settings(rig, **override) -> dict[str, str]:
    """The app's and the worker's settings to send through `rig` (AUTH, no TLS)."""
    user, password = rig.login
    values = {"SMTP_HOST": rig.host, "SMTP_PORT": str(rig.port), "SMTP_USERNAME": user,
              "SMTP_PASSWORD": password, "SMTP_SECURITY": "none", "SMTP_ENVELOPE": "fixed",
              "MAIL_FROM": FROM}
    values.update(override)
    return values


def configure(app, rig, **override) -> dict[str, str]:
    env = relay_settings(rig, **override)
    app.config.update({k: (int(v) if k == "SMTP_PORT" else v) for k, v in env.items()})
    return env


def readers(count: int, tag: str) -> list[str]:
    """`count` active members at the rig's domain, under a prefix of this test's own."""
    return bulk_subscribers(count, "members", prefix=f"{tag}-{uuid.uuid4().hex[:6]}-",
                            domain=DOMAIN)


def landed(rig, emails: list[str]) -> dict[str, int]:
    """How many copies each address has in its mailbox at the rig."""
    return {e: len(rig.raw_messages(e)) for e in emails}


def send_row(send_id: int) -> Send:
    return db.session.get(Send, send_id, populate_existing=True)


def suppressed(email: str) -> bool:
    return db.session.scalar(select(Suppression.id).where(
        Suppression.email_hash == email_hash(email))) is not None


def test_real_postfix_dsns_suppress_exactly_the_unknown_users(
        app, runner, run_worker, postfix_factory, sample_text, tmp_path):
    """VERP envelope through a relay that allows it: Postfix accepts everyone, delivers the
    known readers and sends its own DSNs for the unknown ones to their VERP addresses
    (weekly+b<id>-<sig>@, which land in weekly's mailbox); those DSNs, fed to the intake
    (`flask bounces ingest`), suppress exactly the unknown readers."""
    rig = postfix_factory(unknown="bounce", sender_login=False)
    env = configure(app, rig, SMTP_ENVELOPE="verp")
    approve_for_tests(import_issue(db.session, sample_text)[0])
    known = readers(5, "known")
    gone = bulk_subscribers(3, "members", prefix=f"{UNKNOWN_PREFIXES[1]}-{uuid.uuid4().hex[:6]}-",
                            domain=DOMAIN)
    dsn_box_before = len(rig.raw_messages(rig.login[0]))
    send_id = start_send(runner, "members")
    run_worker(env=env)
    wait_until(lambda: all_final(send_id), 90, "every delivery final")
    errors = db.session.scalars(select(Delivery.last_error).where(Delivery.send_id == send_id)).all()
    assert state_counts(send_id) == {DeliveryState.SENT: 8}, errors  # Postfix took all eight
    rig.wait_for(lambda: all(landed(rig, known).values()), what="the known readers' mail")
    assert landed(rig, known) == {e: 1 for e in known}

    dsns = rig.wait_for(lambda: (m := rig.raw_messages(rig.login[0])[dsn_box_before:])
                        and len(m) >= 3 and m, what="three DSNs in weekly's mailbox")
    assert len(dsns) == 3
    files = []
    for i, raw in enumerate(dsns):
        assert b"report-type=delivery-status" in raw and b"Status: 5.1.1" in raw
        path = Path(tmp_path) / f"dsn-{i}.eml"
        path.write_bytes(raw)
        files.append(str(path))
    result = runner.invoke(args=["bounces", "ingest", *files])
    assert result.exit_code == 0, result.output
    assert result.output.count(": hard delivery") == 3, result.output
    assert result.output.count("(address suppressed)") == 3, result.output

    db.session.expire_all()
    assert [e for e in known + gone if suppressed(e)] == gone
    states = dict(db.session.execute(select(Delivery.email, Delivery.state)
                                     .where(Delivery.send_id == send_id)).all())
    assert {e for e, s in states.items() if s == DeliveryState.BOUNCED} == set(gone)
    statuses = dict(db.session.execute(select(Subscriber.email, Subscriber.status)
                                       .where(Subscriber.email.in_(known + gone))).all())
    assert {e for e, s in statuses.items() if s == SubscriberStatus.BOUNCED} == set(gone)
    rows = db.session.scalars(select(Suppression)).all()
    assert {(r.reason, r.verdict, r.send_id) for r in rows} == {("bounced", "hard_bounce",
                                                                  send_id)}
    # the same DSNs again (a second poll, a retried webhook) change nothing
    again = runner.invoke(args=["bounces", "ingest", *files])
    assert again.output.count(": duplicate") == 3, again.output
    assert db.session.scalar(select(func.count(Suppression.id))) == 3

