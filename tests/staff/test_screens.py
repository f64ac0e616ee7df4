"""Screenshots (375 and 1280 px) of the staff pages the journey does not pass through,
with a check that none trips the Content-Security-Policy."""

from __future__ import annotations

import pytest

from newsletter.bulletin.service import import_issue
from newsletter.extensions import db
from newsletter.review import service as review
from newsletter.staff import accounts
from tests.staff.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_staff_pages_at_two_widths(app, live_server, browser, screenshot_dir, staff, sample_text):
    both = staff("editor", "reviewer", name="王兼任")
    issue, _ = import_issue(db.session, sample_text)
    review.note_edit(db.session, issue, both)
    review.submit(db.session, issue, both)
    admin = staff("admin", name="周管理")
    with app.test_request_context():
        reset_path = "/staff/password/" + accounts.make_link_token(admin)
    problems: list[str] = []

    def shoot(page, name):
        for width in (1280, 375):
            page.set_viewport_size({"width": width, "height": 800})
            page.wait_for_timeout(100)
            page.screenshot(path=str(screenshot_dir / f"staff-{name}-{width}.png"), full_page=True)

    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.on("console", lambda m: problems.append(m.text) if "Content Security" in m.text else None)
    for path, name in (
        ("/staff/login", "login"),
        ("/staff/password/forgot", "forgot"),
        (reset_path, "password-set"),
        ("/staff/password/bad", "link-problem"),
    ):
        page.goto(live_server + path)
        shoot(page, name)

    def sign_in(user):
        page.goto(live_server + "/staff/login")
        page.fill("input[name=email]", user.email)
        page.fill("input[name=password]", PASSWORD)
        page.click("main form button[type=submit]")
        page.wait_for_load_state()

    sign_in(both)
    page.goto(live_server + "/issues/396/review")
    assert "不能批准自己的修改" in page.content()
    shoot(page, "review-own-edit")
    page.goto(live_server + "/staff/tokens")
    page.fill("input[name=name]", "CMS 自动导入")
    page.check("input[name=scopes][value=editor]")
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    assert "只显示这一次" in page.content()
    shoot(page, "token-new")
    page.goto(live_server + "/staff/me")
    shoot(page, "me")
    page.click("header form button")  # sign out
    sign_in(admin)
    page.goto(live_server + "/staff/accounts/new")
    page.fill("input[name=email]", "not an address")
    page.check("input[name=roles][value=editor]")
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    assert "不是有效的邮箱地址" in page.content()
    shoot(page, "account-new-error")
    page.goto(live_server + "/staff/accounts")
    shoot(page, "accounts")
    context.close()
    assert not problems, problems
