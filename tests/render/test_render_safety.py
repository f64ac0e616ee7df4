"""Escaping and markdown-light: document text can never inject markup or links."""

from __future__ import annotations

import lxml.html

from newsletter.bulletin.document import ArticleDoc, SectionDoc
from newsletter.render import Edition, personalise, render_edition
from newsletter.render.markup import inline_html, inline_text
from tests.render.render_support import ARCHIVE_URL, VALUES

EVIL_TITLE = '<script>alert(1)</script>标题"引号"'
EVIL_PARA = '图片<img src=x onerror="alert(2)">结束 & <b>粗</b>'
MD_PARA = (
    "这是**重点内容**，详见[协会官网](https://www.cnsa.cn/a?x=1&y=2)；"
    "[恶意](javascript:alert(3)) 与 [数据](data:text/html,hi) 不会成为链接；"
    "**[加粗链接](https://example.org/b)**。"
)


def _evil_render(doc, edition=Edition.PRIORITY):
    doc.sections.append(
        SectionDoc("测试<i>栏目</i>", [ArticleDoc(EVIL_TITLE, [EVIL_PARA, MD_PARA])])
    )
    doc.summary.append('◆<script>alert(1)</script>标题"引号"')
    doc.editor_note = "<img src=x onerror=alert(4)>编者"
    return render_edition(doc, edition, archive_url=ARCHIVE_URL)


def test_script_and_img_are_escaped_in_html(sample_doc):
    r = _evil_render(sample_doc)
    html, _ = personalise(r, VALUES)
    t = lxml.html.document_fromstring(html)
    assert not t.xpath("//script") and not t.xpath("//img[@onerror]") and not t.xpath("//i")
    assert not t.xpath("//@*[starts-with(name(), 'on')]")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=" in html and "&lt;b&gt;粗&lt;/b&gt;" in html
    page = t.text_content()
    assert EVIL_TITLE in page and '图片<img src=x onerror="alert(2)">结束 & <b>粗</b>' in page
    assert "<img src=x onerror=alert(4)>编者" in page
    assert "测试<i>栏目</i>" in page


def test_text_part_keeps_such_text_as_text(sample_doc):
    r = _evil_render(sample_doc)
    assert EVIL_TITLE in r.text and EVIL_PARA in r.text
    assert "&lt;" not in r.text and "&amp;" not in r.text


def test_markdown_light_bold_and_https_links(sample_doc):
    r = _evil_render(sample_doc)
    assert "<strong>重点内容</strong>" in r.html
    assert '<a href="https://www.cnsa.cn/a?x=1&amp;y=2"' in r.html
    assert '<strong><a href="https://example.org/b"' in r.html
    hrefs = lxml.html.document_fromstring(r.html).xpath("//@href")
    assert not [h for h in hrefs if h.lower().startswith(("javascript:", "data:"))]
    assert "[恶意](javascript:alert(3))" in r.html
    # text part: markers dropped, links as footnotes, bad links left verbatim
    assert "这是重点内容，详见协会官网[1]" in r.text
    assert "[1] https://www.cnsa.cn/a?x=1&y=2" in r.text
    assert "[恶意](javascript:alert(3))" in r.text


def test_inline_helpers():
    assert inline_html("a **b** c") == "a <strong>b</strong> c"
    assert inline_html("<x>") == "&lt;x&gt;"
    assert inline_html("[t](http://e.org/)") == '<a href="http://e.org/">t</a>'
    assert inline_html("[t](ftp://e.org/)") == "[t](ftp://e.org/)"
    assert inline_html('[t](https://e.org/"onmouseover="x)') == (
        "[t](https://e.org/&#34;onmouseover=&#34;x)"
    )
    notes: list[str] = []
    assert (
        inline_text("[a](https://x.org/) [b](https://y.org/) [c](https://x.org/)", notes)
        == "a[1] b[2] c[1]"
    )
    assert notes == ["https://x.org/", "https://y.org/"]
    assert inline_text("**粗**", []) == "粗"


def test_token_syntax_in_content_is_defused(sample_doc):
    sample_doc.sections[0].articles[0].paragraphs.append("模板语法 {{unsubscribe_url}} 原样")
    r = render_edition(sample_doc, Edition.REGULAR, archive_url=ARCHIVE_URL)
    html, text = personalise(r, VALUES)
    assert VALUES["unsubscribe_url"] not in text.split("模板语法")[1].split("原样")[0]
    assert "模板语法 {\u200b{unsubscribe_url}} 原样" in text
    assert "模板语法 {\u200b{unsubscribe_url}} 原样" in html
