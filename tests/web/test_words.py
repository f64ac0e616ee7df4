"""Every word in the page's language (issue 13): state and group names instead of codes,
error pages in the layout with a way back, nav links only to pages the role can open, a
favicon, one date format (Asia/Shanghai), "第 N 期" one way; the English catalogue is
complete."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser

import pytest
from babel.messages.extract import extract_from_dir
from sqlalchemy import select

from newsletter.bulletin.service import import_issue
from newsletter.delivery.models import Send, SendStatus
from newsletter.display import when
from newsletter.extensions import db
from newsletter.review import service
from subscribers.models import Group, Membership, Subscriber
from tests.conftest import ROOT
from tests.staff.conftest import login
from tests.subscribers.test_translations import KEYWORDS, check_english

RAW_CODES = re.compile(
    r">\s*(done|queued|sending|paused|cancelled|scheduled|in_review|draft|"
    r"approved|sent|bounced|regular|priority|leadership|members|media)\s*<"
)


def all_msgids() -> set[str]:
    ids: set[str] = set()
    for folder, method in (
        (ROOT / "newsletter", [("**.py", "python"), ("**.html", "jinja2"), ("**.txt", "jinja2")]),
        (ROOT / "subscribers", [("**.py", "python")]),
    ):
        for _f, _l, message, _c, _x in extract_from_dir(str(folder), method, keywords=KEYWORDS):
            ids.add(message if isinstance(message, str) else message[0])
    return ids


def test_the_english_catalogue_has_every_string_with_its_placeholders():
    check_english(all_msgids(), 500)  # every page, not only the subscriber pages


@pytest.fixture
def sent_world(app, staff, sample_text):
    """An issue sent to two groups, so states and group names appear on the pages."""
    editor, reviewer = staff("editor", name="王编辑"), staff("reviewer", name="李复核")
    issue, _ = import_issue(db.session, sample_text)
    service.submit(db.session, issue, editor, notify_people=False)
    service.approve(db.session, issue, reviewer, notify_people=False)
    send = Send(issue_id=issue.id, group_codes=["leadership", "members"], status=SendStatus.DONE)
    db.session.add(send)
    issue.status = "sent"
    db.session.commit()
    return issue, send


def test_chinese_pages_show_no_raw_state_or_group_codes(app, staff, sent_world):
    _issue, send = sent_world
    admin = login(app, staff("admin", name="周管理"))
    for path in (
        "/",
        "/issues",
        "/issues/396",
        "/issues/396/review",
        "/review",
        "/sends",
        f"/sends/{send.id}",
        "/reports/",
        f"/reports/sends/{send.id}",
        "/staff/audit",
        "/staff/subscribers/",
        "/dev/mailbox/",
    ):
        response = admin.get(path)
        assert response.status_code == 200, path
        page = response.get_data(as_text=True)
        assert not RAW_CODES.findall(page), (path, RAW_CODES.findall(page))
        assert "leadership" not in re.sub(r'(value|href|name|class|data-\w+)="[^"]*"', "", page)
    page = admin.get("/issues/396").get_data(as_text=True)
    assert "协会领导、会员单位" in page or "协会领导、协会会员单位" in page


def test_english_pages_are_english(app, staff, sent_world):
    admin = login(app, staff("admin", name="Zhou"))
    cjk = re.compile(r"[\u4e00-\u9fff]")
    for path in ("/?lang=en", "/review?lang=en", "/nowhere?lang=en"):
        page = admin.get(path).get_data(as_text=True)
        # the interface is English; the bulletin's own content (titles, names) stays Chinese
        ui = re.sub(r"<(h2|li|p class=\"muted\"|title)[^>]*>.*?</\1>", "", page, flags=re.S)
        ui = ui.replace("行业动态周报", "")  # the bulletin's name is content too
        assert not cjk.search(ui), (path, cjk.findall(ui)[:20])
        nav = re.search(r"<header.*?</header>", page, re.S).group(0)
        assert not cjk.search(re.sub(r'<a class="brand".*?</a>', "", nav, flags=re.S)), path
        assert "Home" in nav and "Issues" in nav
    assert "Page not found" in admin.get("/nowhere?lang=en").get_data(as_text=True)
    page = admin.get("/?lang=en").get_data(as_text=True)
    assert "Done" in page and "See the send report" in page


def test_english_staff_pages_say_numbers_counts_and_brackets_in_english(app, staff, sent_world):
    """What surrounds the bulletin's own words: the issue number, the section and article
    counts, the plain-text part's length, a reviewer's address, a group's head count."""
    admin = login(app, staff("admin", name="Zhou"))
    admin.get("/?lang=en")
    edit = admin.get("/issues/396/edit").get_data(as_text=True)
    assert "<h1>Edit · No. 396</h1>" in edit and "第 396 期" not in edit
    assert "7 sections, 31 articles" in edit and "个栏目" not in edit
    detail = admin.get("/issues/396").get_data(as_text=True)
    assert re.search(r"Plain-text part \([\d,]+ characters\)", detail) and "字）" not in detail
    review = admin.get("/issues/396/review").get_data(as_text=True)
    assert re.search(r"李复核 \(reviewer-\w+@example\.org\)", review), review
    media = db.session.scalar(select(Group).where(Group.code == "media"))
    db.session.add(Subscriber(email="one@example.org", memberships=[Membership(group=media)]))
    db.session.commit()
    merge = admin.get("/staff/groups").get_data(as_text=True)
    assert "(media, 1 person)" in merge and "(tech, 0 people)" in merge  # both plural forms
    assert "1 people" not in merge and "人）" not in merge
    admin.get("/?lang=zh-CN")
    assert "<h1>编辑 · 第 396 期</h1>" in admin.get("/issues/396/edit").get_data(as_text=True)
    groups = admin.get("/staff/groups").get_data(as_text=True)
    assert "（media，1 人）" in groups and "（tech，0 人）" in groups


