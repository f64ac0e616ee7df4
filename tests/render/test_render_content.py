"""What the rendered edition contains: titles, anchors, links, size, editions, filters."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import lxml.html
import pytest
from markupsafe import escape

from newsletter.render import (
    GMAIL_CLIP_BYTES,
    PLACEHOLDERS,
    Edition,
    render_edition,
    token,
)
from tests.render.render_support import ARCHIVE_URL, EDITOR_NOTE

TOKENS = {token(k) for k in PLACEHOLDERS}


def render(doc, edition=Edition.REGULAR, **kw):
    return render_edition(doc, edition, archive_url=ARCHIVE_URL, **kw)


def tree(html: str):
    return lxml.html.document_fromstring(html)


def test_every_title_in_html_and_text(big_doc):
    r = render(big_doc)
    assert len(big_doc.articles) == 31
    for a in big_doc.articles:
        assert str(escape(a.title)) in r.html
        assert a.title in r.text


def test_anchors_for_31_articles_and_7_sections(big_doc):
    t = tree(render(big_doc).html)
    assert [h.get("id") for h in t.xpath("//h3[@id]")] == [f"a-{n}" for n in range(1, 32)]
    assert [h.text_content() for h in t.xpath("//h2[@id]")] == [
        "要闻",
        "行业",
        "内容",
        "技术",
        "资本",
        "人事",
        "研究",
    ]


def test_summary_bullets_link_to_existing_anchors(big_doc):
    t = tree(render(big_doc).html)
    ids = set(t.xpath("//@id"))
    links = t.xpath("//div[@class='summary']//a")
    assert len(links) == len(big_doc.summary) == 4
    for a in links:
        assert a.get("href")[1:] in ids
        target = t.get_element_by_id(a.get("href")[1:])
        assert "".join(a.text_content().split()) in "".join(target.text_content().split())
    for a in t.xpath("//a[starts-with(@href, '#')]"):  # TOC, back-to-top links too
        assert a.get("href")[1:] in ids


def test_unmatched_summary_bullet_stays_plain_and_warns(sample_doc):
    sample_doc.summary.append("◆这条摘要没有对应的文章")
    r = render(sample_doc)
    li = tree(r.html).xpath("//div[@class='summary']//li")[-1]
    assert li.text_content() == "这条摘要没有对应的文章" and not li.xpath(".//a")
    assert any("这条摘要没有对应的文章" in w for w in r.warnings)


def test_all_hrefs_are_anchors_http_or_tokens(big_doc):
    for edition in Edition:
        hrefs = tree(render(big_doc, edition).html).xpath("//@href")
        assert hrefs
        for h in hrefs:
            assert h.startswith(("#", "https://", "http://")) or h in TOKENS, h


def test_size_of_the_sample_is_under_gmail_clip(big_doc):
    for edition in Edition:
        r = render(big_doc, edition)
        assert r.html_bytes == len(r.html.encode("utf-8"))
        assert r.html_bytes < 102_000
        assert not any("KB" in w for w in r.warnings)


def test_huge_issue_warns_about_clipping(big_doc):
    huge = copy.deepcopy(big_doc)
    for s in huge.sections:
        s.articles = s.articles * 10
    r = render(huge)
    assert r.html_bytes > GMAIL_CLIP_BYTES
    assert any("102 KB" in w for w in r.warnings)


def test_subject_and_masthead(sample_doc):
    r = render(sample_doc)
    assert r.subject == "行业动态周报 第 396 期（2024年1月8日）"
    text = tree(r.html).text_content()
    for s in ("行业动态周报", "中国网络视听协会", "第 396 期", "2024年1月8日"):
        assert s in text and s in r.text


def test_priority_edition_has_marks_and_editor_note(sample_doc):
    r = render(sample_doc, Edition.PRIORITY)
    assert r.subject.startswith("【领导版】")
    page = tree(r.html).text_content()
    assert "领导版" in page and "报：协会领导" in page and "编者按" in page
    assert "会议部署了全年 8 项重点工作" in page and "会议部署了全年 8 项重点工作" in r.text
    assert "【领导版】" in r.text and "【编者按】" in r.text
    assert "<strong>2024 年全国广播电视工作会议</strong>" in r.html
    assert '<a href="https://www.nrta.gov.cn/"' in r.html


def test_regular_edition_has_neither_marks_nor_note(sample_doc):
    r = render(sample_doc, Edition.REGULAR)
    note_bits = [
        "会议部署了全年 8 项重点工作",
        "国家广播电视总局网站",
        "编者按",
        "领导版",
        "报：协会领导",
        "nrta.gov.cn",
    ]
    for bit in note_bits:
        assert bit not in r.html and bit not in r.text and bit not in r.subject
    assert EDITOR_NOTE.splitlines()[0] not in r.html


def test_priority_without_note_has_no_empty_box(sample_doc):
    sample_doc.editor_note = None
    r = render(sample_doc, Edition.PRIORITY)
    assert "编者按" not in r.html and "编者按" not in r.text and "领导版" in r.html


def test_sections_filter_keeps_summary_and_chosen_sections(big_doc):
    r = render(big_doc, sections=["技术", "人事", "摘要"])
    t = tree(r.html)
    assert [h.text_content() for h in t.xpath("//h2[@id]")] == ["技术", "人事"]
    assert [h.get("id") for h in t.xpath("//h3[@id]")] == [f"a-{n}" for n in [*range(19, 26), 29]]
    # 摘要 keeps only the headlines of the chosen sections, each linked (issue 13): the
    # 董昕 bullet (a-29); the three whose articles are not in this copy are left out
    assert len(t.xpath("//div[@class='summary']//li")) == 1
    assert [a.get("href") for a in t.xpath("//div[@class='summary']//a")] == ["#a-29"]
    assert "全国宣传部长会议在京召开 蔡奇出席并讲话" not in t.text_content()
    assert "1 月 3 日，全国宣传部长会议在京召开" not in r.html + r.text
    # the numbers the reader sees run 1..8 without gaps; the anchors stay issue-wide
    assert "\n1. " in r.text and "\n8. " in r.text and "\n19. " not in r.text
    assert "（第 8 条）" in r.text
    assert "精选 8 条" in r.text
    assert "\n要闻\n" not in r.text and "\n技术\n====\n" in r.text


def test_unknown_section_in_filter_is_reported(sample_doc):
    r = render(sample_doc, sections=["不存在"])
    assert any("不存在" in w for w in r.warnings)
    assert tree(r.html).xpath("//h2[@id]") == []


def test_text_part_layout(big_doc):
    r = render(big_doc, Edition.PRIORITY)
    assert r.text.startswith("行业动态周报\n")
    assert "\n要闻\n====\n" in r.text and "\n本期摘要\n--------\n" in r.text
    assert "◆ 董昕就任国家广播电视总局副局长（第 29 条）" in r.text
    assert "\n29. 董昕就任国家广播电视总局副局长\n" in r.text
    assert "国家广播电视总局网站[1]" in r.text and "[1] https://www.nrta.gov.cn/" in r.text
    assert "责编：余力 何紫薇 张轩豪 若斯" in r.text
    assert f"在浏览器中查看：{ARCHIVE_URL}" in r.text
    assert "\n\n\n\n" not in r.text and "&amp;" not in r.text and "<" not in r.text
    for label in ("编辑部", "责编", "复核"):
        assert label in tree(r.html).text_content()


def test_rendering_is_deterministic(sample_doc):
    a, b = render(sample_doc), render(sample_doc)
    assert (a.html, a.text, a.subject) == (b.html, b.text, b.subject)


def test_archive_url_must_be_http(sample_doc):
    with pytest.raises(ValueError):
        render_edition(sample_doc, Edition.REGULAR, archive_url="javascript:alert(1)")


def test_no_flask_or_database_imports():
    import newsletter.render as pkg

    folder = Path(pkg.__file__).parent
    src = "".join(p.read_text(encoding="utf-8") for p in folder.glob("*.py"))
    assert not re.search(
        r"^\s*(from|import)\s+(flask|sqlalchemy|newsletter\.extensions)", src, re.MULTILINE
    )
