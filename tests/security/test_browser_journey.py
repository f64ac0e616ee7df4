"""The whole journey in Chromium: an editor imports and edits the sample, a reviewer
approves it, a sender schedules it, the real worker sends it through the SMTP sink at the
scheduled minute, and the admin reads the audit log. Every page is shot at 1280 and 375 px
(test-artifacts/journey-*.png), and no page may trip its Content-Security-Policy."""

from __future__ import annotations

import datetime as dt
import email
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from newsletter.bulletin.models import Issue
from newsletter.delivery.models import Send, SendStatus
from newsletter.extensions import db
from newsletter.review import service as review
from newsletter.review.models import WorkflowState
from tests.conftest import SAMPLE
from tests.delivery.support import all_final, wait_until
from tests.delivery.test_send_end_to_end import READERS, add_readers
from tests.staff.conftest import PASSWORD

pytestmark = pytest.mark.browser
SHANGHAI = ZoneInfo("Asia/Shanghai")


class Journey:
    def __init__(self, browser, base: str, shots):
        self.browser, self.base, self.shots = browser, base, shots
        self.csp_errors: list[str] = []
        self.count = 0

    def person(self, user):
        context = self.browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        page = context.new_page()
        page.on("console", lambda m: self._console(page, m))
        page.goto(self.base + "/staff/login")
        page.fill("input[name=email]", user.email)
        page.fill("input[name=password]", PASSWORD)
        page.click("main form button[type=submit]")
        page.wait_for_load_state()
        assert "/staff/login" not in page.url, page.content()[:500]
        return page

    def _console(self, page, message):
        text = message.text
        if "Content Security Policy" in text or "Refused to" in text:
            self.csp_errors.append(f"{page.url}: {text}")

    def shot(self, page, name: str) -> None:
        self.count += 1
        for width in (1280, 375):
            page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_timeout(150)
            page.screenshot(
                path=str(self.shots / f"journey-{self.count:02d}-{name}-{width}.png"),
                full_page=True,
            )
        page.set_viewport_size({"width": 1280, "height": 900})


def _next_minute_local(min_seconds: float = 20) -> dt.datetime:
    now = dt.datetime.now(SHANGHAI)
    at = (now + dt.timedelta(minutes=1)).replace(second=0, microsecond=0)
    if (at - now).total_seconds() < min_seconds:
        at += dt.timedelta(minutes=1)
    return at


def test_editor_reviewer_sender_admin_journey(
    app, live_server, browser, screenshot_dir, staff, smtp, run_worker
):
    add_readers()
    editor = staff("editor", name="王责编")
    reviewer = staff("reviewer", name="李复核")
    sender = staff("sender", name="赵发送")
    admin = staff("admin", name="周管理")
    run_worker(burst=False)  # with RQ's scheduler: it starts the send at its minute
    j = Journey(browser, live_server, screenshot_dir)

    # The editor imports the sample, adds a 编者按, and submits it for review.
    page = j.person(editor)
    page.goto(live_server + "/issues/import")
    j.shot(page, "import")
    page.set_input_files("input[type=file]", str(SAMPLE))
    page.click("main form button[type=submit]")
    # the parsed structure and its warnings come first; saving stores the draft
    page.wait_for_selector("text=保存为草稿")
    j.shot(page, "import-preview")
    page.click("button[name=op][value=save] >> nth=0")
    page.wait_for_url("**/issues/396")
    j.shot(page, "issue")
    page.goto(live_server + "/issues/396/edit")
    page.fill("textarea[name=editor_note]", "本期请各位领导重点关注第一条要闻。")
    page.click("button[name=op][value=save]:not(.sr-only)")
    page.wait_for_load_state()
    assert "已保存。" in page.content()  # the save's own message ("保存" is the button)
    j.shot(page, "edit")
    page.goto(live_server + "/issues/396/review")
    page.click("text=提交复核 >> nth=-1")
    page.wait_for_load_state()
    assert "已提交复核" in page.content()
    j.shot(page, "submitted")
    # The editor cannot send it yet: the send page refuses an unapproved issue.
    page.context.close()

    # The reviewer finds it in the queue and approves it, filling the credits.
    page = j.person(reviewer)
    page.goto(live_server + "/review")
    j.shot(page, "queue")
    page.click("text=第 396 期 · 行业动态周报")
    page.check("input[name=fill_credits]")
    j.shot(page, "review")
    page.click("text=批准本期")
    page.wait_for_load_state()
    assert "已批准第 396 期" in page.content()
    j.shot(page, "approved")
    page.context.close()
    db.session.expire_all()
    issue = db.session.scalar(select(Issue).where(Issue.number == 396))
    assert issue.credits["复核"] == ["李复核"] and issue.credits["责编"] == ["王责编"]
    assert review.workflow_state(db.session, issue) == WorkflowState.APPROVED

    # The sender schedules it for the next minute (Beijing time).
    page = j.person(sender)
    page.goto(live_server + "/issues/396/review")
    page.click("text=安排发送")
    page.wait_for_url("**/issues/396/send")
    at = _next_minute_local()
    page.fill("input[name=scheduled_at]", at.strftime("%Y-%m-%dT%H:%M"))
    page.click("button[value=preview]")
    page.wait_for_load_state()
    j.shot(page, "send-audience")
    page.click("button[value=confirm]")
    page.wait_for_url("**/sends/*")
    assert "已排程" in page.content()
    j.shot(page, "scheduled")
    send = db.session.scalar(select(Send).order_by(Send.id.desc()))
    assert send.status == SendStatus.SCHEDULED
    wait = (at - dt.datetime.now(SHANGHAI)).total_seconds() + 45
    wait_until(
        lambda: all_final(send.id) and db.session.get(Send, send.id).status == "done",
        wait,
        "the scheduled send to go out",
        interval=1,
    )
    page.reload()
    page.wait_for_timeout(2500)  # sends.js refreshes the counts
    assert "已完成" in page.content()
    j.shot(page, "sent")
    page.context.close()
    # the bulletin went to the readers, once each (beside it the sink holds the review
    # notices mailed to the staff: those carry no List-Unsubscribe)
    bulletins = [m for m in smtp.received if email.message_from_bytes(m.data)["List-Unsubscribe"]]
    received = sorted(r for m in bulletins for r in m.rcpt_tos)
    assert received == sorted(a.lower() for a in READERS)
    db.session.expire_all()
    assert review.workflow_state(db.session, issue) == WorkflowState.SENT

    # The admin reads the audit log, then narrows it to the review steps.
    page = j.person(admin)
    page.goto(live_server + "/staff/audit")
    html = page.content()
    for action in (
        "bulletin.issue_import",
        "bulletin.issue_edit_save",
        "review.submitted",
        "review.approved",
        "sends.new_send",
        "login",
    ):
        assert f"<code>{action}</code>" in html, action
    j.shot(page, "audit")
    page.fill("input[name=action]", "review.")
    page.click("form.st-filter button[type=submit]")
    page.wait_for_load_state()
    assert "<code>review.approved</code>" in page.content()
    assert "<code>bulletin.issue_import</code>" not in page.content()
    j.shot(page, "audit-filtered")
    for path, name in (
        ("/staff/accounts", "accounts"),
        ("/staff/groups", "groups"),
        ("/staff/tokens", "tokens"),
        ("/issues", "issues"),
    ):
        page.goto(live_server + path)
        j.shot(page, name)
    page.context.close()
    assert not j.csp_errors, "\n".join(j.csp_errors)
