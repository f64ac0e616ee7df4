"""One-off emails (confirmations, fresh links) go through the queue to SMTP."""

from __future__ import annotations

import email
from email import policy

import pytest

from newsletter.delivery.jobs import enqueue_transactional
from newsletter.delivery.message import HeaderInjectionError


def test_transactional_mail_goes_through_the_worker(app, smtp, run_jobs):
    enqueue_transactional(
        "reader@example.org",
        "请确认您的订阅",
        "请点击链接确认。",
        "<p>请点击链接确认。</p>",
        to_name="读者",
    )
    run_jobs()
    assert [m.rcpt_tos for m in smtp.received] == [["reader@example.org"]]
    msg = email.message_from_bytes(smtp.received[0].data, policy=policy.default)
    assert msg["Subject"] == "请确认您的订阅"
    assert msg.get_body(("plain",)).get_content().strip() == "请点击链接确认。"
    assert "List-Unsubscribe" not in msg


@pytest.mark.parametrize("field", ["to_email", "subject", "to_name"])
def test_header_injection_is_refused_before_queueing(app, field):
    args = {"to_email": "reader@example.org", "subject": "主题", "to_name": "读者"}
    args[field] += "\r\nBcc: victim@example.org"
    with pytest.raises(HeaderInjectionError):
        enqueue_transactional(args["to_email"], args["subject"], "正文", to_name=args["to_name"])
