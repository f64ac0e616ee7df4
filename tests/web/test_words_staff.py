"""The English staff pages and send states say nothing in Chinese but content (issue 13,
continued): the forecast's sentences, a paused send's reason, the send service's errors, and the
form labels of /staff/groups, /staff/accounts, /staff/tokens and /staff/me."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from newsletter.delivery.models import Send
from newsletter.extensions import db
from tests.staff.conftest import login
from tests.web.test_words import CJK, _send_pages, visible_text

STAFF_PAGES = ("/staff/groups", "/staff/accounts", "/staff/tokens", "/staff/me")


def _staff_pages(app, staff, lang: str) -> dict[str, str]:
    from subscribers.models import Group

    admin = login(app, staff("admin", "editor", "sender", "reviewer", name="Zhou"))
    pages = {path: admin.get(f"{path}?lang={lang}") for path in STAFF_PAGES}
    assert all(r.status_code == 200 for r in pages.values()), {
        p: r.status_code for p, r in pages.items()
    }
    # Content, not interface (English only: in Chinese, 发 is in 发送 too).
    names = [*db.session.scalars(select(Group.name)), "报", "发"] if lang == "en" else []
    return {k: visible_text(r.get_data(as_text=True), names) for k, r in pages.items()}


def test_the_staff_pages_speak_english(app, staff):
    pages = _staff_pages(app, staff, "en")
    for name, text in pages.items():
        assert not CJK.search(text), (name, CJK.findall(text)[:20], text)
    assert "Current password" in pages["/staff/me"]
    assert "Editor (editor)" in pages["/staff/tokens"]
    assert "Editor" in pages["/staff/accounts"]
    assert "Priority edition" in pages["/staff/groups"]
    # The roles by their own names, not the verbs and pages that share their Chinese words
    # (复核 "Review", 发送 "Sends"): the badges of the admin's four roles, and the choices.
    badges = pages["/staff/accounts"]
    assert all(role in badges for role in ("Administrator", "Editor", "Sender", "Reviewer"))
    assert "Reviewer (reviewer)" in pages["/staff/tokens"]
    assert "Sender (sender)" in pages["/staff/tokens"]


def test_the_staff_pages_in_chinese(app, staff):
    pages = _staff_pages(app, staff, "zh-CN")
    assert "当前密码" in pages["/staff/me"]
    assert "编辑（editor）" in pages["/staff/tokens"]
    assert "优先版（含编者按，先发送）" in pages["/staff/groups"]
    assert "编辑" in pages["/staff/accounts"]


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_forecast_in_the_pages_language(app, staff, sample_text, lang):
    text = _send_pages(app, staff, sample_text, lang)["counted"]
    if lang == "en":
        assert not CJK.search(text), CJK.findall(text)[:20]
        assert "messages (" in text and "expected to take" in text
    else:
        assert "预计用时" in text and "发完。" in text


def _paused_send(app, staff, sample_text, lang: str):
    """A send paused by the breaker for the daily quotas, and its page in `lang`."""
    from newsletter.bulletin.service import import_issue
    from newsletter.delivery import control
    from newsletter.delivery.forecast import quota_phrase
    from newsletter.timeutil import to_local, utcnow
    from subscribers.models import Group
    from tests.conftest import approve_for_tests

    issue = approve_for_tests(import_issue(db.session, sample_text)[0])
    send = Send(issue_id=issue.id, group_codes=["media"], status="sending")
    db.session.add(send)
    db.session.commit()
    now = utcnow()
    # Tomorrow at 09:00 in Shanghai, whatever the hour the test runs at (now + 20 h was
    # still "today" when the suite ran after 16:00 UTC, past midnight in Shanghai).
    local = to_local(now) + dt.timedelta(days=1)
    opens = local.replace(hour=9, minute=0, second=0, microsecond=0)
    opens = opens.astimezone(dt.UTC).replace(tzinfo=None)
    reason = quota_phrase(1500, opens, now, "Asia/Shanghai")
    assert control.breaker_pause(
        db.session, send.id, reason, "every relay is out of its daily quota", None, now
    )
    client = login(app, staff("sender", name="Zhou" if lang == "en" else "周发送"))
    page = client.get(f"/sends/{send.id}?lang={lang}")
    assert page.status_code == 200
    names = [*db.session.scalars(select(Group.name)), "报：", "发：", "行业动态周报"]
    return send, client, visible_text(page.get_data(as_text=True), names)


def test_a_paused_sends_reason_in_english(app, staff, sample_text):
    send, client, text = _paused_send(app, staff, sample_text, "en")
    assert not CJK.search(text), (CJK.findall(text)[:20], text)
    assert "The remaining 1,500 messages go on when the daily quota opens again (tomorrow" in text
    # What the mail, the CLI and the API read stays zh-CN, as it was when it paused.
    db.session.refresh(send)
    assert (
        send.paused_reason.startswith("剩余 1,500 封将于")
        and "配额恢复后继续" in send.paused_reason
    )
    # A refused step says why in English too (a paused send cannot be paused again).
    from tests.conftest import csrf_token

    token = csrf_token(client, f"/sends/{send.id}?lang=en")
    page = client.post(
        f"/sends/{send.id}/pause?lang=en", data={"csrf_token": token}, follow_redirects=True
    ).get_data(as_text=True)
    assert f"Send #{send.id}: Paused, so it cannot be paused." in page


def test_a_paused_sends_reason_in_chinese(app, staff, sample_text):
    _send, _client, text = _paused_send(app, staff, sample_text, "zh-CN")
    assert "剩余 1,500 封将于" in text and "配额恢复后继续" in text and "自动暂停" in text


def test_phrases_of_delivery_and_the_send_service_in_english(app):
    from flask_babel import force_locale, gettext

    from newsletter.delivery import control
    from newsletter.delivery.pipeline import SendError
    from newsletter.sends import service, testsend

    with app.test_request_context("/"):
        for call, zh in (
            (lambda: control.progress(db.session, 999), "没有发送 #999。"),
            (lambda: testsend.clean_test_addresses(""), "请填写至少一个收件地址。"),
            (lambda: service.send_issue(db.session, app.config, 999, []), "没有第 999 期。"),
        ):
            with pytest.raises(SendError) as caught:
                call()
            assert str(caught.value) == zh  # the CLI, the API and the log: zh-CN
            with force_locale("en"):
                assert not CJK.search(caught.value.phrase.text(gettext)), zh
