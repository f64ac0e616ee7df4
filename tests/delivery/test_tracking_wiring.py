"""The pipeline puts a signed open pixel and signed click links in every tracked message,
and none for a reader who opted out; following them records events for the delivery."""

from __future__ import annotations

import email
import re
from email import policy

from sqlalchemy import select

from newsletter.bulletin.service import import_issue
from newsletter.delivery.models import Delivery, DeliveryEvent
from newsletter.extensions import db
from newsletter.tracking.jobs import flush_job
from subscribers.models import Subscriber
from tests.conftest import approve_for_tests
from tests.delivery.test_send_end_to_end import add_readers


def html_of(received) -> str:
    msg = email.message_from_bytes(received.data, policy=policy.default)
    return msg.get_body(("html",)).get_content()


def test_tracked_and_untracked_readers(app, client, runner, smtp, run_jobs, sample_text):
    approve_for_tests(import_issue(db.session, sample_text)[0])  # 责编/复核 before a send
    add_readers(
        {"tracked@example.org": ("甲", ["media"]), "private@example.org": ("乙", ["media"])}
    )
    private = db.session.scalar(select(Subscriber).where(Subscriber.email == "private@example.org"))
    private.tracking_opt_out = True
    db.session.commit()
    assert runner.invoke(args=["send", "396", "--group", "media"]).exit_code == 0
    run_jobs()
    html = {m.rcpt_tos[0]: html_of(m) for m in smtp.received}

    tracked = html["tracked@example.org"]
    pixel = re.search(r'src="http://newsletter.test(/t/o/[^"]+\.gif)"', tracked).group(1)
    clicks = re.findall(r'href="http://newsletter.test(/t/c/[^"]+)"', tracked)
    assert clicks, "article links are rewritten to signed redirects"
    assert "/t/o/" not in html["private@example.org"]
    assert "/t/c/" not in html["private@example.org"]
    assert re.search(r'href="http://newsletter.test/t/r/[^"]+"', html["private@example.org"])

    ua = {"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120 Safari/537.36"}
    assert client.get(pixel, headers=ua).status_code == 200
    response = client.get(clicks[0], headers=ua)
    assert response.status_code == 302 and response.headers["Location"].startswith("http")
    flush_job()

    delivery = db.session.scalar(select(Delivery).where(Delivery.email == "tracked@example.org"))
    kinds = db.session.scalars(
        select(DeliveryEvent.kind).where(DeliveryEvent.delivery_id == delivery.id)
    ).all()
    assert "opened" in kinds and "clicked" in kinds
    other = db.session.scalar(select(Delivery).where(Delivery.email == "private@example.org"))
    assert db.session.scalars(
        select(DeliveryEvent.kind).where(DeliveryEvent.delivery_id == other.id)
    ).all() == ["sent"]
