"""Refusals of the staff services in the page's language (phrases, newsletter/phrase.py):
the groups page, staff accounts and passwords, API tokens, the issue import (and its
preview), the subscribers' CSV import and bulk changes. zh-CN by default, English with
?lang=en (remembered in a cookie); parameters are still interpolated and HTML-escaped.
And one name per state: an issue that went out is 已完成, an edit is 修改内容, everywhere."""

from __future__ import annotations

import io
import re

import pytest
from flask_babel import force_locale, gettext

from newsletter.extensions import db
from tests.conftest import csrf_token
from tests.staff.conftest import login, post_form

LANGS = ["en", "zh-CN"]


def _speaking(client, lang: str, path: str = "/staff/me") -> None:
    """Choose the language once, as a reader does; the cookie keeps it for what follows."""
    assert client.get(f"{path}?lang={lang}").status_code == 200


def _says(page: str, lang: str, english: str, chinese: str) -> None:
    if lang == "en":
        assert english in page and chinese not in page, (english, page)
    else:
        assert chinese in page, (chinese, page)


def _answers(response, status: int, lang: str, english: str, chinese: str) -> None:
    assert response.status_code == status, response.status_code
    _says(response.get_data(as_text=True), lang, english, chinese)


def _refusals(client, lang: str, cases) -> None:
    """POST each (path, form, page of its CSRF token, English, Chinese): a 400 saying it."""
    for path, form, token_from, english, chinese in cases:
        _answers(post_form(client, path, form, token_from=token_from), 400, lang, english, chinese)


# --- subscriber groups ---------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_group_refusals_in_the_pages_language(app, staff, lang):
    from newsletter.staff import groups

    groups.create_group(db.session, "partners", "<i>伙伴</i>")
    client = login(app, staff("admin"))
    _speaking(client, lang)
    page = "/staff/groups"
    merge = {"source": "tech", "target": "tech", "confirm": "y"}
    new = {"code": "Has Space", "name": "新组", "distribution": "发"}
    _refusals(
        client,
        lang,
        [
            # the name is said inside the sentence, escaped like any text of the page
            (
                "/staff/groups/media/edit",
                {"name": "<i>伙伴</i>"},
                page,
                "There is already a group named “&lt;i&gt;伙伴&lt;/i&gt;”.",
                "已有名为“&lt;i&gt;伙伴&lt;/i&gt;”的分组。",
            ),
            ("/staff/groups/merge", merge, page, "cannot be merged into itself.", "合并到它自己"),
            ("/staff/groups/new", new, page, "A code may only use lowercase", "代码只能用小写字母"),
        ],
    )


# --- staff accounts and passwords ----------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_account_and_password_refusals_in_the_pages_language(app, staff, lang):
    admin = staff("admin")
    staff("admin")  # not the last administrator: what is refused is switching oneself off
    client = login(app, admin)
    _speaking(client, lang)
    known = {"email": admin.email, "name": "<b>x</b>", "roles": "editor"}
    current = {"current": "correct horse battery"}
    _refusals(
        client,
        lang,
        [
            (
                "/staff/accounts/new",
                known,
                None,
                f"{admin.email} already has an account.",
                f"{admin.email} 已有账号。",
            ),
            (
                f"/staff/accounts/{admin.id}",
                {"name": "管理员", "roles": "admin"},  # `active` unticked: switching oneself off
                None,
                "You cannot deactivate your own account.",
                "不能停用自己的账号。",
            ),
            (
                "/staff/me",
                {**current, "password": "short", "confirm": "short"},
                None,
                "The password needs at least 10 characters.",
                "密码至少需要 10 个字符。",
            ),
            (
                "/staff/me",
                {**current, "password": "a-long-pass-1", "confirm": "x"},
                None,
                "The two passwords do not match.",
                "两次输入的密码不一致。",
            ),
        ],
    )
    link = client.get("/staff/password/not-a-token")
    _answers(link, 400, lang, "This link is not valid", "这个链接无效")


