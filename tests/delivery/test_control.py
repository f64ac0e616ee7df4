"""The send's pace (control.pace): the rate from the send's own start, a moving average over
the last minute, the ETA from the rate; and the words a refused step answers with."""

from __future__ import annotations

import datetime as dt

import pytest

from newsletter.delivery import control
from newsletter.delivery.models import Send, SendStatus

NOW = dt.datetime(2026, 12, 1, 9, 0, 0)


def send(status=SendStatus.SENDING, started=None, finished=None) -> Send:
    return Send(status=status, started_at=started, finished_at=finished)


def test_a_young_send_is_measured_from_its_own_start_not_over_a_full_minute():
    # 100 sent in the 25 s since it started, 50 left: the old "sent in the last 60 s / 60"
    # said 1.67/s and an ETA of 30 s; the send really goes at 4/s, done in ~12 s.
    pace = control.pace(
        send(started=NOW - dt.timedelta(seconds=25)), sent=100, recent=100, remaining=50, now=NOW
    )
    assert pace == {
        "elapsed_seconds": 25.0,
        "rate_per_second": 4.0,
        "recent_rate_per_second": 4.0,
        "eta_seconds": 12,
    }


def test_the_moving_average_sees_a_change_the_rate_since_start_smooths():
    # 10 minutes at 2/s overall, but 300 in the last minute (a rate limit lifted): 5/s now
    pace = control.pace(
        send(started=NOW - dt.timedelta(minutes=10)), sent=1200, recent=300, remaining=600, now=NOW
    )
    assert pace["rate_per_second"] == 2.0 and pace["recent_rate_per_second"] == 5.0
    assert pace["eta_seconds"] == 300


def test_a_finished_send_keeps_its_rate_and_says_how_long_it_took():
    pace = control.pace(
        send(SendStatus.DONE, NOW - dt.timedelta(seconds=30), NOW - dt.timedelta(seconds=5)),
        sent=100,
        recent=0,
        remaining=0,
        now=NOW,
    )
    assert pace == {
        "elapsed_seconds": 25.0,
        "rate_per_second": 4.0,
        "recent_rate_per_second": None,
        "eta_seconds": None,
    }


@pytest.mark.parametrize("status", [SendStatus.PAUSED, SendStatus.CANCELLED])
def test_no_eta_for_a_send_that_is_not_going(status):
    pace = control.pace(
        send(status, NOW - dt.timedelta(seconds=10)), sent=10, recent=10, remaining=10, now=NOW
    )
    assert pace["eta_seconds"] is None and pace["rate_per_second"] == 1.0


def test_nothing_to_measure_before_a_worker_starts():
    assert control.pace(send(SendStatus.QUEUED), sent=0, recent=0, remaining=10, now=NOW) == {
        "elapsed_seconds": None,
        "rate_per_second": None,
        "recent_rate_per_second": None,
        "eta_seconds": None,
    }


def test_a_refused_step_says_why_in_chinese(app):
    from newsletter.bulletin.models import Issue
    from newsletter.extensions import db
    from tests.delivery.test_send_end_to_end import add_readers  # noqa: F401

    issue = Issue(number=1, date=dt.date(2026, 12, 1), title="t", publisher="p")
    db.session.add(issue)
    db.session.flush()
    done = Send(issue_id=issue.id, status=SendStatus.DONE, group_codes=[])
    db.session.add(done)
    db.session.commit()
    with pytest.raises(control.StateConflict) as refused:
        control.pause_send(db.session, done.id)
    assert str(refused.value) == f"发送 #{done.id} 已完成，不能暂停。"
    with pytest.raises(control.SendError, match="没有发送 #999999"):
        control.resume_send(db.session, 999999)


def test_a_scheduled_send_has_one_name_on_its_page_and_in_a_refusal(app):
    """The scheduled state is 已排程 ("Scheduled") wherever it is named: the send page's
    label, the issue's workflow step, and the refusal of a step it does not allow."""
    from flask_babel import force_locale, gettext

    from newsletter.bulletin.models import Issue
    from newsletter.display import label
    from newsletter.extensions import db

    issue = Issue(number=1, date=dt.date(2026, 12, 1), title="t", publisher="p")
    db.session.add(issue)
    db.session.flush()
    at = dt.datetime(2030, 1, 1)
    waiting = Send(issue_id=issue.id, status=SendStatus.SCHEDULED, group_codes=[], scheduled_at=at)
    db.session.add(waiting)
    db.session.commit()
    with pytest.raises(control.StateConflict) as refused:
        control.pause_send(db.session, waiting.id)
    with app.test_request_context("/"):
        assert label("send", "scheduled") == label("workflow", "scheduled") == "已排程"
        assert str(refused.value) == f"发送 #{waiting.id} 已排程，不能暂停。"
        with force_locale("en"):
            english = refused.value.phrase.text(gettext)
            assert label("send", "scheduled") == label("workflow", "scheduled") == "Scheduled"
            assert english == f"Send #{waiting.id}: Scheduled, so it cannot be paused.", english
