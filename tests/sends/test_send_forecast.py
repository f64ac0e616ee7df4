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


@pytest.fixture
def forecast(app, sample_text, quota_relays):
    """The forecast's world, the same for both languages: issue 396 approved, 5 leadership
    and 45 members readers, relays with 20 a day. Returns the approved issue."""
    issue = approve_for_tests(import_issue(db.session, sample_text)[0])
    bulk_subscribers(5, "leadership", prefix="leader")
    bulk_subscribers(45, "members", prefix="member")
    return issue


def preview(client, lang: str = "") -> str:
    """The send page after "count the recipients" of both groups, in `lang` (or the default)."""
    page = client.post(
        "/issues/396/send" + (f"?lang={lang}" if lang else ""),
        data={
            "csrf_token": csrf_token(client, "/issues/396/send"),
            "groups": ["leadership", "members"],
            "action": "preview",
        },
    )
    assert page.status_code == 200
    return page.get_data(as_text=True)


@pytest.fixture
def signed_in(browser, live_server, make_staff):
    """A Chromium page in `locale`, signed in as a sender and admin, and `shoot(name)`, which
    screenshots it at 1280 and 375 px and fails if it scrolls sideways."""
    contexts = []

    def open_page(locale: str):
        user = make_staff("sender", "admin", password=PASSWORD)
        context = browser.new_context(locale=locale)
        contexts.append(context)
        page = context.new_page()
        page.goto(live_server + "/staff/login" + ("?lang=en" if locale == "en" else ""))
        page.fill("input[name=email]", user.email)
        page.fill("input[name=password]", PASSWORD)
        page.click("main form button[type=submit]")
        page.wait_for_load_state()
        return page

    yield open_page
    for context in contexts:
        context.close()


def shoot(page, screenshot_dir, name: str) -> None:
    for width in (1280, 375):
        page.set_viewport_size({"width": width, "height": 800})
        page.wait_for_timeout(100)
        page.screenshot(path=str(screenshot_dir / f"{name}-{width}.png"), full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        assert not overflow, f"{name} scrolls sideways at {width}px"


def test_the_preview_shows_how_long_the_send_takes(staff_client, forecast):
    html = preview(staff_client("sender"))
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
    assert "预计" not in preview(client)
    relays = client.get("/staff/relays")
    assert relays.status_code == 403  # senders do not see the relays page
    admin = staff_client("admin").get("/staff/relays").get_data(as_text=True)
    assert "needs a host" in admin


@pytest.mark.browser
def test_send_page_forecast_and_relays_page_at_two_widths(
    live_server, signed_in, screenshot_dir, forecast
):
    page = signed_in("zh-CN")
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if "Content Security" in m.text else None)
    page.goto(live_server + "/issues/396/send")
    page.click("button[name=action][value=preview]")
    page.wait_for_load_state()
    assert "配额恢复后继续" in page.content()
    shoot(page, screenshot_dir, "send-forecast")
    page.goto(live_server + "/staff/relays")
    page.click("form[action$='/relays/check'] button")
    page.wait_for_load_state()
    assert "检查通过" in page.content()
    shoot(page, screenshot_dir, "relays-check")
    assert not problems


def test_the_forecast_in_english(staff_client, forecast):
    """Every sentence (the quota's and the next day's too) in the page's language."""
    from tests.web.test_words import CJK

    page = preview(staff_client("sender"), "en")
    forecast_box = page[
        page.index('class="forecast') : page.index("</div>", page.index('class="forecast'))
    ]
    assert not CJK.search(forecast_box), forecast_box
    assert "50 messages (5 of the leadership edition)" in forecast_box
    assert (
        "The remaining 30 messages go on when the daily quota opens again (tomorrow" in forecast_box
    )
    assert "The send runs into the next day." in forecast_box


@pytest.mark.browser
def test_the_english_send_pages_and_accounts_at_two_widths(
    live_server, signed_in, screenshot_dir, forecast
):
    """The English forecast, a send paused for the quotas, and /staff/accounts in Chromium."""
    from newsletter.delivery import control
    from newsletter.delivery.forecast import quota_phrase
    from newsletter.delivery.models import Send
    from newsletter.timeutil import utcnow

    page = signed_in("en")
    page.goto(live_server + "/issues/396/send")
    page.click("button[name=action][value=preview]")
    page.wait_for_load_state()
    assert "when the daily quota opens again" in page.inner_text(".forecast")
    shoot(page, screenshot_dir, "send-forecast-en")
    send = Send(issue_id=forecast.id, group_codes=["members"], status="sending")
    db.session.add(send)
    db.session.commit()
    now = utcnow()
    reason = quota_phrase(30, now + dt.timedelta(hours=20), now, "Asia/Shanghai")
    assert control.breaker_pause(
        db.session, send.id, reason, "every relay is out of its daily quota", None, now
    )
    page.goto(f"{live_server}/sends/{send.id}")
    assert "The remaining 30 messages" in page.inner_text("#paused-reason")
    shoot(page, screenshot_dir, "send-paused-en")
    page.goto(live_server + "/staff/accounts")
    assert "Administrator" in page.content() or "Admin" in page.content()
    shoot(page, screenshot_dir, "staff-accounts-en")