def test_token_and_bulk_refusals_in_english_and_chinese(app, staff):
    """Refusals the forms rarely let through (their own validators come first): the phrase
    says them in English, `str(exc)` (the CLI, the API, the log) in zh-CN."""
    from newsletter.staff import apitokens
    from subscribers import admin

    editor = staff("editor")
    with app.test_request_context("/"):
        for call, zh, english in (
            (
                lambda: apitokens.create_token(db.session, editor, "ci", ["admin"]),
                "您没有这些角色，不能授予令牌：admin",
                "You do not have these roles, so a token cannot be given them: admin",
            ),
            (
                lambda: apitokens.create_token(db.session, editor, "ci", ["editor"], days=999),
                "有效期须在 1 到 366 天之间（或不设期限）。",
                "The validity must be between 1 and 366 days (or no limit).",
            ),
            (
                lambda: admin.bulk_group(db.session, "nope", "add", ids=[1]),
                "未知分组：nope",
                "Unknown group: nope",
            ),
            (
                lambda: admin.bulk_group(db.session, "media", "add"),
                "没有选择订阅者。",
                "No subscribers were selected.",
            ),
        ):
            with pytest.raises(ValueError) as caught:
                call()
            assert str(caught.value) == zh
            assert caught.value.phrase.text() == zh  # type: ignore[attr-defined]
            with force_locale("en"):
                assert caught.value.phrase.text(gettext) == english  # type: ignore[attr-defined]


# --- the issue import ----------------------------------------------------------------------


