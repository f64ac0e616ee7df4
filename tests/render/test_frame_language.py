"""The email's frame in the reader's language (issue 13): greeting, headings, links and
footer in English for readers who chose en; the content stays as written."""

from __future__ import annotations

import re

import lxml.html

from newsletter.render import Edition, personalise, render_edition
from newsletter.render.frame import language_of

URL = "https://newsletter.example.org/archive/396"
LINKS = {
    "unsubscribe_url": "https://x.org/u/1",
    "preferences_url": "https://x.org/p/1",
    "name": "Ada",
}


def test_english_frame_around_the_chinese_content(sample_doc):
    r = render_edition(sample_doc, Edition.PRIORITY, archive_url=URL, language="en")
    html, text = personalise(r, LINKS)
    page = lxml.html.document_fromstring(html)
    assert page.get("lang") == "en"
    visible = page.text_content()
    for words in (
        "Dear Ada,",
        "In this issue",
        "Contents",
        "Editor's note",
        "View it in your browser",
        "Manage your preferences",
        "Unsubscribe",
        "You are receiving this email because you subscribed to",
        "No. 396",
        "8 January 2024",
    ):
        assert words in visible, words
    for words in (
        "尊敬的",
        "本期摘要",
        "在浏览器中查看",
        "管理订阅偏好",
        "退订",
        "编者按",
        "第 396 期",
    ):
        assert words not in visible, words
    assert "全国宣传部长会议在京召开" in visible  # the content itself is not translated
    assert r.subject == "【Leadership edition】行业动态周报 No. 396 (8 January 2024)"
    assert (
        "Dear Ada," in text and "In this issue" in text and "Unsubscribe: https://x.org/u/1" in text
    )


def test_chinese_stays_the_default(sample_doc):
    html, text = personalise(render_edition(sample_doc, Edition.REGULAR, archive_url=URL), LINKS)
    assert "尊敬的Ada：" in html and "本期摘要" in html and "Dear" not in html
    assert language_of("en_GB") == "en" and language_of("zh_CN") == "zh_CN"
    assert language_of(None) == "zh_CN" and language_of("fr") == "zh_CN"


def test_a_section_chooser_sees_only_linked_headlines_numbered_without_gaps(sample_doc):
    r = render_edition(sample_doc, Edition.REGULAR, archive_url=URL, sections=["行业"])
    page = lxml.html.document_fromstring(r.html)
    items = page.xpath("//div[@class='summary']//li")
    assert [li.text_content().strip() for li in items] == ["哔哩哔哩公布 2023 百大 UP 主名单"]
    assert all(li.xpath(".//a[@href]") for li in items)  # no unlinked headline
    numbers = [int(n) for n in re.findall(r"^(\d+)\. ", r.text, re.M)]
    assert numbers == [1, 2]  # not 2, 3
    assert "（第 2 条）" in r.text
