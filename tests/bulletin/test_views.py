"""The staff pages of an issue through HTTP: import upload, the edit form, the issue page
(preview, test send through the real queue and SMTP), role checks, and Chromium screenshots."""

from __future__ import annotations

import email
import io
import re
from email import policy

import pytest
from sqlalchemy import func, select

from newsletter.bulletin.models import Issue, IssueStatus
from newsletter.delivery.models import Delivery, Send
from newsletter.extensions import db
from tests.bulletin.conftest import field_name, page_csrf, read_form, set_status, stored
from tests.conftest import csrf_token

XSS_TITLE = '<script>alert("t")</script>标题'
XSS_PARA = "<img src=x onerror=alert(1)>正文。"


def upload(client, data: bytes, name: str = "weekly.txt", save: bool = True):
    """Upload, then (when the preview came) press 保存为草稿 as a browser would."""
    response = client.post(
        "/issues/import",
        data={"csrf_token": csrf_token(client, "/issues/import"), "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )
    if response.status_code != 200 or not save:
        return response
    return preview_step(client, response, "save")


def preview_step(client, page, op: str, **fields):
    form = read_form(page.get_data(as_text=True), "im-form")
    return client.post("/issues/import/preview", data={**form, **fields, "op": op})


def issue_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Issue))


def post_edit(client, fields: dict, op: str = "save", number: int = 396):
    return client.post(f"/issues/{number}/edit", data={**fields, "op": op})


def edit_form(client, number: int = 396) -> dict[str, str]:
    return read_form(client.get(f"/issues/{number}/edit").get_data(as_text=True))


# --- import ---------------------------------------------------------------------------------


def test_import_a_good_file_then_reimport_updates_the_draft(editor, sample_text):
    response = upload(editor, sample_text)
    assert response.status_code == 302 and response.headers["Location"] == "/issues/396"
    page = editor.get("/issues/396").get_data(as_text=True)
    assert "已导入第 396 期：7 个栏目，31 篇文章。" in page
    changed = sample_text.replace(
        "哔哩哔哩公布 2023 百大 UP 主名单".encode(), "哔哩哔哩公布 2023 年度百大 UP 主名单".encode()
    )
    assert upload(editor, changed).status_code == 302
    assert "已更新草稿第 396 期" in editor.get("/issues/396").get_data(as_text=True)
    assert issue_count() == 1
    assert "年度百大" in str(stored().to_doc().to_json())


def test_a_malformed_file_shows_the_line_number_and_writes_nothing(editor, sample_text):
    broken = sample_text.replace("第 396 期".encode(), "第 三百 期".encode())
    response = upload(editor, broken)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    line = sample_text.decode().splitlines().index("第 396 期") + 1
    assert f"无法导入：第 {line} 行：" in page and "应为期号" in page  # in Chinese (issue 13)
    assert "im-form" not in page  # no preview of a file that does not parse
    assert issue_count() == 0


def test_a_file_over_the_limit_is_refused_with_a_clear_message(app, editor, sample_text):
    app.config["IMPORT_MAX_BYTES"] = 8 * 1024  # the sample is ~16 KB
    response = upload(editor, sample_text)
    assert response.status_code == 400
    assert "文件太大：上限为 8 KB" in response.get_data(as_text=True)
    huge = upload(editor, sample_text * 20)  # stopped before it is parsed
    assert huge.status_code == 413
    assert "文件太大：上限为 8 KB" in huge.get_data(as_text=True)
    assert issue_count() == 0


def test_import_of_a_sent_issue_is_refused(editor, sample_text, sample_issue):
    set_status(396, IssueStatus.SENT)
    response = upload(editor, sample_text)
    assert response.status_code == 400 and "无法导入" in response.get_data(as_text=True)


# --- editing --------------------------------------------------------------------------------


def test_the_edit_page_shows_the_whole_issue(editor, sample_issue):
    fields = edit_form(editor)
    assert fields["number"] == "396" and fields["date"] == "2024-01-08"
    assert fields["title"] == "行业动态周报" and fields["publisher"] == "中国网络视听协会"
    assert fields["sections-0-name"] == "要闻"
    assert fields["sections-0-articles-0-title"] == "全国宣传部长会议在京召开 蔡奇出席并讲话"
    assert fields["sections-0-articles-0-move_to"] == "0"
    assert sum(k.endswith("-title") for k in fields) == 31
    assert fields["summary"].splitlines()[0] == "全国宣传部长会议在京召开 蔡奇出席并讲话"


