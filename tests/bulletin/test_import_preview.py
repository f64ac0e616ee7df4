"""The import page's preview step through HTTP: nothing is stored before 保存; warnings
show beside their lines; moving a line between title and paragraph; mapping a 报/发 name
to a group (remembered for next week); a tampered or stale preview; every format."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from newsletter.bulletin.models import Issue
from newsletter.bulletin.parser import parse_issue
from newsletter.extensions import db
from subscribers.models import GroupAlias
from tests.bulletin import format_fixtures as fx
from tests.bulletin.conftest import read_form
from tests.conftest import csrf_token

TEXT = fx.ISSUE_397.decode("utf-8")


def issues() -> int:
    return db.session.scalar(select(func.count()).select_from(Issue))


def upload(client, data: bytes, name: str = "周报"):
    return client.post(
        "/issues/import",
        data={"csrf_token": csrf_token(client, "/issues/import"), "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def step(client, page, op: str, **fields):
    form = read_form(page.get_data(as_text=True), "im-form")
    return client.post("/issues/import/preview", data={**form, **fields, "op": op})


def html(response) -> str:
    return response.get_data(as_text=True)


def test_the_preview_shows_the_structure_and_stores_nothing_until_saved(editor):
    page = upload(editor, fx.gb18030(), "weekly.txt")
    assert page.status_code == 200
    body = html(page)
    assert "导入预览：第 397 期" in body and "尚未保存" in body and "GB18030" in body
    assert "5G 新通话商用进程加快！" in body and "没有需要核对的提醒" in body
    assert issues() == 0
    saved = step(editor, page, "save")
    assert saved.status_code == 302 and saved.headers["Location"] == "/issues/397"
    assert issues() == 1
    assert "已导入第 397 期：6 个栏目，13 篇文章。" in html(editor.get("/issues/397"))


def test_warnings_come_before_saving_and_name_their_place(editor):
    text = TEXT.replace("- ◆微短剧还能火多久？", "- ◆网络视听用户规模突破 11 亿")
    body = html(upload(editor, text.encode()))
    assert "1 条提醒" in body and "没有对应的文章标题" in body
    line = text.split("\n").index("- ◆网络视听用户规模突破 11 亿") + 1
    assert f"第 {line} 行" in body


def test_moving_a_line_between_title_and_paragraph(editor):
    # "非遗直播专场" lost its 。: the next title and its paragraph are glued onto it.
    text = TEXT.replace("非遗直播专场。", "非遗直播专场")
    page = upload(editor, text.encode())
    body = html(page)
    title_line = text.split("\n").index("爱奇艺会员收入连续四个季度增长") + 1
    assert "像是两篇文章" in body or "夹着像标题的一行" in body
    assert f'value="move:{title_line}:title"' in body
    moved = step(editor, page, f"move:{title_line}:title")
    assert moved.status_code == 200 and "已移动 1 处" in html(moved)
    assert "<h3>爱奇艺会员收入连续四个季度增长</h3>" in html(moved)
    # and back: the title becomes a paragraph of the article before it again
    back = step(editor, moved, f"move:{title_line}:para")
    assert "<h3>爱奇艺会员收入连续四个季度增长</h3>" not in html(back)
    # the move survives into the stored issue
    moved = step(editor, back, f"move:{title_line}:title")
    assert step(editor, moved, "save").status_code == 302
    stored = db.session.scalar(select(Issue).where(Issue.number == 397)).to_doc()
    assert "爱奇艺会员收入连续四个季度增长" in [a.title for a in stored.articles]
    assert stored.sections[1].articles[2].paragraphs[0].endswith("非遗直播专场")


def test_a_move_that_breaks_the_structure_is_refused_and_changes_nothing(editor):
    page = upload(editor, fx.ISSUE_397)
    first_title = TEXT.split("\n").index("国家广播电视总局部署 2024 年春节假期节目编排工作") + 1
    refused = step(editor, page, f"move:{first_title}:para")
    assert refused.status_code == 400
    assert "不能这样移动" in html(refused) and "应为文章标题" in html(refused)
    assert "已移动" not in html(refused)
    assert step(editor, refused, "save").status_code == 302  # the preview still works


def test_an_unknown_group_is_mapped_in_one_click_and_remembered(editor):
    text = TEXT.replace("报：协会领导", "报：理事会").encode()
    page = upload(editor, text)
    body = html(page)
    assert "“理事会”不是已有的订阅分组" in body
    k = re.search(r'name="alias_name-(\d+)" value="理事会"', body).group(1)
    assert '理事会 <span class="im-where im-unknown">（无对应分组）' in body
    assert '协会各会员单位 <span class="im-where">→ 分组 协会会员单位' in body
    mapped = step(editor, page, f"alias:{k}", **{f"alias_group-{k}": "leadership"})
    assert mapped.status_code == 200 and "不是已有的订阅分组" not in html(mapped)
    assert '理事会 <span class="im-where">→ 分组 协会领导' in html(mapped)
    alias = db.session.scalar(select(GroupAlias))
    assert (alias.alias, alias.group.code) == ("理事会", "leadership")
    assert alias.created_by.startswith("editor")
    # next week's issue: no warning any more
    assert "不是已有的订阅分组" not in html(upload(editor, text))
    assert issues() == 0


def test_mapping_to_a_group_that_does_not_exist_is_refused(editor):
    page = upload(editor, TEXT.replace("报：协会领导", "报：理事会").encode())
    k = re.search(r'name="alias_name-(\d+)"', html(page)).group(1)
    refused = step(editor, page, f"alias:{k}", **{f"alias_group-{k}": "nope"})
    assert refused.status_code == 400 and "没有代码为 nope 的分组" in html(refused)
    assert db.session.scalar(select(GroupAlias)) is None


def test_a_tampered_or_missing_preview_is_refused(editor):
    page = upload(editor, fx.ISSUE_397)
    form = read_form(html(page), "im-form")
    form["token"] = form["token"][:-3] + ("AAA" if not form["token"].endswith("AAA") else "BBB")
    r = editor.post("/issues/import/preview", data={**form, "op": "save"})
    assert r.status_code == 302 and r.headers["Location"] == "/issues/import"
    assert "预览已失效" in html(editor.get("/issues/import"))
    form.pop("token")
    r = editor.post("/issues/import/preview", data={**form, "op": "save"})
    assert r.status_code == 302 and issues() == 0


def test_a_preview_is_not_a_way_around_csrf(editor):
    page = upload(editor, fx.ISSUE_397)
    form = read_form(html(page), "im-form")
    form.pop("csrf_token")
    assert editor.post("/issues/import/preview", data={**form, "op": "save"}).status_code == 400
    assert issues() == 0


def test_a_reviewer_cannot_use_the_preview(staff_client, editor):
    page = upload(editor, fx.ISSUE_397)
    reviewer = staff_client("reviewer")
    form = {**read_form(html(page), "im-form"), "csrf_token": csrf_token(reviewer, "/issues")}
    r = reviewer.post("/issues/import/preview", data={**form, "op": "save"})
    assert r.status_code == 403 and issues() == 0


@pytest.fixture(scope="module")
def word_and_pdf(browser):
    doc = parse_issue(fx.ISSUE_397)
    return fx.make_docx(doc), fx.make_pdf(browser, doc)


def test_word_and_pdf_uploads_preview_and_save_the_same_issue(editor, word_and_pdf):
    docx_bytes, pdf_bytes = word_and_pdf
    stored = []
    for data, kind in ((docx_bytes, "Word 文档"), (pdf_bytes, "PDF")):
        page = upload(editor, data, "随便什么名字.txt")  # the content decides, not the name
        assert page.status_code == 200 and f"来自{kind}" in html(page)
        assert step(editor, page, "save").status_code == 302
        stored.append(db.session.scalar(select(Issue).where(Issue.number == 397)).to_doc())
        db.session.expire_all()
    assert stored[0] == stored[1]
    assert "第 1 页第" in html(upload(editor, pdf_bytes))  # PDF items say page and line


def test_hostile_uploads_get_a_clear_error_on_the_upload_page(editor):
    for data, gist in (
        (fx.zip_not_docx(), "no word/document.xml"),
        (fx.image_only_pdf(), "no text layer"),
    ):
        r = upload(editor, data)
        assert r.status_code == 400 and "无法导入：文件：" in html(r) and gist in html(r)
    assert issues() == 0


# --- in Chromium: upload a PDF, see the warnings, move a line, map a name, save --------------


@pytest.mark.browser
@pytest.mark.parametrize("width", [375, 1280])
def test_the_import_flow_in_chromium(
    browser, live_server, make_staff, screenshot_dir, tmp_path, width
):
    from tests.bulletin.test_views import login

    doc = parse_issue(TEXT.replace("报：协会领导", "报：理事会"))
    # One title was set as body text (not bold, indented): it reads as a paragraph.
    title = "爱奇艺会员收入连续四个季度增长"
    html_text = fx.pdf_html(doc).replace(
        f'<div class="tit">{title}</div>', f'<div class="p"><div class="l">{title}</div></div>'
    )
    assert title in html_text and f'<div class="tit">{title}' not in html_text
    pdf = tmp_path / "第397期.pdf"
    pdf.write_bytes(fx.print_pdf(browser, html_text, doc))
    context = login(browser, live_server, make_staff)
    try:
        page = context.new_page()
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server}/issues/import", wait_until="networkidle")
        page.set_input_files("input[type=file]", str(pdf))
        page.click("main form[enctype] button[type=submit]")  # (the top bar has 退出)
        page.wait_for_load_state("networkidle")
        body = page.inner_text("body")
        for words in (
            "导入预览：第 397 期",
            "来自PDF",
            "尚未保存",
            "条提醒",
            "理事会",
            "像是两篇文章",
            "第 2 页",
        ):
            assert words in body, words
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(screenshot_dir / f"bulletin-import-preview-{width}.png"))
        assert issues() == 0

        page.click("button:has-text('设为新文章标题')")  # the glued title
        page.wait_for_load_state("networkidle")
        assert "已移动 1 处" in page.inner_text("body")
        assert page.locator("h3", has_text="爱奇艺会员收入连续四个季度增长").count() == 1
        page.select_option(".im-map select", "leadership")  # 理事会 -> 协会领导
        page.click(".im-map button")
        page.wait_for_load_state("networkidle")
        body = page.inner_text("body")
        assert "已记住" in body and "不是已有的订阅分组" not in body
        page.locator("h3", has_text=title).scroll_into_view_if_needed()
        page.screenshot(
            path=str(screenshot_dir / f"bulletin-import-moved-{width}.png"), full_page=False
        )
        page.click(".im-bottom button:has-text('保存为草稿')")
        page.wait_for_url("**/issues/397")
        assert "已导入第 397 期" in page.inner_text("body")
        assert issues() == 1
    finally:
        context.close()
