"""The spine, end to end: import the sample, subscribe readers across groups, send through
a real RQ worker on the real Redis to a real SMTP server, and check what arrived."""

from __future__ import annotations

import email
import json
from email import policy

from sqlalchemy import select

from newsletter.bulletin.service import import_issue
from newsletter.delivery.models import Delivery, DeliveryEvent, DeliveryState, Send, SendStatus
from newsletter.extensions import db
from subscribers.models import Group, Membership, Subscriber, SubscriberStatus
from tests.conftest import approve_for_tests

READERS = {
    # email: (name, groups)
    "leader@example.org": ("张会长", ["leadership"]),
    "Both@Example.org": ("李副会长", ["leadership", "members"]),
    "media@example.com": ("王编辑", ["media", "members"]),
    "uni@example.edu": ("孙教授", ["universities"]),
}


def add_readers(readers=READERS, status=SubscriberStatus.ACTIVE):
    groups = {g.code: g for g in db.session.scalars(select(Group))}
    for address, (name, codes) in readers.items():
        sub = Subscriber(email=address.lower(), name=name, status=status)
        sub.memberships = [Membership(group=groups[c]) for c in codes]
        db.session.add(sub)
    db.session.commit()


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)


def test_sample_goes_out_once_per_reader_with_the_right_edition(
    app, runner, smtp, run_worker, sample_text
):
    approve_for_tests(import_issue(db.session, sample_text)[0])  # 责编/复核 before a send
    add_readers()
    add_readers({"pending@example.org": ("待确认", ["media"])}, status=SubscriberStatus.PENDING)

    result = runner.invoke(args=["send", "396"])
    assert result.exit_code == 0, result.output
    worker = run_worker()
    assert worker.wait(timeout=120) == 0, worker.stdout.read().decode()

    # One email per active subscriber, none for the pending one, none twice.
    rcpts = sorted(r for m in smtp.received for r in m.rcpt_tos)
    assert rcpts == sorted(a.lower() for a in READERS)
    by_rcpt = {m.rcpt_tos[0]: parse(m.data) for m in smtp.received}

    leader = by_rcpt["both@example.org"]  # in 报 and 发: one email, the priority edition
    regular = by_rcpt["uni@example.edu"]
    assert "领导版" in leader["Subject"] or "优先" in leader["Subject"]
    assert "第396期" in regular["Subject"].replace(" ", "")
    assert leader["Subject"] != regular["Subject"]

    for address, msg in by_rcpt.items():
        assert msg.get_content_type() == "multipart/alternative"
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        assert "全国宣传部长会议在京召开" in text and "全国宣传部长会议在京召开" in html
        assert "{{" not in html and "{{" not in text  # every placeholder filled
        assert msg["Message-ID"] and msg["Date"] and msg["List-Id"]
        assert "/unsubscribe/" in msg["List-Unsubscribe"]
        assert address in msg["To"]

    deliveries = db.session.scalars(select(Delivery)).all()
    assert len(deliveries) == 4
    received_ids = {parse(m.data)["Message-ID"] for m in smtp.received}
    for d in deliveries:
        assert d.state == DeliveryState.SENT
        assert d.attempts == 1 and d.sent_at is not None and d.smtp_response.startswith("250")
        assert d.message_id in received_ids
    assert {d.edition for d in deliveries if d.email.startswith(("leader", "both"))} == {"priority"}
    assert db.session.scalar(select(Send)).status == SendStatus.DONE
    kinds = db.session.scalars(select(DeliveryEvent.kind)).all()
    assert sorted(kinds) == ["sent"] * 4

    # The envelope sender is a VERP address naming the delivery.
    for m in smtp.received:
        assert m.mail_from.startswith("weekly+b") and m.mail_from.endswith("@news.example.org")


def test_send_wait_blocks_until_final_and_prints_counts(app, runner, smtp, run_worker, sample_text):
    approve_for_tests(import_issue(db.session, sample_text)[0])  # 责编/复核 before a send
    add_readers()
    run_worker(burst=False)  # a long-running worker, as in production
    result = runner.invoke(
        args=[
            "send",
            "396",
            "--group",
            "media",
            "--group",
            "universities",
            "--wait",
            "--timeout",
            "60",
        ]
    )
    assert result.exit_code == 0, result.output
    counts = json.loads(result.output.strip().splitlines()[-1])
    assert counts == {"sent": 2}
    assert sorted(r for m in smtp.received for r in m.rcpt_tos) == [
        "media@example.com",
        "uni@example.edu",
    ]


def test_send_of_unknown_issue_or_group_is_a_clear_error(app, runner, sample_text):
    result = runner.invoke(args=["send", "999"])
    assert result.exit_code == 2 and "没有第 999 期" in result.output
    approve_for_tests(import_issue(db.session, sample_text)[0])  # 责编/复核 before a send
    result = runner.invoke(args=["send", "396", "--group", "nosuch"])
    assert result.exit_code == 2 and "nosuch" in result.output
    assert db.session.scalar(select(Send)) is None