def test_a_good_edit_is_saved(editor, sample_issue):
    fields = edit_form(editor)
    fields["title"] = "行业动态周报（更正版）"
    fields["editor_note"] = "请各位领导重点关注本期要闻。"
    fields["summary"] += "\n新增一条摘要"
    fields["sections-1-name"] = "行业新闻"
    fields["sections-1-articles-0-body"] = "第一段。\n\n第二段，\n接着第二段。"
    response = post_edit(editor, fields)
    assert response.status_code == 302 and response.headers["Location"] == "/issues/396/edit"
    issue = stored()
    assert issue.title == "行业动态周报（更正版）"
    assert issue.editor_note == "请各位领导重点关注本期要闻。"
    assert issue.summary[-1] == "新增一条摘要" and issue.sections[1].name == "行业新闻"
    assert issue.sections[1].articles[0].paragraphs == ["第一段。", "第二段，接着第二段。"]
    assert "已保存。" in editor.get("/issues/396/edit").get_data(as_text=True)


def test_a_bad_edit_rerenders_with_messages_and_changes_nothing(editor, sample_issue):
    before = stored().to_doc().to_json()
    fields = edit_form(editor)
    fields["title"] = "这次不该被保存"
    fields["sections-2-articles-0-title"] = "   "
    fields["sections-3-articles-1-body"] = "\n\n"
    fields["sections-4-name"] = "要闻"
    response = post_edit(editor, fields)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "未保存：请先修改以下 3 处。" in page
    assert "第 1 篇文章的标题不能为空" in page and "第 2 篇文章没有正文" in page
    assert "栏目「要闻」重名" in page
    assert 'href="#sections-2-articles-0-title"' in page  # the summary links to it
    assert 'aria-invalid="true"' in page
    again = read_form(page)
    assert again["title"] == "这次不该被保存"  # the input is kept ...
    assert stored().to_doc().to_json() == before  # ... nothing is written


def test_values_of_the_wrong_type_rerender_with_messages(editor, sample_issue):
    fields = edit_form(editor)
    fields["number"], fields["date"] = "三九六", "2024-02-30"
    response = post_edit(editor, fields)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "期号" in page and "日期" in page and "未保存" in page
    assert stored().number == 396


def test_a_number_already_taken_is_refused(editor, sample_issue, sample_text):
    other = sample_text.replace("第 396 期".encode(), "第 397 期".encode())
    upload(editor, other)
    fields = edit_form(editor, 397)
    fields["number"] = "396"
    response = post_edit(editor, fields, number=397)
    assert response.status_code == 422 and "第 396 期已存在" in response.get_data(as_text=True)


def test_renumbering_redirects_to_the_new_number(editor, sample_issue):
    fields = edit_form(editor)
    fields["number"] = "400"
    response = post_edit(editor, fields)
    assert response.headers["Location"] == "/issues/400/edit" and stored(400) is not None


def test_script_in_a_title_or_paragraph_comes_out_escaped(editor, sample_issue):
    fields = edit_form(editor)
    fields["sections-0-articles-0-title"] = XSS_TITLE
    fields["sections-0-articles-0-body"] = XSS_PARA
    assert post_edit(editor, fields).status_code == 302
    edit_page = editor.get("/issues/396/edit").get_data(as_text=True)
    detail = editor.get("/issues/396").get_data(as_text=True)
    email_html = editor.get("/issues/396/email").get_data(as_text=True)
    for html in (edit_page, detail, email_html):
        assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in edit_page and "&lt;img src=x onerror=alert(1)&gt;" in edit_page
    assert "&lt;script&gt;" in email_html and "&lt;img src=x" in email_html
    assert read_form(edit_page)["sections-0-articles-0-title"] == XSS_TITLE  # round trip


