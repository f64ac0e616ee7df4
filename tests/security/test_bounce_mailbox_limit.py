"""The bounce mailbox is an intake edge too: a message over BOUNCE_MAX_BYTES is filed away
unparsed (flagged, left for a person), the others are read as usual (a real Dovecot)."""

from __future__ import annotations

from newsletter.extensions import db
from newsletter.tracking.mailbox import poll
from tests.tracking.test_mailbox import BOX, _settings, _tracking, dovecot, mailbox  # noqa: F401


def test_an_oversized_message_in_the_mailbox_is_not_parsed(app, mailbox):  # noqa: F811
    big = (
        b"From: MAILER-DAEMON@example.org\r\nTo: "
        + BOX.encode()
        + b"\r\nSubject: Undelivered\r\n\r\n"
        + (b"x" * 998 + b"\r\n") * 3000
    )
    mailbox.deliver(BOX, big)
    mailbox.deliver(
        BOX,
        b"From: someone@example.net\r\nTo: "
        + BOX.encode()
        + b"\r\nSubject: hello\r\n\r\njust a note\r\n",
    )
    counts = poll(db.session, _settings(app, mailbox, "imaps"), _tracking(app))
    assert counts["too_large"] == 1 and sum(counts.values()) == 2
