"""The public web archive: only issues that went out, newest first, paginated; each issue as
the regular edition (no priority marks, no 编者按) with the email's article anchors."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from newsletter.bulletin.document import ArticleDoc, IssueDoc, SectionDoc
from newsletter.bulletin.models import Issue, IssueStatus
from newsletter.extensions import db
from newsletter.render import Edition, render_edition
from tests.bulletin.conftest import set_status, stored

EDITOR_NOTE = "编者按：这段话只给协会领导看。"


def add_issue(
    number: int,
    status: IssueStatus,
    *,
    title: str = "行业动态周报",
    paragraphs: list[str] | None = None,
) -> Issue:
    doc = IssueDoc(
        number=number,
        date=dt.date(2016, 1, 4) + dt.timedelta(weeks=number),
        title=title,
        publisher="中国网络视听协会",
        summary=[f"◆第{number}期要闻"],
        sections=[SectionDoc("要闻", [ArticleDoc(f"第{number}期要闻", paragraphs or ["正文。"])])],
        credits={"责编": ["余力"]},
        distribution={"报": ["协会领导"]},
        editor_note=EDITOR_NOTE,
    )
    issue = Issue(number=number, status=status)
    issue.fill_from_doc(doc)
    db.session.add(issue)
    db.session.commit()
    return issue


def test_the_index_lists_only_sent_issues_newest_first(client):
    add_issue(10, IssueStatus.SENT)
    add_issue(12, IssueStatus.SENT)
    add_issue(11, IssueStatus.SENDING)
    add_issue(13, IssueStatus.DRAFT)
    response = client.get("/archive")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "第 12 期" in page and "第 10 期" in page
    assert "第 11 期" not in page and "第 13 期" not in page
    assert page.index("第 12 期") < page.index("第 10 期")
    assert "共 2 期" in page
    assert stored(12).date.isoformat() in page  # the one date format (issue 13)
    assert "第12期要闻" in page  # a taste of the summary


def test_pagination(client):
    for number in range(1, 46):
        add_issue(number, IssueStatus.SENT)
    first = client.get("/archive").get_data(as_text=True)
    shown = [int(n) for n in re.findall(r'href="/archive/(\d+)"', first)]
    assert shown == list(range(45, 25, -1))  # 20 newest
    assert "第 1 / 3 页" in first and 'href="/archive?page=2"' in first
    assert 'rel="prev"' not in first
    last = client.get("/archive?page=3").get_data(as_text=True)
    assert [int(n) for n in re.findall(r'href="/archive/(\d+)"', last)] == [5, 4, 3, 2, 1]
    assert 'href="/archive?page=2"' in last and 'rel="next"' not in last
    assert client.get("/archive?page=4").status_code == 404
    assert client.get("/archive?page=0").status_code == 404
    assert client.get("/archive?page=abc").status_code == 200  # not a number: page 1


def test_an_empty_archive_says_so(client):
    add_issue(1, IssueStatus.DRAFT)
    page = client.get("/archive").get_data(as_text=True)
    assert "还没有已发送的期刊" in page


def test_drafts_are_not_public_but_an_issue_being_sent_is(client):
    add_issue(20, IssueStatus.DRAFT)
    add_issue(21, IssueStatus.SENDING)
    assert client.get("/archive/20").status_code == 404
    assert client.get("/archive/21").status_code == 200  # early readers click "在浏览器中查看"
    assert client.get("/archive/999").status_code == 404


def test_the_issue_page_is_the_regular_edition_without_priority_marks(client, sample_issue):
    issue = stored()
    issue.editor_note = EDITOR_NOTE
    db.session.commit()
    set_status(396, IssueStatus.SENT)
    response = client.get("/archive/396")
    page = response.get_data(as_text=True)
    for word in ("领导版", "编者按", "只给协会领导看", "协会领导", "报："):
        assert word not in page, word
    for word in (
        "行业动态周报",
        "中国网络视听协会",
        "第 396 期",
        "2024年1月8日",
        "本期摘要",
        "目录",
        "董昕就任国家广播电视总局副局长",
        "责编：",
        "注：",
    ):
        assert word in page, word
    assert "Content-Security-Policy" in response.headers
    assert "script-src" not in response.headers["Content-Security-Policy"]  # default-src 'none'


def test_anchors_match_the_email_and_the_summary_links_to_them(client, sample_issue):
    set_status(396, IssueStatus.SENT)
    page = client.get("/archive/396").get_data(as_text=True)
    archive_ids = set(re.findall(r'id="(a-\d+)"', page))
    assert archive_ids == {f"a-{n}" for n in range(1, 32)}
    email_html = render_edition(
        stored().to_doc(), Edition.REGULAR, archive_url="http://newsletter.test/archive/396"
    ).html
    assert set(re.findall(r'id="(a-\d+)"', email_html)) == archive_ids
    # the same article behind the same anchor in both
    title = "董昕就任国家广播电视总局副局长"

    def anchor_in(html):
        return re.search(r'id="(a-\d+)"[^>]*>' + title, html).group(1)

    assert anchor_in(page) == anchor_in(email_html)
    summary = page[page.index("本期摘要") : page.index('id="toc"')]
    assert f'href="#{anchor_in(page)}"' in summary and summary.count('href="#a-') == 4


def test_the_email_view_in_browser_link_points_to_the_archive(client, sample_issue):
    from newsletter.bulletin.preview import render, sample_copy

    set_status(396, IssueStatus.SENT)
    html, _ = sample_copy(
        render(stored().to_doc(), Edition.REGULAR, "http://newsletter.test"),
        "http://newsletter.test",
    )
    link = re.search(r'<a href="([^"]+)"[^>]*>在浏览器中查看', html).group(1)
    assert link == "http://newsletter.test/archive/396"
    assert client.get(link.removeprefix("http://newsletter.test")).status_code == 200


def test_markdown_light_only_everything_else_escaped(client):
    add_issue(
        30,
        IssueStatus.SENT,
        title="<b>刊名</b>",
        paragraphs=[
            "**加粗**与[链接](https://example.org/a?b=1&c=2)。",
            "<script>alert(1)</script><img src=x onerror=alert(2)>[坏链接](javascript:alert(3))。",
        ],
    )
    page = client.get("/archive/30").get_data(as_text=True)
    assert "<strong>加粗</strong>" in page
    assert '<a href="https://example.org/a?b=1&amp;c=2">链接</a>' in page
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'href="javascript' not in page and "[坏链接](javascript:alert(3))" in page
    assert "&lt;b&gt;刊名&lt;/b&gt;" in page


def test_previous_and_next_issue_links(client):
    for number in (40, 41, 43):
        add_issue(number, IssueStatus.SENT)
    add_issue(42, IssueStatus.DRAFT)
    page = client.get("/archive/41").get_data(as_text=True)
    assert 'href="/archive/40"' in page and 'href="/archive/43"' in page  # 42 is a draft
    assert 'href="/archive/42"' not in page


@pytest.mark.browser
@pytest.mark.parametrize("width", [375, 800])
def test_archive_pages_in_chromium(browser, live_server, screenshot_dir, sample_issue, width):
    issue = stored()
    issue.editor_note = EDITOR_NOTE
    db.session.commit()
    set_status(396, IssueStatus.SENT)
    add_issue(395, IssueStatus.SENT)
    context = browser.new_context(locale="zh-CN", viewport={"width": width, "height": 900})
    try:
        page = context.new_page()
        for path, name, words in [
            ("/archive", "archive-index", ["往期回顾", "第 396 期", "2024-01-08"]),
            (
                "/archive/396",
                "archive-issue",
                [
                    "行业动态周报",
                    "第 396 期",
                    "本期摘要",
                    "目录",
                    "董昕就任国家广播电视总局副局长",
                    "返回目录",
                ],
            ),
        ]:
            page.goto(f"{live_server}{path}", wait_until="networkidle")
            assert page.evaluate("document.documentElement.scrollWidth") <= width, path
            body = page.inner_text("body")
            for word in words:
                assert word in body, (path, word)
            assert "领导版" not in body and "编者按" not in body
            page.screenshot(
                path=str(screenshot_dir / f"bulletin-{name}-{width}.png"),
                full_page=name == "archive-index",
            )
        # a summary link jumps to its article (董昕…, the 29th of 31)
        page.click(".ip-summary a >> nth=3")
        assert page.evaluate("location.hash") == "#a-29"
        assert page.evaluate("document.querySelector('#a-29').getBoundingClientRect().top") < 100
        page.screenshot(path=str(screenshot_dir / f"bulletin-archive-anchor-{width}.png"))
    finally:
        context.close()