def test_moving_reordering_and_deleting(editor, sample_issue):
    fields = edit_form(editor)
    first, second = fields["sections-1-articles-0-title"], fields["sections-1-articles-1-title"]
    response = post_edit(editor, fields, op="art-down:1:0")
    assert response.status_code == 302 and response.headers["Location"].endswith("#s1-a1")
    assert [a.title for a in stored().sections[1].articles[:2]] == [second, first]

    fields = edit_form(editor)  # move an article with its menu
    name = field_name(editor.get("/issues/396/edit").get_data(as_text=True), first)
    fields[name.replace("-title", "-move_to")] = "0"
    fields["sections-0-articles-0-title"] = "同时改的标题"  # an edit in the same submit
    assert post_edit(editor, fields).status_code == 302
    issue = stored()
    assert issue.sections[0].articles[-1].title == first
    assert issue.sections[0].articles[0].title == "同时改的标题"
    assert first not in [a.title for a in issue.sections[1].articles]

    fields = edit_form(editor)
    names = [s.name for s in stored().sections]
    assert post_edit(editor, fields, op="sec-up:2").status_code == 302
    assert [s.name for s in stored().sections][:3] == [names[0], names[2], names[1]]

    count = len(stored().sections[0].articles)
    fields = edit_form(editor)
    assert post_edit(editor, fields, op="art-del:0:0").status_code == 302
    assert len(stored().sections[0].articles) == count - 1

    fields = edit_form(editor)
    last = stored().sections[-1].name
    assert post_edit(editor, fields, op="sec-del:6").status_code == 302
    assert last not in [s.name for s in stored().sections] and len(stored().sections) == 6


def test_adding_an_article_and_a_section(editor, sample_issue):
    response = post_edit(editor, edit_form(editor), op="art-add:0")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "已加入一篇空白文章" in page and "表单中有尚未保存的修改" in page
    fields = read_form(page)
    new = (
        len([k for k in fields if k.startswith("sections-0-articles-") and k.endswith("-title")])
        - 1
    )
    assert fields[f"sections-0-articles-{new}-title"] == ""
    assert len(stored().sections[0].articles) == new  # not stored yet
    fields[f"sections-0-articles-{new}-title"] = "新加的文章"
    fields[f"sections-0-articles-{new}-body"] = "新加文章的正文。"
    assert post_edit(editor, fields).status_code == 302
    assert stored().sections[0].articles[-1].title == "新加的文章"

    page = post_edit(editor, edit_form(editor), op="sec-add").get_data(as_text=True)
    fields = read_form(page)
    assert fields["sections-7-name"] == ""
    refused = post_edit(editor, fields)  # still blank: refused
    assert refused.status_code == 422 and "第 8 个栏目的名称不能为空" in refused.get_data(
        as_text=True
    )
    fields.update(
        {
            "sections-7-name": "国际",
            "sections-7-articles-0-title": "海外动态",
            "sections-7-articles-0-body": "一段。",
        }
    )
    assert post_edit(editor, fields).status_code == 302
    assert stored().sections[-1].name == "国际"


def test_deleting_the_last_article_of_a_section_asks_to_delete_the_section(editor, sample_issue):
    fields = edit_form(editor)
    assert "sections-0-articles-2-title" not in fields  # 要闻 has two articles
    post_edit(editor, fields, op="art-del:0:0")
    response = post_edit(editor, edit_form(editor), op="art-del:0:0")
    assert response.status_code == 422
    assert "栏目「要闻」没有文章：请加入文章或删除此栏目" in response.get_data(as_text=True)
    assert len(stored().sections[0].articles) == 1


def test_a_stale_form_is_refused_then_can_overwrite(editor, staff_client, sample_issue):
    mine = edit_form(editor)
    other = staff_client("editor")
    theirs = edit_form(other)
    theirs["title"] = "别人先保存"
    assert post_edit(other, theirs).status_code == 302
    mine["title"] = "我后保存"
    response = post_edit(editor, mine)
    assert response.status_code == 409 and "已被他人保存" in response.get_data(as_text=True)
    assert stored().title == "别人先保存"
    again = read_form(response.get_data(as_text=True))
    assert again["title"] == "我后保存"
    assert post_edit(editor, again).status_code == 302 and stored().title == "我后保存"


def test_a_sent_issue_is_read_only(editor, sample_issue):
    fields = edit_form(editor)
    set_status(396, IssueStatus.SENT)
    page = editor.get("/issues/396/edit").get_data(as_text=True)
    assert "内容已定稿" in page and "<fieldset disabled>" in page
    fields["title"] = "改不了"
    response = post_edit(editor, fields)
    assert response.status_code == 409 and stored().title == "行业动态周报"
    assert "编辑内容" not in editor.get("/issues/396").get_data(as_text=True)


