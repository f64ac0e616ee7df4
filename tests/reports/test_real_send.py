"""A real send (CLI + RQ worker + SMTP on loopback), then a real bounce to its VERP
envelope sender and real pixel hits: the report shows what happened."""

from __future__ import annotations

import smtplib

from sqlalchemy import select

from newsletter.bulletin.service import import_issue
from newsletter.delivery.models import Delivery, Send
from newsletter.devsmtp import SinkServer
from newsletter.extensions import db
from newsletter.reports import sendreport
from newsletter.tracking import signing
from newsletter.tracking.inbound import BounceHandler
from newsletter.tracking.jobs import flush_job
from newsletter.tracking.links import open_pixel_url
from tests.conftest import approve_for_tests
from tests.delivery.test_send_end_to_end import READERS, add_readers
from tests.tracking.conftest import sample

UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"


def test_bounce_to_the_real_verp_sender_and_opens_show_in_the_report(
    app, runner, smtp, run_jobs, client, sample_text, staff_client
):
    approve_for_tests(import_issue(db.session, sample_text)[0])  # 责编/复核 before a send
    add_readers()
    assert runner.invoke(args=["send", "396"]).exit_code == 0
    run_jobs()
    assert len(smtp.received) == len(READERS)

    send = db.session.scalar(select(Send))
    by_email = {d.email: d for d in db.session.scalars(select(Delivery))}
    # the envelope sender the pipeline used is a VERP address our parser accepts
    bounced = smtp.received[0]
    delivery_id = signing.read_verp(app.config["SECRET_KEY"], bounced.mail_from)
    target = db.session.get(Delivery, delivery_id)
    assert target.email == bounced.rcpt_tos[0]

    inbound = SinkServer(handler=BounceHandler(app)).start()
    try:
        with smtplib.SMTP(inbound.host, inbound.port, timeout=10) as c:
            c.sendmail(
                "",
                [bounced.mail_from],
                sample(
                    "dsn-hard-multipart.eml",
                    verp=bounced.mail_from,
                    email=target.email,
                    msgid=target.message_id,
                ),
            )
    finally:
        inbound.stop()
    assert [r.outcome for r in inbound.handler.results] == ["hard"]

    readers = [e for e in by_email if e != target.email][:2]
    for email in readers:
        url = open_pixel_url(app.config, send.id, by_email[email].id)
        assert (
            client.get(
                url.replace(app.config["BASE_URL"], ""), headers={"User-Agent": UA}
            ).status_code
            == 200
        )
    assert flush_job()["written"] == 2

    db.session.expire_all()
    totals = sendreport.send_totals(db.session, send.id)
    assert (totals.total, totals.delivered, totals.bounced, totals.unique_opens) == (4, 3, 1, 2)
    assert totals.open_rate == round(100 * 2 / 3, 1)
    page = staff_client("sender").get(f"/reports/sends/{send.id}").get_data(as_text=True)
    # a sender sees why and where (the domain), not who: addresses are for editors
    assert "hard 5.1.1" in page and target.email not in page
    assert "***@" + target.email.split("@")[1] in page
    page = staff_client("editor").get(f"/reports/sends/{send.id}").get_data(as_text=True)
    assert "hard 5.1.1" in page and target.email in page
