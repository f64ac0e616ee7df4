"""The next message built while the server reads this one (newsletter/delivery/lookahead.py):
in process, a fake transport that runs `while_waiting` where SmtpTransport does, and the real
SmtpTransport against a real SMTP server on loopback."""

from __future__ import annotations

import functools

import pytest
from sqlalchemy import update

from newsletter.delivery import lookahead
from newsletter.delivery.batch import deliver_batch
from newsletter.delivery.models import Delivery, DeliveryState
from newsletter.delivery.transport import SmtpSettings, SmtpTransport
from newsletter.extensions import db
from tests.delivery.fakes import FakeClock, FakeTransport, ids, make_send, rows, senders


class Watched(FakeTransport):
    """A FakeTransport that notes which builds ran while it waited for an answer."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.waiting = False

    def send(self, mail_from, rcpt, message, while_waiting=None):
        def wait():
            self.waiting = True
            try:
                while_waiting()
            finally:
                self.waiting = False

        return super().send(mail_from, rcpt, message, wait if while_waiting else None)


@pytest.fixture
def builds(monkeypatch):
    """(delivery id, built while a transport waited?) for every build, in order."""
    seen: list[tuple[int, bool]] = []
    real = lookahead.prepare
    transport: list[Watched] = []

    def counting(session, settings, senders_, delivery):
        seen.append((delivery.id, bool(transport) and transport[0].waiting))
        return real(session, settings, senders_, delivery)

    monkeypatch.setattr(lookahead, "prepare", counting)
    monkeypatch.setattr("newsletter.delivery.outcomes.prepare", counting)
    return seen, transport


def test_each_message_after_the_first_is_built_while_the_one_before_is_answered(app, builds):
    seen, watched = builds
    send_id, settings = make_send(6)
    transport = Watched()
    watched.append(transport)
    result = deliver_batch(
        db.session, settings, senders(transport, FakeClock()), send_id, ids(send_id)
    )
    assert result.sent == 6
    got = rows(send_id)
    # Once each, in order; only the first was built with nothing in flight.
    assert [d for d, _ in seen] == [d.id for d in got]
    assert [w for _, w in seen] == [False] + [True] * 5
    # And each reader got the message built for them.
    assert transport.accepted == [(d.email, d.message_id) for d in got]


def test_a_message_that_cannot_be_built_fails_alone_not_the_one_being_answered(app, builds):
    send_id, settings = make_send(4)
    third = rows(send_id)[2]
    db.session.execute(
        update(Delivery)
        .where(Delivery.id == third.id)
        .values(name="Mallory\r\nBcc: all@example.org")
    )
    db.session.commit()
    transport = Watched()
    builds[1].append(transport)
    result = deliver_batch(
        db.session, settings, senders(transport, FakeClock()), send_id, ids(send_id)
    )
    assert (result.sent, result.failed) == (3, 1)
    got = {d.id: d for d in rows(send_id)}
    assert got[third.id].state == DeliveryState.FAILED
    assert "message not built" in got[third.id].last_error
    assert [rcpt for rcpt, _ in transport.accepted] == [
        d.email for d in rows(send_id) if d.id != third.id
    ]


def test_a_failure_while_building_ahead_is_raised_at_that_delivery(app, builds, monkeypatch):
    """Something else going wrong while building the next one (the database, say) does not
    end the message being answered: it is recorded sent, then the batch stops there."""
    send_id, settings = make_send(4)
    second = rows(send_id)[1]
    real = lookahead.prepare

    def broken(session, settings_, senders_, delivery):
        if delivery.id == second.id:
            raise RuntimeError("the database went away")
        return real(session, settings_, senders_, delivery)

    monkeypatch.setattr(lookahead, "prepare", broken)
    transport = Watched()
    with pytest.raises(RuntimeError, match="went away"):
        deliver_batch(db.session, settings, senders(transport, FakeClock()), send_id, ids(send_id))
    db.session.rollback()
    got = rows(send_id)
    assert got[0].state == DeliveryState.SENT  # answered while the second failed to build
    assert [rcpt for rcpt, _ in transport.accepted] == [got[0].email]
    assert all(d.state != DeliveryState.SENT for d in got[1:])


def test_smtp_transport_runs_while_waiting_after_writing_and_before_the_answer(smtp):
    calls = []
    with SmtpTransport(SmtpSettings("127.0.0.1", smtp.port)) as transport:
        for n in range(3):
            message = (
                f"From: a@example.org\r\nTo: b@example.org\r\nSubject: {n}\r\n\r\nbody {n}\r\n"
            ).encode()
            answer = transport.send(
                "a@example.org",
                "b@example.org",
                message,
                while_waiting=functools.partial(calls.append, n),
            )
            assert answer.startswith("250")
    assert calls == [0, 1, 2]
    assert len(smtp.received) == 3