def test_edits_and_imports_are_recorded_for_the_approval_workflow(editor, make_staff, sample_text):
    from newsletter.review import service as review
    from newsletter.review.models import ReviewAction, ReviewEvent, ReviewState
    from newsletter.staff.models import StaffUser

    assert upload(editor, sample_text).status_code == 302
    events = db.session.scalars(select(ReviewEvent)).all()
    assert [e.action for e in events] == [ReviewAction.IMPORTED]
    author = db.session.get(StaffUser, events[0].staff_id)
    assert author.email.startswith("editor-")
    review.submit(db.session, stored(), author)
    review.approve(db.session, stored(), make_staff("reviewer"))
    assert review.review_of(db.session, stored()).state == ReviewState.APPROVED

    fields = edit_form(editor)
    fields["title"] = "批准后又改了"
    assert post_edit(editor, fields).status_code == 302
    db.session.expire_all()
    assert review.review_of(db.session, stored()).state == ReviewState.IN_REVIEW
    actions = [e.action for e in db.session.scalars(select(ReviewEvent).order_by(ReviewEvent.id))]
    assert actions[-2:] == [ReviewAction.EDITED, ReviewAction.REOPENED]


# --- roles ----------------------------------------------------------------------------------

STAFF_GETS = ["/issues/396/edit", "/issues/import", "/issues/396", "/issues/396/email"]


def test_anonymous_visitors_are_sent_to_the_login(client, sample_issue):
    for path in STAFF_GETS:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/staff/login?next=")


def test_a_reviewer_may_look_but_not_edit_import_or_send_tests(staff_client, editor, sample_issue):
    fields = edit_form(editor)
    reviewer = staff_client("reviewer")
    assert reviewer.get("/issues/396").status_code == 200
    assert reviewer.get("/issues/396/email?edition=priority").status_code == 200
    token = page_csrf(reviewer, "/issues/396")
    for path in ("/issues/396/edit", "/issues/import"):
        assert reviewer.get(path).status_code == 403
    assert (
        reviewer.post("/issues/396/edit", data={**fields, "csrf_token": token}).status_code == 403
    )
    assert (
        reviewer.post(
            "/issues/396/test-send",
            data={"csrf_token": token, "edition": "regular", "addresses": "a@example.org"},
        ).status_code
        == 403
    )
    assert db.session.scalar(select(func.count()).select_from(Send)) == 0
    page = reviewer.get("/issues/396").get_data(as_text=True)
    assert "只有编辑可以发送测试邮件" in page and "编辑内容" not in page


# --- preview and test send ---------------------------------------------------------------------


def test_the_issue_page_shows_both_editions_with_sizes_and_frames(editor, sample_issue):
    page = editor.get("/issues/396").get_data(as_text=True)
    assert "普通版" in page and "领导版" in page and "正在预览" in page
    assert "【领导版】行业动态周报 第 396 期（2024年1月8日）" in page
    assert page.count("HTML ") >= 2 and "KB" in page and "Gmail 截断上限的" in page
    assert page.count('src="/issues/396/email?edition=regular"') == 2
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in page
    priority = editor.get("/issues/396?edition=priority").get_data(as_text=True)
    assert priority.count('src="/issues/396/email?edition=priority"') == 2


def test_the_frame_document_is_sandboxed_by_its_own_headers(editor, sample_issue):
    response = editor.get("/issues/396/email?edition=priority")
    csp = response.headers["Content-Security-Policy"]
    assert csp.startswith("sandbox") and "frame-ancestors 'self'" in csp
    assert "allow-scripts" not in csp and "allow-same-origin" not in csp
    html = response.get_data(as_text=True)
    assert "{{" not in html and "领导版" in html


def test_the_editor_note_appears_only_in_the_priority_preview(editor, sample_issue):
    fields = edit_form(editor)
    fields["editor_note"] = "只给领导看的编者按。"
    post_edit(editor, fields)
    assert "只给领导看的编者按" in editor.get("/issues/396/email?edition=priority").get_data(
        as_text=True
    )
    assert "只给领导看的编者按" not in editor.get("/issues/396/email").get_data(as_text=True)


@pytest.mark.parametrize(
    "addresses,message",
    [
        ("not-an-address", "这些地址无效：not-an-address"),
        ("a@example.org, b@", "这些地址无效：b@"),
        (" ".join(f"u{n}@example.org" for n in range(11)), "一次最多发给 10 个地址（填了 11 个）"),
        ("   ", "请填写至少一个收件地址"),
    ],
)
def test_bad_test_addresses_are_refused_and_nothing_is_queued(
    editor, sample_issue, addresses, message
):
    response = editor.post(
        "/issues/396/test-send",
        data={
            "csrf_token": csrf_token(editor, "/issues/396"),
            "edition": "regular",
            "addresses": addresses,
        },
    )
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Send)) == 0


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)