@pytest.mark.parametrize(
    "code,path,role",
    [
        (404, "/issues/9999", "editor"),
        (403, "/staff/subscribers/", "reviewer"),
        (404, "/no/such/page", "editor"),
    ],
)
def test_error_pages_are_in_the_layout_with_a_way_back(app, staff, code, path, role):
    client = login(app, staff(role))
    response = client.get(path, headers={"Referer": "http://localhost/issues"})
    page = response.get_data(as_text=True)
    assert response.status_code == code
    assert 'class="topbar"' in page and 'href="/"' in page and "返回首页" in page
    assert f"错误代码 {code}" in page and 'href="http://localhost/issues"' in page
    assert "Forbidden" not in page and "Not Found" not in page


def test_api_errors_stay_json(app, api):
    client, headers = api("editor")
    response = client.get("/api/v1/nothing-here", headers=headers)
    assert response.status_code == 404 and response.get_json()["error"]["status"] == 404


def test_400_and_405_pages(app, staff):
    client = login(app, staff("editor"))
    r = client.get("/issues/396/email?edition=vip")
    assert r.status_code in (400, 404)
    assert "返回首页" in r.get_data(as_text=True)
    r = client.delete("/issues")
    assert r.status_code == 405 and "请求方式不对" in r.get_data(as_text=True)


def test_nav_offers_only_what_the_role_can_open(app, staff):
    for roles in (("reviewer",), ("sender",), ("editor",), ("admin",)):
        client = login(app, staff(*roles))
        page = client.get("/").get_data(as_text=True)
        nav = re.search(r"<header.*?</header>", page, re.S).group(0)
        for href in re.findall(r'href="(/[^"]*)"', nav):
            status = client.get(href).status_code
            assert status in (200, 301, 302), (roles, href, status)
    nav = login(app, staff("reviewer")).get("/").get_data(as_text=True)
    assert 'href="/staff/subscribers/"' not in nav
    assert 'href="/staff/subscribers/"' in login(app, staff("editor")).get("/").get_data(
        as_text=True
    )


def test_favicon(app, client):
    r = client.get("/favicon.ico")
    assert r.status_code == 301 and r.headers["Location"].endswith("/static/favicon.svg")
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    assert 'rel="icon"' in client.get("/staff/login").get_data(as_text=True)


def test_one_date_format_in_shanghai_time(app):
    assert when(dt.datetime(2026, 12, 1, 8, 5)) == "2026-12-01 16:05"  # naive UTC
    assert when(dt.datetime(2026, 12, 1, 8, 5, tzinfo=dt.UTC)) == "2026-12-01 16:05"
    assert when(dt.date(2024, 1, 8)) == "2024-01-08"
    assert when(None) == "" and when(None, "—") == "—"
    app.config["BABEL_DEFAULT_TIMEZONE"] = "UTC"
    assert when(dt.datetime(2026, 12, 1, 8, 5)) == "2026-12-01 08:05"


def test_no_second_date_filter_or_strftime_in_templates():
    templates = list((ROOT / "newsletter" / "templates").rglob("*.html"))
    for path in templates:
        text = path.read_text()
        for old in ("strftime", "|staff_time", "|local_time", "|cn_date", "to_local("):
            assert old not in text, (path, old)


def test_issue_numbers_are_spelled_one_way(app, sample_text, staff):
    from newsletter.render import Edition, render_edition

    issue, _ = import_issue(db.session, sample_text)
    subject = render_edition(
        issue.to_doc(), Edition.REGULAR, archive_url="https://example.org/a"
    ).subject
    assert "第 396 期" in subject
    page = login(app, staff("editor")).get("/issues").get_data(as_text=True)
    assert "第 396 期" in page and "第396期" not in page


