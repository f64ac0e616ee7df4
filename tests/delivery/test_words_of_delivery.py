"""The words of delivery and review on the pages, in the page's language (issue 13,
continued): a send paused by its relay's answer (the classifier's reason), a send refused
because the issue is not approved, and a review step refused. In English nothing but content
is Chinese; in Chinese the wording is the one delivery always had; what the database, the CLI
and the staff mail read stays zh-CN. (The relay check's page: test_relaycheck.py.)"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from newsletter.bulletin.service import import_issue
from newsletter.delivery.models import Send, SendStatus
from newsletter.extensions import db
from tests.conftest import approve_for_tests, csrf_token
from tests.delivery.support import bulk_subscribers
from tests.delivery.test_faults import start_send
from tests.delivery.test_transport import Scripted
from tests.sends.test_send_forecast import signed_in  # noqa: F401  (a fixture)
from tests.web.test_words import CJK, visible_text

DMARC = (
    "550 5.7.26 Unauthenticated email from news.example.org is not accepted due to "
    "domain's DMARC policy"
)
ZH_REASON = "发信域认证（SPF/DKIM/DMARC/反向解析）未通过：检查发信域名的 DNS 记录"
EN_REASON = (
    "The sending domain failed authentication (SPF/DKIM/DMARC/reverse DNS): "
    "check the sending domain's DNS records"
)


def _content() -> list[str]:
    """The words on the pages that are content, not interface (the groups' own names, the
    bulletin's name and its 报/发)."""
    from subscribers.models import Group

    return [*db.session.scalars(select(Group.name)), "报：", "发：", "行业动态周报"]


@pytest.fixture
def paused_by_the_relay(app, runner, run_jobs, smtp, sample_text):
    """A send the breaker paused because the relay refused our domain (DMARC) at DATA."""
    approve_for_tests(import_issue(db.session, sample_text)[0])
    bulk_subscribers(3, "media", prefix="dmarc")
    send_id = start_send(runner, "media")
    run_jobs()
    db.session.rollback()
    send = db.session.get(Send, send_id)
    assert send.status == SendStatus.PAUSED, (send.status, send.paused_detail)
    return send


@pytest.mark.parametrize("smtp", [lambda: Scripted(data=DMARC)], indirect=True)
def test_a_send_paused_by_its_relay_says_why_in_english(app, staff_client, paused_by_the_relay):
    send = paused_by_the_relay
    page = staff_client("sender").get(f"/sends/{send.id}?lang=en")
    assert page.status_code == 200
    text = visible_text(page.get_data(as_text=True), _content())
    assert not CJK.search(text), (CJK.findall(text)[:20], text)
    assert EN_REASON in text and "5.7.26" in text
    # The mail, the CLI and the API read the zh-CN text it was paused with.
    from newsletter.delivery import control

    assert send.paused_reason == ZH_REASON
    assert control.progress(db.session, send.id)["paused_reason"] == ZH_REASON


@pytest.mark.parametrize("smtp", [lambda: Scripted(data=DMARC)], indirect=True)
def test_a_send_paused_by_its_relay_says_why_in_chinese(app, staff_client, paused_by_the_relay):
    page = staff_client("sender").get(f"/sends/{paused_by_the_relay.id}")
    text = visible_text(page.get_data(as_text=True), [])
    assert f"自动暂停：{ZH_REASON}" in text


def _unapproved_send_page(app, staff_client, sample_text, lang: str) -> str:
    """The send form of an issue nobody approved, confirmed: the refusal is on the page."""
    import_issue(db.session, sample_text)
    bulk_subscribers(2, "media", prefix="unapproved")
    client = staff_client("sender")
    page = client.post(
        f"/issues/396/send?lang={lang}",
        data={
            "csrf_token": csrf_token(client, "/issues/396/send"),
            "groups": ["media"],
            "action": "confirm",
        },
    )
    assert page.status_code == 400
    assert db.session.scalars(select(Send)).all() == []  # refused: nothing was sent
    return visible_text(page.get_data(as_text=True), _content())


def test_a_send_of_an_unapproved_issue_is_refused_in_english(app, staff_client, sample_text):
    text = _unapproved_send_page(app, staff_client, sample_text, "en")
    assert not CJK.search(text), (CJK.findall(text)[:20], text)
    assert "Issue 396 has not passed review and cannot be sent" in text


def test_a_send_of_an_unapproved_issue_is_refused_in_chinese(app, staff_client, sample_text):
    text = _unapproved_send_page(app, staff_client, sample_text, "zh-CN")
    assert "第 396 期尚未通过复核，不能发送：请编辑提交复核，并由另一位复核人员批准。" in text


def _refused_review_page(app, staff_client, sample_text, lang: str) -> str:
    """An editor submits issue 396 twice: the second is refused on the review page."""
    import_issue(db.session, sample_text)
    client = staff_client("editor")
    for expected in (302, 409):
        page = client.post(
            f"/issues/396/review/submit?lang={lang}",
            data={"csrf_token": csrf_token(client, "/issues/396/review")},
        )
        assert page.status_code == expected
    from newsletter.bulletin.models import Issue
    from newsletter.staff.models import StaffUser

    issue = db.session.scalar(select(Issue).where(Issue.number == 396))
    names = [n for v in (issue.credits or {}).values() for n in (v if isinstance(v, list) else [v])]
    people = [u.display_name for u in db.session.scalars(select(StaffUser))]
    content = [*_content(), issue.title, issue.publisher, *names, *people]
    return visible_text(page.get_data(as_text=True), content)


def test_a_refused_review_step_in_english(app, staff_client, sample_text):
    text = _refused_review_page(app, staff_client, sample_text, "en")
    assert not CJK.search(text), (CJK.findall(text)[:20], text)
    assert "Issue 396 is already in review." in text


def test_a_refused_review_step_in_chinese(app, staff_client, sample_text):
    assert "第 396 期已在复核中。" in _refused_review_page(app, staff_client, sample_text, "zh-CN")


@pytest.mark.browser
@pytest.mark.parametrize("smtp", [lambda: Scripted(data=DMARC)], indirect=True)
def test_the_paused_send_in_english_and_the_relay_check_in_chinese_at_two_widths(
    app, live_server, signed_in, screenshot_dir, paused_by_the_relay, postfix
):
    """In Chromium at 1280 and 375 px: the English send page with the relay's reason, the
    Chinese relays page with a failed check's problem and advice; neither scrolls sideways."""
    from tests.delivery.test_relaycheck import _wrong_password
    from tests.sends.test_send_forecast import shoot

    page = signed_in("en")
    page.goto(f"{live_server}/sends/{paused_by_the_relay.id}")
    reason = page.inner_text("#paused-reason")
    assert EN_REASON in reason and not CJK.search(reason), reason
    shoot(page, screenshot_dir, "send-paused-by-relay-en")

    _wrong_password(app, postfix)
    page = signed_in("zh-CN")
    page.goto(live_server + "/staff/relays")
    page.click("form[action$='/relays/check'] button")
    page.wait_for_load_state()
    result = page.inner_text(".relay-result")
    assert "登录被拒绝（535）" in result and "客户端专用密码/授权码" in result, result
    shoot(page, screenshot_dir, "relays-check-failed-zh")
