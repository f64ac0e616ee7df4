"""The send against a real Postfix (tests/mta.py) as the relay: SASL AUTH, sender-login
checks, a client message-rate limit, and a local domain whose unknown users bounce with
Postfix's own DSNs. Redis and the database are real too, and so are the worker processes
where a worker's life matters (pauses, resumes, a rate limit over time); the two DSN tests
drain the queues in process (tests/inprocess.py). Every count is taken where the mail lands
(the rig's Maildirs) and in the database."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import func, select

from newsletter.bulletin.service import import_issue
from newsletter.delivery.models import Delivery, DeliveryState, Send, SendStatus
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
    values = {
        "SMTP_HOST": rig.host,
        "SMTP_PORT": str(rig.port),
        "SMTP_USERNAME": user,
        "SMTP_PASSWORD": password,
        "SMTP_SECURITY": "none",
        "SMTP_ENVELOPE": "fixed",
        "MAIL_FROM": FROM,
    }
    values.update(override)
    return values


def configure(app, rig, **override) -> dict[str, str]:
    env = relay_settings(rig, **override)
    app.config.update({k: (int(v) if k == "SMTP_PORT" else v) for k, v in env.items()})
    return env


def readers(count: int, tag: str) -> list[str]:
    """`count` active members at the rig's domain, under a prefix of this test's own."""
    return bulk_subscribers(
        count, "members", prefix=f"{tag}-{uuid.uuid4().hex[:6]}-", domain=DOMAIN
    )


def landed(rig, emails: list[str]) -> dict[str, int]:
    """How many copies each address has in its mailbox at the rig."""
    return {e: len(rig.raw_messages(e)) for e in emails}


def send_row(send_id: int) -> Send:
    return db.session.get(Send, send_id, populate_existing=True)


def suppressed(email: str) -> bool:
    return (
        db.session.scalar(select(Suppression.id).where(Suppression.email_hash == email_hash(email)))
        is not None
    )


def test_real_postfix_dsns_suppress_exactly_the_unknown_users(
    app, runner, run_jobs, postfix_factory, sample_text, tmp_path
):
    """VERP envelope through a relay that allows it: Postfix accepts everyone, delivers the
    known readers and sends its own DSNs for the unknown ones to their VERP addresses
    (weekly+b<id>-<sig>@, which land in weekly's mailbox); those DSNs, fed to the intake
    (`flask bounces ingest`), suppress exactly the unknown readers."""
    rig = postfix_factory(unknown="bounce", sender_login=False)
    configure(app, rig, SMTP_ENVELOPE="verp")
    approve_for_tests(import_issue(db.session, sample_text)[0])
    known = readers(5, "known")
    gone = bulk_subscribers(
        3, "members", prefix=f"{UNKNOWN_PREFIXES[1]}-{uuid.uuid4().hex[:6]}-", domain=DOMAIN
    )
    dsn_box_before = len(rig.raw_messages(rig.login[0]))
    send_id = start_send(runner, "members")
    run_jobs()  # in the app configure() gave the relay settings
    wait_until(lambda: all_final(send_id), 90, "every delivery final")
    errors = db.session.scalars(
        select(Delivery.last_error).where(Delivery.send_id == send_id)
    ).all()
    assert state_counts(send_id) == {DeliveryState.SENT: 8}, errors  # Postfix took all eight
    rig.wait_for(lambda: all(landed(rig, known).values()), what="the known readers' mail")
    assert landed(rig, known) == {e: 1 for e in known}

    dsns = rig.wait_for(
        lambda: (m := rig.raw_messages(rig.login[0])[dsn_box_before:]) and len(m) >= 3 and m,
        what="three DSNs in weekly's mailbox",
    )
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
    states = dict(
        db.session.execute(
            select(Delivery.email, Delivery.state).where(Delivery.send_id == send_id)
        ).all()
    )
    assert {e for e, s in states.items() if s == DeliveryState.BOUNCED} == set(gone)
    statuses = dict(
        db.session.execute(
            select(Subscriber.email, Subscriber.status).where(Subscriber.email.in_(known + gone))
        ).all()
    )
    assert {e for e, s in statuses.items() if s == SubscriberStatus.BOUNCED} == set(gone)
    rows = db.session.scalars(select(Suppression)).all()
    assert {(r.reason, r.verdict, r.send_id) for r in rows} == {("bounced", "hard_bounce", send_id)}
    # the same DSNs again (a second poll, a retried webhook) change nothing
    again = runner.invoke(args=["bounces", "ingest", *files])
    assert again.output.count(": duplicate") == 3, again.output
    assert db.session.scalar(select(func.count(Suppression.id))) == 3


def _nothing_harmed(send_id: int, count: int, rig, emails: list[str]) -> None:
    """No row failed, none suppressed, no attempt spent, nothing reached a reader."""
    assert state_counts(send_id) == {DeliveryState.QUEUED: count}
    assert (
        db.session.scalar(select(func.max(Delivery.attempts)).where(Delivery.send_id == send_id))
        == 0
    )
    assert db.session.scalars(select(Suppression)).all() == []
    assert set(
        db.session.scalars(select(Subscriber.status).where(Subscriber.email.in_(emails)))
    ) == {SubscriberStatus.ACTIVE}
    assert sum(landed(rig, emails).values()) == 0


def _resume_and_finish_once(runner, run_worker, env, send_id: int, rig, emails: list[str]):
    run_worker("--sweep-interval", "0.5", burst=False, env=env)
    result = runner.invoke(args=["send", "resume", str(send_id)])
    assert result.exit_code == 0, result.output
    wait_until(lambda: all_final(send_id), 90, "every delivery final")
    rig.wait_for(lambda: all(landed(rig, emails).values()), what="every reader's copy")
    assert state_counts(send_id) == {DeliveryState.SENT: len(emails)}
    wait_until(lambda: send_row(send_id).status == SendStatus.DONE, 30, "the send done")
    rig.wait_for(rig.queue_empty, what="Postfix's queue to drain")
    assert landed(rig, emails) == {e: 1 for e in emails}


def test_wrong_password_pauses_the_send_harms_nobody_and_resume_finishes_once(
    app, runner, run_worker, postfix_factory, sample_text
):
    """535 at AUTH is the relay's (our) problem: the send pauses with Postfix's answer;
    once the password is right, `send resume` delivers each reader exactly once."""
    from tests.conftest import kill_worker

    rig = postfix_factory(sender_login=False)  # the password alone is wrong here
    env = configure(app, rig, SMTP_PASSWORD="not-the-password", SMTP_ENVELOPE="verp")
    approve_for_tests(import_issue(db.session, sample_text)[0])
    emails = readers(10, "pw")
    send_id = start_send(runner, "members")
    first = run_worker("--sweep-interval", "0.5", burst=False, env=env)
    wait_until(lambda: send_row(send_id).status == SendStatus.PAUSED, 60, "the send paused")
    send = send_row(send_id)
    assert "535" in send.paused_detail and "5.7.8" in send.paused_detail, send.paused_detail
    kill_worker(first)
    _nothing_harmed(send_id, 10, rig, emails)
    assert rig.log_count("SASL PLAIN authentication failed") >= 1

    env = configure(app, rig, SMTP_ENVELOPE="verp")  # the right password
    _resume_and_finish_once(runner, run_worker, env, send_id, rig, emails)


def test_refused_envelope_sender_pauses_the_send_and_harms_nobody(
    app, runner, run_worker, postfix, sample_text
):
    """The strict relay refuses our VERP envelope sender at MAIL FROM (`553 5.7.1 … not
    owned by user weekly`, as hosted relays do): the send pauses with that answer, nobody
    is failed or suppressed, no attempt is spent; resuming without fixing the setting
    pauses it again, still harming nobody."""
    rig = postfix
    env = configure(app, rig, SMTP_ENVELOPE="verp")
    approve_for_tests(import_issue(db.session, sample_text)[0])
    emails = readers(10, "verp")
    send_id = start_send(runner, "members")
    run_worker("--sweep-interval", "0.5", burst=False, env=env)
    wait_until(lambda: send_row(send_id).status == SendStatus.PAUSED, 60, "the send paused")
    send = send_row(send_id)
    assert "553" in send.paused_detail and "not owned by user" in send.paused_detail
    assert send.resume_at is None  # a refusal: a person must change a setting
    _nothing_harmed(send_id, 10, rig, emails)
    assert rig.log_count("Sender address rejected: not owned by user weekly") >= 1

    pauses = send.pauses
    result = runner.invoke(args=["send", "resume", str(send_id)])
    assert result.exit_code == 0, result.output
    wait_until(
        lambda: send_row(send_id).pauses > pauses and send_row(send_id).status == SendStatus.PAUSED,
        60,
        "paused again",
    )
    _nothing_harmed(send_id, 10, rig, emails)


def test_rate_limited_postfix_batch_with_a_short_lease_sends_each_reader_once(
    app, runner, run_worker, postfix_factory, sample_text
):
    """Postfix allows 6 messages per 3 s from us (anvil; then `450 4.7.1 Error: too much
    mail`); 24 readers in one batch take far longer than the 3 s lease, two workers and a
    sweep every 0.5 s run beside it. Each reader gets exactly one copy."""
    rig = postfix_factory(fresh=True, rate_limit=(6, 3), sender_login=False)
    env = configure(app, rig, SMTP_ENVELOPE="verp")
    app.config.update(
        LEASE_SECONDS=3,
        BATCH_SIZE=200,
        RETRY_BASE_SECONDS=0.5,
        RETRY_MAX_SECONDS=2,
        RATE_PER_SECOND=4,
    )
    env.update(
        LEASE_SECONDS="3",
        BATCH_SIZE="200",
        RETRY_BASE_SECONDS="0.5",
        RETRY_MAX_SECONDS="2",
        RATE_PER_SECOND="4",
    )
    approve_for_tests(import_issue(db.session, sample_text)[0])
    emails = readers(24, "rate")
    send_id = start_send(runner, "members")
    for _ in range(2):
        run_worker("--sweep-interval", "0.5", burst=False, env=env)
    wait_until(lambda: all_final(send_id), 180, "every delivery final")
    assert state_counts(send_id) == {DeliveryState.SENT: 24}
    rig.wait_for(rig.queue_empty, what="Postfix's queue to drain")
    assert (
        rig.log_count("too much mail from 127.0.0.1")
        + rig.log_count("Message delivery request rate limit exceeded")
        >= 1
    )  # the limit did bite
    assert landed(rig, emails) == {e: 1 for e in emails}
    assert rig.sent_count() == 24


def test_unknown_users_refused_at_rcpt_are_suppressed_with_their_send_and_the_wave_lifts(
    app, runner, run_jobs, postfix_factory, sample_text
):
    """Postfix refuses unknown users at RCPT (`550 5.1.1 … User unknown in virtual mailbox
    table`): exactly those deliveries fail and their addresses are suppressed, each row
    naming the send and delivery; `suppressions lift --send N` undoes the wave."""
    rig = postfix_factory(sender_login=False)
    configure(app, rig, SMTP_ENVELOPE="verp")
    approve_for_tests(import_issue(db.session, sample_text)[0])
    known = readers(4, "rcpt")
    gone = bulk_subscribers(
        2, "members", prefix=f"{UNKNOWN_PREFIXES[0]}-{uuid.uuid4().hex[:6]}-", domain=DOMAIN
    )
    send_id = start_send(runner, "members")
    run_jobs()
    wait_until(lambda: all_final(send_id), 90, "every delivery final")
    states = dict(
        db.session.execute(
            select(Delivery.email, Delivery.state).where(Delivery.send_id == send_id)
        ).all()
    )
    assert {e for e, s in states.items() if s == DeliveryState.FAILED} == set(gone)
    assert {e for e, s in states.items() if s == DeliveryState.SENT} == set(known)
    rig.wait_for(lambda: all(landed(rig, known).values()), what="the known readers' mail")
    assert landed(rig, known) == {e: 1 for e in known}
    assert [e for e in known + gone if suppressed(e)] == gone
    ids = dict(
        db.session.execute(
            select(Delivery.email, Delivery.id).where(Delivery.send_id == send_id)
        ).all()
    )
    rows = {r.delivery_id: r for r in db.session.scalars(select(Suppression))}
    assert set(rows) == {ids[e] for e in gone}
    assert {(r.reason, r.verdict, r.send_id, r.previous_status) for r in rows.values()} == {
        ("bounced", "hard_bounce", send_id, "active")
    }

    preview = runner.invoke(args=["suppressions", "lift", "--send", str(send_id), "--dry-run"])
    assert "would lift 2 suppression(s) and restore 2 subscriber(s)" in preview.output
    done = runner.invoke(
        args=["suppressions", "lift", "--send", str(send_id), "--cause", "bounced"]
    )
    assert done.exit_code == 0 and "lifted 2" in done.output, done.output
    db.session.expire_all()
    assert not any(suppressed(e) for e in gone)
    assert set(
        db.session.scalars(select(Subscriber.status).where(Subscriber.email.in_(known + gone)))
    ) == {SubscriberStatus.ACTIVE}


def test_refused_envelope_sender_resumes_with_a_fixed_envelope_exactly_once(
    app, runner, run_worker, postfix, sample_text
):
    """After the 553 pause, SMTP_ENVELOPE=fixed (the login's own address) and `send resume`
    deliver each reader exactly once through the same strict relay."""
    from tests.conftest import kill_worker

    rig = postfix
    env = configure(app, rig, SMTP_ENVELOPE="verp")
    approve_for_tests(import_issue(db.session, sample_text)[0])
    emails = readers(10, "fixed")
    send_id = start_send(runner, "members")
    first = run_worker("--sweep-interval", "0.5", burst=False, env=env)
    wait_until(lambda: send_row(send_id).status == SendStatus.PAUSED, 60, "the send paused")
    kill_worker(first)
    _nothing_harmed(send_id, 10, rig, emails)
    env = configure(app, rig, SMTP_ENVELOPE="fixed")
    _resume_and_finish_once(runner, run_worker, env, send_id, rig, emails)