def test_the_invitation_has_its_own_wording(app, staff, smtp, run_jobs):
    import email
    from email import policy

    from newsletter.staff import accounts

    user = accounts.create_account(db.session, "new-editor@example.org", "新编辑", ["editor"])
    accounts.send_password_link(user, accounts.INVITE)
    run_jobs()
    msg = email.message_from_bytes(smtp.received[-1].data, policy=policy.default)
    text = msg.get_body(("plain",)).get_content()
    assert str(msg["Subject"]).endswith("邀请您开通员工账号")
    assert "角色：编辑人员" in text and "/staff/login" in text
    assert "重设" not in text and "如果不是您本人申请" not in text


def test_the_suppression_list_shows_no_address(app, staff):
    from subscribers import service as sub_service
    from subscribers.models import Suppression

    sub_service.add_suppression(
        db.session,
        "gone@example.org",
        "bounced",
        "smtp; 550 5.1.1 <gone@example.org>: User unknown",
    )
    db.session.commit()
    stored = db.session.scalar(select(Suppression))
    assert "gone@example.org" not in stored.detail and "User unknown" in stored.detail
    page = login(app, staff("editor")).get("/staff/subscribers/suppressions").get_data(as_text=True)
    assert "gone@example.org" not in page and "〔地址已隐去〕" in page


CJK = re.compile(r"[\u4e00-\u9fff]")


class _Visible(HTMLParser):
    """The text a reader sees: text nodes and the <title>, not scripts, styles or attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        self._hidden += tag in ("script", "style")

    def handle_endtag(self, tag):
        self._hidden -= tag in ("script", "style")

    def handle_data(self, data):
        if not self._hidden and data.strip():
            self.parts.append(data.strip())


def visible_text(page: str, content: list[str]) -> str:
    """The page's words, with the bulletin's and the groups' own (Chinese) names cut out."""
    parser = _Visible()
    parser.feed(page)
    text = "\n".join(parser.parts)
    for name in sorted(content, key=len, reverse=True):
        text = text.replace(name, "")
    return text


def _send_pages(app, staff, sample_text, lang: str) -> dict[str, str]:
    from subscribers.models import Group
    from tests.conftest import approve_for_tests, csrf_token
    from tests.delivery.test_send_end_to_end import add_readers

    issue = approve_for_tests(import_issue(db.session, sample_text)[0])
    add_readers()
    at = dt.datetime(2030, 1, 1, 1, 0)
    send = Send(issue_id=issue.id, group_codes=["media"], status="scheduled", scheduled_at=at)
    db.session.add(send)
    db.session.commit()
    send_id = send.id
    client = login(app, staff("sender", name="Zhou" if lang == "en" else "周发送"))
    form = {
        "csrf_token": csrf_token(client, "/issues/396/send"),
        "groups": ["leadership", "members", "media"],
        "action": "preview",
    }
    pages = {
        "send": client.get(f"/issues/396/send?lang={lang}"),
        "counted": client.post(f"/issues/396/send?lang={lang}", data=form),
        "progress": client.get(f"/sends/{send_id}?lang={lang}"),
        "sends": client.get(f"/sends?lang={lang}"),
    }
    app.config["MAX_CONTENT_LENGTH"] = 4 * 1024  # the backstop 413 for every form
    pages["413"] = client.post(f"/staff/me?lang={lang}", data={"current": "x" * (8 * 1024)})
    assert pages["413"].status_code == 413
    assert all(r.status_code in (200, 413) for r in pages.values())
    # Content, not interface: the groups' names, the bulletin's 报/发 and its name.
    names = [*db.session.scalars(select(Group.name)), "报：", "发：", "行业动态周报"]
    return {k: visible_text(r.get_data(as_text=True), names) for k, r in pages.items()}


def test_the_send_pages_and_the_413_page_speak_english(app, staff, sample_text):
    pages = _send_pages(app, staff, sample_text, "en")
    for name, text in pages.items():
        assert not CJK.search(text), (name, CJK.findall(text)[:20], text)
    assert "Count the recipients" in pages["send"] and "Recipient groups" in pages["send"]
    assert "Leadership edition (sent first): 2" in pages["counted"]
    assert "Confirm and send now" in pages["counted"]
    assert "Cancel the send" in pages["progress"] and "Reschedule" in pages["progress"]
    assert "File too large" in pages["413"] and "Error 413" in pages["413"]


def test_the_same_pages_in_chinese(app, staff, sample_text):
    pages = _send_pages(app, staff, sample_text, "zh-CN")
    for name, text in pages.items():
        assert CJK.search(text), name
    assert "统计收件人" in pages["send"] and "收件分组" in pages["send"]
    assert "领导版（优先发送）：2 人" in pages["counted"] and "确认立即发送" in pages["counted"]
    assert "取消发送" in pages["progress"] and "改期" in pages["progress"]
    assert "文件太大" in pages["413"] and "错误代码 413" in pages["413"]