@pytest.mark.parametrize("edition", ["regular", "priority"])
def test_a_test_send_goes_through_the_queue_to_smtp(editor, sample_issue, smtp, run_jobs, edition):
    from tests.conftest import approve_for_tests

    def post():
        return editor.post(
            "/issues/396/test-send",
            data={
                "csrf_token": csrf_token(editor, "/issues/396"),
                "edition": edition,
                "addresses": "Tester@Example.org\nsecond@example.org, tester@example.org",
            },
        )

    refused = post()  # not approved yet: outside addresses are refused (issue 12)
    assert refused.status_code == 400
    assert "只能发到员工账号自己的邮箱" in refused.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Send)) == 0
    approve_for_tests(sample_issue)
    response = post()
    assert response.status_code == 302, response.get_data(as_text=True)
    assert "测试邮件" in editor.get(response.headers["Location"]).get_data(as_text=True)
    send = db.session.scalar(select(Send))
    assert send.is_test and send.created_by.startswith("editor-")
    run_jobs()
    received = {m.rcpt_tos[0]: parse(m.data) for m in smtp.received}
    assert sorted(received) == ["second@example.org", "tester@example.org"]
    for msg in received.values():
        assert msg["Subject"].startswith("[测试]")
        assert ("【领导版】" in msg["Subject"]) == (edition == "priority")
        html = msg.get_body(("html",)).get_content()
        assert "全国宣传部长会议在京召开" in html
        # "在浏览器中查看" leads through the click-tracking redirect (tracking is on, test
        # sends too) to the archive copy
        link = re.search(r'<a href="([^"]+)"[^>]*>在浏览器中查看', html).group(1)
        tracked = link.removeprefix("http://newsletter.test")
        assert tracked != "/archive/396", tracked
        target = editor.get(tracked).headers["Location"]
        assert target.removeprefix("http://newsletter.test") == "/archive/396"
    assert {d.edition for d in db.session.scalars(select(Delivery))} == {edition}
    assert stored().status == IssueStatus.DRAFT  # a test does not send the issue


# --- in a browser ------------------------------------------------------------------------------


def login(browser, live_server, make_staff):
    make_staff("editor", email="shot-editor@example.org", password="correct horse battery")
    context = browser.new_context(locale="zh-CN")  # as the editors' browsers (date inputs)
    page = context.new_page()
    page.goto(f"{live_server}/staff/login?next=/issues")
    page.fill("input[name=email]", "shot-editor@example.org")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url("**/issues")
    page.close()
    return context


@pytest.mark.browser
@pytest.mark.parametrize("width", [375, 800])
def test_edit_and_issue_pages_in_chromium(
    browser, live_server, make_staff, screenshot_dir, sample_issue, width
):
    context = login(browser, live_server, make_staff)
    try:
        page = context.new_page()
        # tall enough to hold both preview frames: Chromium leaves off-screen frames blank
        # in full-page screenshots
        page.set_viewport_size({"width": width, "height": 2000 if width == 800 else 1400})
        page.goto(f"{live_server}/issues/396?edition=priority", wait_until="networkidle")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        body = page.inner_text("body")
        for word in ("邮件预览", "普通版", "领导版", "正在预览", "发送测试邮件", "目录", "KB"):
            assert word in body, word
        frame = page.frame_locator(".bl-phone iframe").first
        assert "领导版" in frame.locator("body").inner_text()
        page.screenshot(path=str(screenshot_dir / f"bulletin-issue-{width}.png"))

        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server}/issues/396/edit", wait_until="networkidle")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        body = page.inner_text("body")
        for word in ("编辑 · 第 396 期", "刊头", "编者按", "仅领导版", "栏目与文章", "保存"):
            assert word in body, word
        assert page.input_value("#date") == "2024-01-08"
        page.screenshot(path=str(screenshot_dir / f"bulletin-edit-{width}.png"))

        page.fill("#sections-1-articles-0-title", "")  # a bad edit, saved with Enter
        page.press("#sections-1-name", "Enter")
        page.wait_for_load_state("networkidle")
        assert "未保存：请先修改以下 1 处。" in page.inner_text("#problems")
        page.click("#problems a")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(screenshot_dir / f"bulletin-edit-error-{width}.png"))
        assert stored().sections[1].articles[0].title  # nothing was written
    finally:
        context.close()
