"""In-process stand-ins for the pipeline's two outside parts: SMTP and time.

Only for logic tests of batch.py (leases, breaker, window, in-doubt, priority grace); the
tests of faults, crashes and ordering use real workers, real Redis and real SMTP servers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from newsletter.bulletin.service import import_issue
from newsletter.delivery import pipeline
from newsletter.delivery.classify import Stage
from newsletter.delivery.models import Delivery
from newsletter.delivery.senders import Senders
from newsletter.delivery.transport import SmtpFailure
from newsletter.extensions import db
from newsletter.timeutil import utcnow
from tests.conftest import approve_for_tests
from tests.delivery.support import bulk_subscribers


class FakeClock:
    def __init__(self, start: dt.datetime | None = None):
        self.t = start or utcnow()

    def now(self) -> dt.datetime:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += dt.timedelta(seconds=seconds)


class Killed(BaseException):
    """The worker died here (nothing in the pipeline catches a BaseException)."""


def mortal(session: Session) -> Callable[[], None]:
    """Make `session` a worker process's: after the returned `die()` it runs nothing more
    (every statement, flush and commit raises Killed), as after a SIGKILL; whatever it
    had not committed is lost when it is closed. Without it a Killed raised in process
    still lets the batch's `finally` write its pending marks, as a Python exception would."""
    dead: list[bool] = []

    def refuse(*args, **kwargs) -> None:
        if dead:
            raise Killed()

    for name in ("do_orm_execute", "before_flush", "before_commit"):
        event.listen(session, name, refuse)
    return lambda: dead.append(True)


_MSGID = re.compile(rb"^Message-ID:\s*(<[^>]+>)", re.MULTILINE | re.IGNORECASE)


class FakeTransport:
    """Answers by a script: `answer(n, rcpt)` returns an SMTP answer string to accept, or
    raises (SmtpFailure, Killed). `before(n, rcpt)` runs first (to move the clock, run a
    sweep...). Records every accepted (rcpt, Message-ID)."""

    def __init__(self, answer: Callable | None = None, before: Callable | None = None):
        self.answer = answer or (lambda n, rcpt: f"250 2.0.0 Ok: queued as Q{n}")
        self.before = before
        self.calls = 0
        self.accepted: list[tuple[str, str]] = []

    def send(self, mail_from: str, rcpt: str, message: bytes) -> str:
        self.calls += 1
        if self.before is not None:
            self.before(self.calls, rcpt)
        answer = self.answer(self.calls, rcpt)
        self.accepted.append((rcpt, _MSGID.search(message).group(1).decode()))
        return answer

    def close(self) -> None:
        pass


def refuse(stage: Stage, code: int | None, text: str, cause: BaseException | None = None):
    raise SmtpFailure(stage, code, text, cause)


def make_send(count: int = 20, leaders: int = 0, group: str = "members", **settings):
    """A sent-ready send of the sample issue to `count` readers; (send id, settings)."""
    from flask import current_app

    from tests.conftest import SAMPLE

    approve_for_tests(import_issue(db.session, SAMPLE.read_bytes())[0])
    if leaders:
        bulk_subscribers(leaders, "leadership", prefix="leader")
    bulk_subscribers(count, group)
    base = pipeline.PipelineSettings.from_config(current_app.config)
    s = dataclasses.replace(base, **settings)
    groups = [group] + (["leadership"] if leaders else [])
    return new_send(s, groups), s


def new_send(settings, groups: list[str]) -> int:
    """A queued send of issue 396 with its deliveries written, nothing enqueued."""
    from newsletter.bulletin.models import Issue
    from newsletter.delivery.models import Send, SendStatus
    from newsletter.sends import writer

    issue = db.session.scalar(select(Issue).where(Issue.number == 396))
    send = Send(issue_id=issue.id, group_codes=groups, status=SendStatus.QUEUED, created_by="test")
    db.session.add(send)
    db.session.flush()
    writer.populate(db.session, settings, send, issue, skip_received=False)
    db.session.commit()
    return send.id


def senders(transport, clock, **kw) -> Senders:
    return Senders(transport=transport, clock=clock, streaks={}, **kw)


def rows(send_id: int) -> list[Delivery]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(Delivery).where(Delivery.send_id == send_id).order_by(Delivery.id)
        )
    )


def ids(send_id: int, edition: str | None = None) -> list[int]:
    return [d.id for d in rows(send_id) if edition is None or d.edition == edition]