def _upload_issue(client, data: bytes, name: str = "weekly.txt"):
    return client.post(
        "/issues/import",
        data={"csrf_token": csrf_token(client, "/issues/import"), "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


@pytest.mark.parametrize("lang", LANGS)
def test_issue_import_refusals_in_the_pages_language(app, staff, sample_text, lang):
    from tests.bulletin.conftest import read_form
    from tests.security.test_issue_limits import _with_articles

    client = login(app, staff("editor"))
    _speaking(client, lang, "/issues/import")
    lines = [line for line in sample_text.decode("utf-8").splitlines() if line.strip()]
    broken = "\n".join([*lines[:2], "第三百期", *lines[3:]]).encode()
    page = _upload_issue(client, broken).get_data(as_text=True)
    _says(page, lang, "Cannot import: line 3: expected the issue number", "无法导入：第 3 行：")

    big = _upload_issue(client, _with_articles(sample_text, 200))
    _answers(
        big,
        400,
        lang,
        "Cannot import: Too many articles: 2",  # the sample's own articles and 200 more
        "无法导入：文章太多：2",
    )

    preview = _upload_issue(client, sample_text)
    assert preview.status_code == 200
    body = preview.get_data(as_text=True)
    # where each title and paragraph came from: "line 5" / "第 5 行"
    if lang == "en":
        assert re.search(r"\bline \d+\b", body) and not re.search(r"第 \d+ 行", body)
    else:
        assert re.search(r"第 \d+ 行", body)
    form = read_form(body, "im-form")
    alias = client.post(
        "/issues/import/preview",
        data={**form, "op": "alias:0", "alias_name-0": "某某名称", "alias_group-0": "nope"},
    )
    _answers(alias, 400, lang, "There is no group with the code nope.", "没有代码为 nope 的分组。")
    gone = client.post(
        "/issues/import/preview",
        data={**form, "token": "not-a-preview", "op": "save"},
        follow_redirects=True,
    )
    _says(gone.get_data(as_text=True), lang, "please upload the file again", "请重新上传文件")


# --- the subscribers' CSV import -----------------------------------------------------------


def _upload_csv(client, data: bytes, default_group: str = ""):
    from tests.subscribers.test_import import upload

    return upload(client, data, default_group=default_group)


@pytest.mark.parametrize("lang", LANGS)
def test_csv_import_refusals_in_the_pages_language(app, staff, lang):
    client = login(app, staff("editor"))
    _speaking(client, lang, "/staff/subscribers/import")
    headless = _upload_csv(client, "wang@example.com,王\n".encode())
    _answers(headless, 400, lang, "Line 1 must be a header with an email column", "第 1 行应为表头")
    done = _upload_csv(client, "email,groups\nnot-an-<b>mail,media\na@example.com,火星\n".encode())
    assert done.status_code == 302
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    # each skipped row says why in the reader's language, its cell escaped as before
    _says(
        page,
        lang,
        "Invalid email address: not-an-&lt;b&gt;mail",
        "邮箱地址无效：not-an-&lt;b&gt;mail",
    )
    _says(page, lang, "Unknown group: 火星", "未知分组：火星")


def test_a_failed_background_import_says_why_in_the_readers_language(app, staff):
    """A worker runs in zh-CN (no request): the failure is stored as a phrase too, so an
    English page says it in English; the zh-CN text stays for the CLI and the JSON."""
    from subscribers import jobs
    from subscribers.models import ImportStatus, SubscriberImport

    imp = SubscriberImport(
        filename="later.csv",
        data=b"email\na@example.com\n",
        mode="confirmed",
        default_group="gone",  # deleted between the upload and the job
        errors=[],
    )
    db.session.add(imp)
    db.session.commit()
    assert jobs.execute(db.session, imp.id)["status"] == ImportStatus.FAILED
    db.session.refresh(imp)
    assert imp.message == "未知分组：gone" and imp.message_words["id"] == "未知分组：%(names)s"
    client = login(app, staff("editor"))
    zh = client.get(f"/staff/subscribers/imports/{imp.id}").get_data(as_text=True)
    assert "未知分组：gone" in zh
    en = client.get(f"/staff/subscribers/imports/{imp.id}?lang=en").get_data(as_text=True)
    assert "Unknown group: gone" in en and "未知分组" not in en


# --- one name per state --------------------------------------------------------------------


def test_each_state_and_step_has_one_name():
    from newsletter import states
    from newsletter.bulletin.parse_messages import zh
    from newsletter.display import LABELS

    assert states.ISSUE["sent"] == states.WORKFLOW["sent"] == states.SEND["done"] == "已完成"
    assert LABELS["issue"]["sent"]._args[0] == "已完成"  # type: ignore[attr-defined]
    assert states.REVIEW_ACTION["edited"] == "修改内容"
    assert LABELS["review_action"]["edited"]._args[0] == "修改内容"  # type: ignore[attr-defined]
    assert zh("issue 396 is sent; it cannot be replaced") == "第 396 期已完成，不能覆盖"


@pytest.mark.parametrize("lang", LANGS)
def test_a_sent_issues_edit_page_names_its_state_in_the_pages_language(
    app, staff, sample_text, lang
):
    from newsletter.bulletin.models import IssueStatus
    from newsletter.bulletin.service import import_issue

    issue, _ = import_issue(db.session, sample_text)
    issue.status = IssueStatus.SENT
    db.session.commit()
    client = login(app, staff("editor"))
    page = client.get(f"/issues/{issue.number}/edit?lang={lang}").get_data(as_text=True)
    _says(
        page,
        lang,
        "This issue is in the “Done” state: its content is final",
        "本期已完成，内容已定稿",
    )
    assert "已发送，内容已定稿" not in page
    refused = post_form(
        client, f"/issues/{issue.number}/edit", {"op": "save"}, f"/issues/{issue.number}/edit"
    )
    _answers(
        refused,
        409,
        lang,
        f"Issue {issue.number} is in the “Done” state: its content is final and cannot be changed.",
        f"第 {issue.number} 期已完成，内容已定稿，不能再修改。",
    )


# --- the edit page -------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_the_edit_pages_problems_and_notices_in_the_pages_language(app, staff, sample_text, lang):
    from newsletter.bulletin.service import import_issue
    from tests.bulletin.test_views import edit_form, post_edit

    import_issue(db.session, sample_text)
    client = login(app, staff("editor"))
    _speaking(client, lang, "/issues/396/edit")
    fields = edit_form(client)
    bad = {**fields, "sections-2-articles-0-title": "   ", "sections-4-name": "<b>要闻</b>"}
    refused = post_edit(client, {**bad, "sections-3-name": "<b>要闻</b>"})
    _answers(
        refused,
        422,
        lang,
        "This cannot be empty: the title of article 1 of the section “",
        "第 1 篇文章的标题不能为空。",
    )
    _says(
        refused.get_data(as_text=True),
        lang,
        "The section name “&lt;b&gt;要闻&lt;/b&gt;” is used twice: section 4 has it too.",
        "栏目「&lt;b&gt;要闻&lt;/b&gt;」重名：与第 4 个栏目同名。",
    )
    moved = post_edit(client, fields, op="sec-up:2")
    assert moved.status_code == 302
    _says(
        client.get(moved.headers["Location"]).get_data(as_text=True),
        lang,
        "The section was moved up and saved.",
        "栏目已上移并保存。",
    )
