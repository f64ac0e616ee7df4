"""lookups.send_check, the one query a regular batch runs every CHECK_EVERY messages: the
send's status and whether priority deliveries wait, anywhere (not only in its own send),
the same answers as send_status and priority_waiting asked one by one.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from newsletter.delivery import lookups
from newsletter.delivery.models import Delivery, DeliveryState, Send, SendStatus
from newsletter.extensions import db
from tests.delivery.fakes import make_send, new_send
from tests.delivery.support import bulk_subscribers

GRACE = dt.timedelta(minutes=10)


def _check(send_id: int, now: dt.datetime, in_doubt_ready: bool = True) -> tuple[str | None, bool]:
    got = lookups.send_check(db.session, send_id, now, GRACE, in_doubt_ready)
    one_by_one = (
        lookups.send_status(db.session, send_id),
        lookups.priority_waiting(db.session, now, GRACE, in_doubt_ready),
    )
    assert got == one_by_one
    db.session.rollback()
    return got


def _set(send_id: int, **values) -> None:
    db.session.execute(update(Delivery).where(Delivery.send_id == send_id).values(**values))
    db.session.commit()


def test_send_check_sees_the_status_and_priority_deliveries_of_any_running_send(app):
    regular, settings = make_send(3)
    db.session.execute(update(Send).where(Send.id == regular).values(status=SendStatus.SENDING))
    db.session.commit()
    now = dt.datetime(2026, 12, 1, 12, 0)
    assert _check(regular, now) == (SendStatus.SENDING, False)

    # Another send's priority deliveries, queued: the regular one gives way to them.
    bulk_subscribers(2, "leadership", prefix="leader")
    other = new_send(settings, ["leadership"])
    assert _check(regular, now) == (SendStatus.SENDING, True)

    # Deferred: they count until the grace after their first failure, then no longer.
    _set(other, state=DeliveryState.DEFERRED, first_failed_at=now - dt.timedelta(minutes=5))
    assert _check(regular, now) == (SendStatus.SENDING, True)
    _set(other, first_failed_at=now - dt.timedelta(minutes=11))
    assert _check(regular, now) == (SendStatus.SENDING, False)

    # In doubt: waiting only where the policy resends them.
    _set(other, state=DeliveryState.IN_DOUBT)
    assert _check(regular, now) == (SendStatus.SENDING, True)
    assert _check(regular, now, in_doubt_ready=False) == (SendStatus.SENDING, False)

    # A paused send's priority deliveries do not hold the regular edition back.
    db.session.execute(update(Send).where(Send.id == other).values(status=SendStatus.PAUSED))
    db.session.commit()
    assert _check(regular, now) == (SendStatus.SENDING, False)

    # The batch's own send paused, or gone: the status says so.
    db.session.execute(update(Send).where(Send.id == regular).values(status=SendStatus.PAUSED))
    db.session.commit()
    assert _check(regular, now) == (SendStatus.PAUSED, False)
    assert _check(10_000, now)[0] is None
