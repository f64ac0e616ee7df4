"""The reader's whole journey in headless Chromium, against the real queue, worker, SMTP
server and send pipeline: subscribe, confirm from the mail, choose sections, receive an
issue with only those, unsubscribe in one click like a mail client, miss the next send.
Screenshots of every public page at 375 and 800 px go to test-artifacts/."""

from __future__ import annotations

import urllib.request

import pytest
from sqlalchemy import select

from newsletter.bulletin.service import import_issue
from newsletter.extensions import db
from subscribers.models import Subscriber, SubscriberStatus
from tests.conftest import approve_for_tests
from tests.subscribers.conftest import links_in, mail_text, parse_mail

BASE = "http://newsletter.test"
WIDTHS = (375, 800)
ADDRESS = "journey@example.org"


def drain(run_worker):
    worker = run_worker()
    assert worker.wait(timeout=180) == 0, worker.stdout.read().decode()


def shoot(page, screenshot_dir, name):
    """Screenshot the current page at both widths; the page must not scroll sideways."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate("document.documentElement.scrollWidth") <= width, name
        page.screenshot(
            path=str(screenshot_dir / f"subscribers-{name}-{width}.png"), full_page=True
        )
    page.set_viewport_size({"width": 800, "height": 900})


def mails_to(smtp, address):
    return [m for m in smtp.received if address in m.rcpt_tos]


@pytest.mark.browser
def test_reader_journey(
    live_server, browser, screenshot_dir, smtp, run_worker, runner, sample_text, make_subscriber
):
    approve_for_tests(import_issue(db.session, sample_text)[0])  # 责编/复核 before a send
    make_subscriber("colleague@example.org", groups=("media",))  # gets every send
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()

    # 1. Subscribe.
    page.goto(f"{live_server}/subscribe")
    shoot(page, screenshot_dir, "subscribe")
    page.fill("input[name=email]", ADDRESS)
    page.fill("input[name=name]", "旅程测试")
    page.fill("input[name=organisation]", "某某日报")
    page.check("input[name=groups][value=media]")
    page.click("button[type=submit]")
    page.wait_for_url("**/subscribe/sent")
    assert "请查收邮件" in page.inner_text("h1")
    shoot(page, screenshot_dir, "check-inbox")

    # 2. The confirmation arrives at the SMTP server; open its link and confirm.
    drain(run_worker)
    (confirm,) = links_in(mail_text(mails_to(smtp, ADDRESS)[0].data))
    page.goto(live_server + confirm)
    shoot(page, screenshot_dir, "confirm")
    page.click("button[type=submit]")
    page.wait_for_selector("text=订阅成功")
    shoot(page, screenshot_dir, "confirmed")

    # 3. Preferences: only 要闻 and 技术.
    page.click("text=设置接收偏好")
    page.wait_for_url("**/preferences/**")
    for box in page.query_selector_all("input[name=sections]"):
        if box.get_attribute("value") not in ("要闻", "技术"):
            box.uncheck()
    shoot(page, screenshot_dir, "preferences")
    page.click("main form button[type=submit]")
    page.wait_for_selector("text=已保存")
    db.session.expire_all()
    sub = db.session.scalar(select(Subscriber).where(Subscriber.email == ADDRESS))
    assert sub.status == SubscriberStatus.ACTIVE and sub.sections == ["要闻", "技术"]

    # 4. A send of the sample issue carries only the chosen sections (plus the 摘要).
    smtp.received.clear()
    result = runner.invoke(args=["send", "396", "--group", "media"])
    assert result.exit_code == 0, result.output
    drain(run_worker)
    (issue_mail,) = mails_to(smtp, ADDRESS)
    message = parse_mail(issue_mail.data)
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    for body in (html, text):
        assert "全国宣传部长会议在京召开" in body  # 要闻
        assert "阿里云通义千问 APP 上线免费功能" in body  # 技术
        assert "百度关联方 Moon 终止收购 YY 直播" not in body  # 资本: not chosen
        assert "12 月 67 部重点网络影视剧完成信息备案" not in body  # 内容: not chosen
    colleague = parse_mail(mails_to(smtp, "colleague@example.org")[0].data)
    assert "百度关联方 Moon 终止收购 YY 直播" in colleague.get_body(("plain",)).get_content()

    # 5. One-click unsubscribe, as a mail client does it (RFC 8058): a bare POST.
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https_url = next(
        u.strip(" <>") for u in message["List-Unsubscribe"].split(",") if "/unsubscribe/" in u
    )
    request = urllib.request.Request(
        https_url.replace(BASE, live_server),
        data=b"List-Unsubscribe=One-Click",
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    db.session.expire_all()
    assert (
        db.session.scalar(select(Subscriber.status).where(Subscriber.email == ADDRESS))
        == SubscriberStatus.UNSUBSCRIBED
    )

    # 6. The next send skips the address. Issue 396 cannot go again to readers who have it,
    # so the follow-up for readers who have not received it yet (a newcomer) is the next send.
    make_subscriber("newcomer@example.org", groups=("media",))
    smtp.received.clear()
    assert runner.invoke(args=["send", "396", "--group", "media"]).exit_code == 2  # refused
    assert runner.invoke(args=["send", "396", "--group", "media", "--only-new"]).exit_code == 0
    drain(run_worker)
    assert mails_to(smtp, ADDRESS) == []
    assert mails_to(smtp, "colleague@example.org") == []  # has it already
    assert len(mails_to(smtp, "newcomer@example.org")) == 1
    context.close()


@pytest.mark.browser
def test_public_pages_look_right_at_both_widths(
    live_server, browser, screenshot_dir, make_subscriber, link
):
    """The pages the journey does not pass through: unsubscribe confirmation, a bad link,
    the English subscribe page, a form error."""
    sub = make_subscriber("look@example.org", groups=("media", "tech", "research"))
    context = browser.new_context()
    page = context.new_page()
    page.goto(live_server + link("unsubscribe", sub.id))
    assert page.locator("input[name=keep]").count() == 3
    shoot(page, screenshot_dir, "unsubscribe")
    page.check("input[name=keep][value=tech]")
    page.click("button[type=submit]")
    page.wait_for_selector("text=只保留")
    shoot(page, screenshot_dir, "unsubscribed-partial")

    page.goto(f"{live_server}/preferences/not-a-real-token")
    assert "链接不可用" in page.inner_text("h1")
    shoot(page, screenshot_dir, "bad-link")

    page.goto(f"{live_server}/subscribe?lang=en")
    assert "Subscribe" in page.inner_text("h1")
    shoot(page, screenshot_dir, "subscribe-en")
    page.fill("input[name=email]", "not-an-address")
    page.click("button[type=submit]")
    page.wait_for_selector(".field-error")
    shoot(page, screenshot_dir, "subscribe-error-en")
    context.close()
