"""The send page in headless Chromium while a real worker sends: live rate and ETA, then it
turns itself into the finished state (report link, no pause/cancel) without a reload by
hand; the sent issue's send page offers only the follow-up. Screenshots at 1280 and 375."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from newsletter.bulletin.service import import_issue
from newsletter.delivery.models import Send
from newsletter.extensions import db
from tests.conftest import approve_for_tests
from tests.delivery.support import bulk_subscribers

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"


def _login(page, base: str, email: str) -> None:
    page.goto(f"{base}/staff/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("load")


def test_the_send_page_follows_a_real_send_to_its_end(
    app, live_server, browser, make_staff, run_worker, smtp, sample_text, screenshot_dir
):
    app.config["RATE_PER_SECOND"] = 15  # ~6 s for 90 readers: long enough to watch
    approve_for_tests(import_issue(db.session, sample_text)[0])
    bulk_subscribers(90, "media")
    user = make_staff("sender", password=PASSWORD)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        _login(page, live_server, user.email)
        page.goto(f"{live_server}/issues/396/send")
        page.click("button[value=preview]")
        page.click("button[value=confirm]")
        page.wait_for_url("**/sends/*")
        send_id = db.session.scalar(select(Send.id))
        assert page.locator("#actions button", has_text="暂停").count() == 1
        run_worker(burst=False, env={"RATE_PER_SECOND": "15"})
        # while it sends: a rate measured from its own start and an ETA
        page.wait_for_function(
            "() => document.querySelector('[data-field=status]').textContent === '发送中'"
            " && document.querySelector('[data-field=rate_per_second]').textContent !== '—'",
            timeout=60_000,
        )
        # read the rate once a couple of seconds have passed: the limiter's one-second
        # window lets the first 15 go at once, so the first fraction of a second reads high
        page.wait_for_function(
            "() => document.getElementById('eta-label').textContent"
            " === '预计还需' && parseInt(document.querySelector("
            "'[data-field=sent]').textContent) >= 30",
            timeout=30_000,
        )
        rate = float(page.inner_text("[data-field=rate_per_second]"))
        assert 3 <= rate <= 30, rate  # about the limit of 15/s, not the old minute average
        page.screenshot(path=str(screenshot_dir / "send-progress-1280.png"), full_page=True)
        # the page turns itself into the finished state
        page.wait_for_selector("#report-link a", timeout=60_000)
        assert page.inner_text("[data-field=status]") == "已完成"
        assert page.locator("#actions").count() == 0
        assert page.locator("button", has_text="暂停").count() == 0
        assert page.locator("button", has_text="取消发送").count() == 0
        assert page.inner_text("#eta-label") == "用时"
        assert page.inner_text("[data-field=sent]") == "90"
        page.screenshot(path=str(screenshot_dir / "send-done-1280.png"), full_page=True)
        page.set_viewport_size({"width": 375, "height": 800})
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        page.screenshot(path=str(screenshot_dir / "send-done-375.png"), full_page=True)
        page.click("#report-link a")
        page.wait_for_url(f"**/reports/sends/{send_id}")

        # the sent issue's page: only the follow-up to those who have not received it
        bulk_subscribers(3, "media", prefix="late")
        page.goto(f"{live_server}/issues/396/send")
        assert "本期已发给" in page.inner_text("#already-sent")
        page.click("button[value=preview]")
        follow = page.locator("button[value=confirm_new]")
        assert follow.inner_text() == "补发给尚未收到的读者：3 人"
        assert page.locator("button[value=confirm]").count() == 0
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        page.screenshot(path=str(screenshot_dir / "send-follow-up-375.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})
        page.screenshot(path=str(screenshot_dir / "send-follow-up-1280.png"), full_page=True)
    finally:
        page.close()


def test_a_send_paused_by_the_breaker_shows_the_servers_answer_and_what_to_do(
    app, live_server, browser, make_staff, sample_text, screenshot_dir
):
    from newsletter.delivery import control
    from newsletter.sends import service
    from newsletter.timeutil import utcnow

    approve_for_tests(import_issue(db.session, sample_text)[0])
    bulk_subscribers(5, "media")
    send = service.send_issue(db.session, app.config, 396, ["media"]).send
    answer = "535 5.7.8 Error: authentication failed: UGFzc3dvcmQ6"
    assert control.breaker_pause(
        db.session, send.id, "中继拒绝了登录（AUTH）", answer, None, utcnow()
    )
    user = make_staff("sender", password=PASSWORD)
    for width in (1280, 375):
        page = browser.new_page(viewport={"width": width, "height": 800})
        try:
            _login(page, live_server, user.email)
            page.goto(f"{live_server}/sends/{send.id}")
            notice = page.inner_text("#paused-reason")
            assert "中继拒绝了登录" in notice and answer in notice and "继续" in notice
            assert page.inner_text("[data-field=status]") == "已暂停"
            assert page.locator("#actions button", has_text="继续").count() == 1
            assert page.locator("#actions button", has_text="暂停").count() == 0
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            page.screenshot(path=str(screenshot_dir / f"send-paused-{width}.png"), full_page=True)
        finally:
            page.close()
    # resumed, then finished while paused again: the page's buttons answer in Chinese
    client = app.test_client()
    from tests.conftest import csrf_token

    client.post(
        "/staff/login",
        data={
            "csrf_token": csrf_token(client, "/staff/login"),
            "email": user.email,
            "password": PASSWORD,
        },
    )
    db.session.execute(Send.__table__.update().where(Send.id == send.id).values(status="done"))
    db.session.commit()
    page = client.post(
        f"/sends/{send.id}/resume",
        data={"csrf_token": csrf_token(client, f"/sends/{send.id}")},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert f"发送 #{send.id} 已完成，不能继续。" in page


@pytest.mark.parametrize(
    "lang,words",
    [
        ("en", ("Count the recipients", "Leadership edition (sent first)", "Resume the send")),
        ("zh-CN", ("统计收件人", "领导版（优先发送）", "继续发送")),
    ],
)
def test_the_send_pages_in_each_language(
    app, live_server, browser, make_staff, sample_text, screenshot_dir, lang, words
):
    """The send page and a paused send's page in English and in Chinese, at 1280 and 375;
    the progress script writes its durations in the page's language too."""
    import datetime as dt

    from newsletter.timeutil import utcnow

    issue = approve_for_tests(import_issue(db.session, sample_text)[0])
    bulk_subscribers(5, "media")
    now = utcnow()
    send = Send(
        issue_id=issue.id,
        group_codes=["media"],
        status="paused",
        started_at=now - dt.timedelta(seconds=3725),
    )
    db.session.add(send)
    db.session.commit()
    user = make_staff("sender", password=PASSWORD)
    tag = lang.split("-")[0]
    for width in (1280, 375):
        page = browser.new_page(viewport={"width": width, "height": 900})
        try:
            _login(page, live_server, user.email)
            page.goto(f"{live_server}/issues/396/send?lang={lang}")
            assert words[0] in page.inner_text("main")
            page.click("button[value=preview]")
            assert words[1] in page.inner_text(".audience")
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            page.screenshot(
                path=str(screenshot_dir / f"send-new-{tag}-{width}.png"), full_page=True
            )
            page.goto(f"{live_server}/sends/{send.id}")  # the language is remembered
            assert page.locator("#actions button", has_text=words[2]).count() == 1
            # blank the duration, then wait for the script's next tick to write it again
            page.evaluate("document.getElementById('eta').textContent = ''")
            page.wait_for_function("() => document.getElementById('eta').textContent !== ''")
            eta = page.inner_text("#eta")
            assert eta == ("1 h 2 min" if tag == "en" else "1 小时 2 分"), eta
            assert page.inner_text("#eta-label") == ("Elapsed" if tag == "en" else "用时")
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            page.screenshot(
                path=str(screenshot_dir / f"send-paused-{tag}-{width}.png"), full_page=True
            )
        finally:
            page.close()
