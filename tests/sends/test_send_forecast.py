"""The forecast on the send page (delivery/forecast.py) and the admin relays page, over HTTP
and in Chromium at 375 and 1280 px."""

from __future__ import annotations

import datetime as dt

import pytest

from newsletter.bulletin.service import import_issue
from newsletter.extensions import db
from tests.conftest import approve_for_tests, csrf_token
from tests.delivery.support import bulk_subscribers

PASSWORD = "correct horse battery"


@pytest.fixture
def quota_relays(app, smtp, tmp_path):
    path = tmp_path / "relays.toml"
    path.write_text(
        f"""
[[relay]]
name = "exmail"
host = "{smtp.host}"
port = {smtp.port}
per_minute = 30
per_day = 20
""",
        "utf-8",
    )
    app.config["RELAYS_FILE"] = str(path)
    return path


def test_the_preview_shows_how_long_the_send_takes(app, staff_client, sample_text, quota_relays):
    approve_for_tests(import_issue(db.session, sample_text)[0])
    bulk_subscribers(5, "leadership", prefix="leader")
    bulk_subscribers(45, "members", prefix="member")
    client = staff_client("sender")
    page = client.post(
        "/issues/396/send",
        data={
            "csrf_token": csrf_token(client, "/issues/396/send"),
            "groups": ["leadership", "members"],
            "action": "preview",
        },
    )
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "共 50 封（领导版 5 封）" in html
    assert "领导版最后一封约 今日" in html
    assert "剩余 30 封将于明日" in html and "配额恢复后继续" in html
    assert "发送将跨到次日" in html


def test_a_broken_relays_file_leaves_the_page_working(app, staff_client, sample_text, tmp_path):
    approve_for_tests(import_issue(db.session, sample_text)[0])
    bad = tmp_path / "bad.toml"
    bad.write_text("[[relay]]\nname = 'x'\n", "utf-8")
    app.config["RELAYS_FILE"] = str(bad)
    client = staff_client("sender")
    page = client.post(
        "/issues/396/send",
        data={
            "csrf_token": csrf_token(client, "/issues/396/send"),
            "groups": ["members"],
            "action": "preview",
        },
    )
    assert page.status_code == 200 and "预计" not in page.get_data(as_text=True)
    relays = client.get("/staff/relays")
    assert relays.status_code == 403  # senders do not see the relays page
    admin = staff_client("admin").get("/staff/relays").get_data(as_text=True)
    assert "needs a host" in admin


@pytest.mark.browser
def test_send_page_forecast_and_relays_page_at_two_widths(
    app, live_server, browser, screenshot_dir, make_staff, sample_text, quota_relays
):
    approve_for_tests(import_issue(db.session, sample_text)[0])
    bulk_subscribers(5, "leadership", prefix="leader")
    bulk_subscribers(45, "members", prefix="member")
    user = make_staff("sender", "admin", password=PASSWORD)
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if "Content Security" in m.text else None)
    page.goto(live_server + "/staff/login")
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    page.goto(live_server + "/issues/396/send")
    page.click("button[name=action][value=preview]")
    page.wait_for_load_state()
    assert "配额恢复后继续" in page.content()

    def shoot(name):
        for width in (1280, 375):
            page.set_viewport_size({"width": width, "height": 800})
            page.wait_for_timeout(100)
            page.screenshot(path=str(screenshot_dir / f"{name}-{width}.png"), full_page=True)
            overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
            assert not overflow, f"{name} scrolls sideways at {width}px"

    shoot("send-forecast")
    page.goto(live_server + "/staff/relays")
    page.click("form[action$='/relays/check'] button")
    page.wait_for_load_state()
    assert "检查通过" in page.content()
    shoot("relays-check")
    assert not problems
    context.close()


def test_the_forecast_in_english(app, staff_client, sample_text, quota_relays):
    """Every sentence (the quota's and the next day's too) in the page's language."""
    from tests.web.test_words import CJK

    approve_for_tests(import_issue(db.session, sample_text)[0])
    bulk_subscribers(5, "leadership", prefix="leader")
    bulk_subscribers(45, "members", prefix="member")
    client = staff_client("sender")
    page = client.post(
        "/issues/396/send?lang=en",
        data={
            "csrf_token": csrf_token(client, "/issues/396/send"),
            "groups": ["leadership", "members"],
            "action": "preview",
        },
    ).get_data(as_text=True)
    forecast = page[
        page.index('class="forecast') : page.index("</div>", page.index('class="forecast'))
    ]
    assert not CJK.search(forecast), forecast
    assert "50 messages (5 of the leadership edition)" in forecast
    assert "The remaining 30 messages go on when the daily quota opens again (tomorrow" in forecast
    assert "The send runs into the next day." in forecast


@pytest.mark.browser
def test_the_english_send_pages_and_accounts_at_two_widths(
    app, live_server, browser, screenshot_dir, make_staff, sample_text, quota_relays
):
    """The English forecast, a send paused for the quotas, and /staff/accounts in Chromium."""
    from newsletter.delivery import control
    from newsletter.delivery.forecast import quota_phrase
    from newsletter.delivery.models import Send
    from newsletter.timeutil import utcnow

    issue = approve_for_tests(import_issue(db.session, sample_text)[0])
    bulk_subscribers(5, "leadership", prefix="leader")
    bulk_subscribers(45, "members", prefix="member")
    user = make_staff("sender", "admin", password=PASSWORD)
    context = browser.new_context(locale="en")
    page = context.new_page()
    page.goto(live_server + "/staff/login?lang=en")
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_load_state()

    def shoot(name):
        for width in (1280, 375):
            page.set_viewport_size({"width": width, "height": 800})
            page.wait_for_timeout(100)
            page.screenshot(path=str(screenshot_dir / f"{name}-{width}.png"), full_page=True)
            overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
            assert not overflow, f"{name} scrolls sideways at {width}px"

    page.goto(live_server + "/issues/396/send")
    page.click("button[name=action][value=preview]")
    page.wait_for_load_state()
    assert "when the daily quota opens again" in page.inner_text(".forecast")
    shoot("send-forecast-en")
    send = Send(issue_id=issue.id, group_codes=["members"], status="sending")
    db.session.add(send)
    db.session.commit()
    now = utcnow()
    reason = quota_phrase(30, now + dt.timedelta(hours=20), now, "Asia/Shanghai")
    assert control.breaker_pause(
        db.session, send.id, reason, "every relay is out of its daily quota", None, now
    )
    page.goto(f"{live_server}/sends/{send.id}")
    assert "The remaining 30 messages" in page.inner_text("#paused-reason")
    shoot("send-paused-en")
    page.goto(live_server + "/staff/accounts")
    assert "Administrator" in page.content() or "Admin" in page.content()
    shoot("staff-accounts-en")
    context.close()
