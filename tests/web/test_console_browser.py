"""Issue 13 where a person sees it, in Chromium at 375 and 1280 px, with screenshots in
test-artifacts/console-*.png: the home page per role, the 复核 badge and diff, error pages,
the audit log, English pages, the dev mailbox, and the email in dark mode."""

from __future__ import annotations

import pytest
from flask import current_app

from newsletter.bulletin import editing
from newsletter.bulletin.service import import_issue
from newsletter.extensions import db
from newsletter.render import Edition, personalise, render_edition
from newsletter.review import service
from newsletter.review.models import ReviewAction
from tests.devmail.test_mailbox import fill
from tests.staff.conftest import PASSWORD

pytestmark = pytest.mark.browser
WIDTHS = (1280, 375)
LINKS = {
    "unsubscribe_url": "https://x.org/u/1",
    "preferences_url": "https://x.org/p/1",
    "name": "王读者",
}


class Person:
    def __init__(self, browser, live_server, shots, user=None, scheme="light", locale="zh-CN"):
        self.context = browser.new_context(locale=locale, color_scheme=scheme)
        self.page = self.context.new_page()
        self.base, self.shots = live_server, shots
        self.missing: list[str] = []
        self.page.on(
            "response",
            lambda r: (
                self.missing.append(r.url) if r.status == 404 and "/favicon" in r.url else None
            ),
        )
        if user is not None:
            self.page.goto(live_server + "/staff/login")
            self.page.fill("input[name=email]", user.email)
            self.page.fill("input[name=password]", PASSWORD)
            self.page.click("main form button[type=submit]")
            self.page.wait_for_load_state()

    def visit(self, path: str, name: str) -> str:
        self.page.goto(self.base + path)
        self.shoot(name)
        return self.page.content()

    def shoot(self, name: str) -> None:
        for width in WIDTHS:
            self.page.set_viewport_size({"width": width, "height": 900})
            self.page.wait_for_timeout(80)
            overflow = self.page.evaluate(
                "() => document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 1, f"{name} overflows by {overflow}px at {width}px"
            self.page.screenshot(
                path=str(self.shots / f"console-{name}-{width}.png"), full_page=True
            )


@pytest.fixture
def world(app, staff, sample_text):
    people = {
        r: staff(r, name=n)
        for r, n in (
            ("editor", "王编辑"),
            ("reviewer", "李复核"),
            ("sender", "钱发送"),
            ("admin", "周管理"),
        )
    }
    issue, _ = import_issue(db.session, sample_text)
    service.note_edit(db.session, issue, people["editor"], ReviewAction.IMPORTED)
    doc = editing.editable_doc(issue)
    doc.sections[0].articles[0].title = "全国宣传部长会议在京召开（标题已修改）"
    doc.summary.append("新增摘要：本期另有两条人事消息")
    editing.save_issue(db.session, 396, doc, version=editing.version_of(issue))
    service.note_edit(db.session, issue, people["editor"])
    return issue, people


def test_staff_console_at_two_widths(app, live_server, browser, screenshot_dir, world):
    issue, people = world
    ed = Person(browser, live_server, screenshot_dir, people["editor"])
    page = ed.visit("/", "home-editor-draft")
    assert "检查内容后提交复核" in page and 'aria-current="step"' in page
    page = ed.visit("/issues/396", "issue-page")
    assert ed.page.is_visible("#submit-review button")
    ed.page.click("#submit-review button")
    ed.page.wait_for_load_state()
    assert "已提交复核，已通知复核人员" in ed.page.content()
    ed.visit("/issues", "issue-list")
    rv = Person(browser, live_server, screenshot_dir, people["reviewer"])
    page = rv.visit("/", "home-reviewer-waiting")
    badge = rv.page.locator(".nav-badge")
    assert badge.is_visible() and badge.inner_text() == "1"
    assert "复核本期：批准或退回修改" in page
    page = rv.visit("/issues/396/review", "review-diff")
    assert (
        rv.page.locator("ins.rv-line").count() >= 2 and rv.page.locator("del.rv-line").count() >= 1
    )
    assert "与导入的原文相比" in page
    # a page the reviewer has no link to, reached anyway: in the layout, with a way home
    page = rv.visit("/staff/subscribers/", "error-403")
    assert "没有权限" in page and rv.page.is_visible("text=返回首页")
    assert rv.page.locator("header a[href='/staff/subscribers/']").count() == 0
    page = rv.visit("/issues/9999", "error-404")
    assert "页面不存在" in page and rv.page.is_visible("text=返回首页")
    service.approve(db.session, issue, people["reviewer"], notify_people=False)
    se = Person(browser, live_server, screenshot_dir, people["sender"])
    page = se.visit("/", "home-sender-approved")
    assert se.page.is_visible("a.button[href='/issues/396/send']")
    admin = Person(browser, live_server, screenshot_dir, people["admin"])
    page = admin.visit("/staff/audit", "audit-log")
    sentence = admin.page.locator("td.audit-sentence").first.inner_text()
    assert "周管理" in sentence or "王编辑" in sentence or "李复核" in sentence
    assert not admin.page.locator("td.st-detail details[open]").count()  # details folded
    en = Person(browser, live_server, screenshot_dir, people["admin"], locale="en-US")
    page = en.visit("/?lang=en", "home-english")
    assert "Next step" in page and "Home" in page
    for person in (ed, rv, se, admin, en):
        assert not person.missing, person.missing  # no favicon 404 anywhere
        person.context.close()


def test_dev_mailbox_at_two_widths(app, live_server, browser, screenshot_dir, staff):
    fill(current_app.config["DEV_MAILBOX_DIR"], 60)
    person = Person(browser, live_server, screenshot_dir, staff("admin"))
    page = person.visit("/dev/mailbox/", "mailbox")
    assert "第 1 / 2 页" in page
    person.page.fill("input[name=q]", "reader0042")
    person.page.click("form.dm-search button")
    person.page.wait_for_load_state()
    assert person.page.locator(".dm-list li").count() == 1
    person.shoot("mailbox-search")
    person.page.click(".dm-list a")
    person.page.wait_for_load_state()
    frame = person.page.frame_locator("iframe.dm-frame")
    color = frame.locator("p.x").evaluate("e => getComputedStyle(e).color")
    assert color == "rgb(200, 16, 46)"  # the email's own <style> applied
    person.shoot("mailbox-message")
    person.context.close()


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_the_email_in_dark_mode_and_at_375(app, browser, screenshot_dir, sample_text, language):
    issue, _ = import_issue(db.session, sample_text)
    rendered = render_edition(
        issue.to_doc(),
        Edition.PRIORITY,
        language=language,
        archive_url="https://newsletter.example.org/archive/396",
    )
    html, _text = personalise(rendered, LINKS)
    for scheme in ("dark", "light"):
        context = browser.new_context(color_scheme=scheme)
        page = context.new_page()
        page.set_content(html)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_timeout(80)
            page.screenshot(
                path=str(screenshot_dir / f"console-email-{language}-{scheme}-{width}.png"),
                full_page=True,
            )
            colours = page.evaluate("""() => {
                const bg = e => getComputedStyle(e).backgroundColor;
                const strips = [...document.querySelectorAll('.strip')];
                return {body: bg(document.body), strips: strips.map(s => bg(s.querySelector('table') || s)),
                        card: bg(document.querySelector('.card table') || document.querySelector('.card'))};
            }""")

            def dark(c):
                return sum(map(int, c[c.index("(") + 1 : c.index(")")].split(",")[:3])) < 120

            assert len(colours["strips"]) == 2  # the top strip and the footer
            if scheme == "dark":
                assert dark(colours["body"]) and all(map(dark, colours["strips"])), colours
                assert dark(colours["card"]), colours
            else:
                assert not dark(colours["body"]) and not any(map(dark, colours["strips"]))
            # nothing squeezed to a character a line: every text block keeps some width
            narrow = page.evaluate("""() => [...document.querySelectorAll('td, p, div, span, li')]
                .filter(e => e.offsetParent && e.innerText.trim().length >= 6 && e.children.length === 0)
                .filter(e => getComputedStyle(e).display !== 'inline' && e.getBoundingClientRect().width < 48)
                .map(e => e.innerText.trim().slice(0, 20))""")
            assert not narrow, (width, narrow)
            assert page.evaluate(
                "() => document.documentElement.scrollWidth <= window.innerWidth + 1"
            )
        context.close()
    if language == "en":
        assert "Dear 王读者," in html and "In this issue" in html
