"""Per-recipient placeholders survive MJML + premailer and are filled by `personalise`."""

from __future__ import annotations

import re

import lxml.html
import pytest

from newsletter.render import PLACEHOLDERS, Edition, RenderedEdition, personalise, token
from newsletter.render.engine import compile_mjml, inline_css
from tests.render.render_support import ARCHIVE_URL, VALUES

LEFTOVER = re.compile(r"\{\{|\}\}")


@pytest.fixture
def rendered(sample_doc):
    from newsletter.render import render_edition

    return render_edition(sample_doc, Edition.PRIORITY, archive_url=ARCHIVE_URL)


def test_token_helper():
    assert token("unsubscribe_url") == "{{unsubscribe_url}}"
    with pytest.raises(KeyError):
        token("nope")


def test_tokens_pass_through_mjml_and_premailer_in_hrefs():
    src = (
        '<mjml><mj-head><mj-style inline="inline">a{color:red}</mj-style></mj-head>'
        "<mj-body><mj-section><mj-column><mj-text>"
        '<a href="{{unsubscribe_url}}">退订</a><a href="https://x.org/?a=1&amp;b={{t}}">x</a>'
        '</mj-text><mj-button href="{{preferences_url}}">偏好</mj-button></mj-column>'
        "</mj-section><mj-raw>{{open_pixel}}</mj-raw></mj-body></mjml>"
    )
    html = inline_css(compile_mjml(src))
    assert 'href="{{unsubscribe_url}}"' in html
    assert 'href="{{preferences_url}}"' in html
    assert 'href="https://x.org/?a=1&amp;b={{t}}"' in html
    assert "{{open_pixel}}" in html and "%7B" not in html


def test_rendered_edition_contains_every_token_once_or_more(rendered):
    for name in PLACEHOLDERS:
        if name in ("click_base", "greeting_en"):  # link rewriting / English copies only
            continue
        assert token(name) in rendered.html, name
    for name in ("unsubscribe_url", "preferences_url", "greeting"):
        assert token(name) in rendered.text, name
    assert token("open_pixel") not in rendered.text
    hrefs = lxml.html.document_fromstring(rendered.html).xpath("//@href")
    assert token("unsubscribe_url") in hrefs and token("preferences_url") in hrefs


def test_personalise_fills_everything_and_escapes(rendered):
    html, text = personalise(rendered, VALUES)
    assert not LEFTOVER.search(html) and not LEFTOVER.search(text)
    assert 'href="https://news.example.org/u/abc123?sig=x&amp;t=1"' in html
    assert 'href="https://news.example.org/p/abc123?sig=y&amp;t=2"' in html
    assert "退订：https://news.example.org/u/abc123?sig=x&t=1" in text
    assert "管理订阅偏好：https://news.example.org/p/abc123?sig=y&t=2" in text
    assert "尊敬的张三：" in html and "尊敬的张三：" in text
    t = lxml.html.document_fromstring(html)
    (pixel,) = t.xpath("//img")
    assert pixel.get("src") == VALUES["open_pixel_url"] and pixel.get("width") == "1"
    assert html.rstrip().endswith("</html>")


def test_personalise_escapes_markup_in_values(rendered):
    html, text = personalise(
        rendered,
        {**VALUES, "name": '<b>"李四"</b>', "unsubscribe_url": 'https://e.org/u?a="x"&b=<y>'},
    )
    assert "&lt;b&gt;&#x27;" not in html  # sanity on the escape flavour below
    assert "尊敬的&lt;b&gt;&quot;李四&quot;&lt;/b&gt;：" in html
    assert 'href="https://e.org/u?a=&quot;x&quot;&amp;b=&lt;y&gt;"' in html
    assert '尊敬的<b>"李四"</b>：' in text and 'https://e.org/u?a="x"&b=<y>' in text
    t = lxml.html.document_fromstring(html)
    assert not t.xpath("//b") and 'https://e.org/u?a="x"&b=<y>' in t.xpath("//@href")


def test_open_pixel_removed_cleanly_and_default_greeting(rendered):
    values = {k: VALUES[k] for k in ("unsubscribe_url", "preferences_url")}
    html, text = personalise(rendered, values)
    assert "<img" not in html and not LEFTOVER.search(html)
    assert "尊敬的读者：" in html and "尊敬的读者：" in text
    html2, _ = personalise(rendered, {**values, "open_pixel_url": "", "name": "  "})
    assert html2 == html


def test_personalise_rejects_missing_or_bad_values(rendered):
    with pytest.raises(KeyError):
        personalise(rendered, {"preferences_url": VALUES["preferences_url"]})
    with pytest.raises(ValueError):
        personalise(rendered, {**VALUES, "unsubscribe_url": ""})
    with pytest.raises(ValueError):
        personalise(rendered, {**VALUES, "unsubscribe_url": "javascript:alert(1)"})
    with pytest.raises(ValueError):
        personalise(rendered, {**VALUES, "open_pixel_url": "data:image/gif;base64,xx"})
    with pytest.raises(ValueError):
        personalise(rendered, {**VALUES, "unsubscribe": "typo"})


def test_personalise_from_stored_strings(rendered):
    stored = RenderedEdition.from_stored(rendered.subject, rendered.html, rendered.text)
    assert stored.html_bytes == rendered.html_bytes
    assert personalise(stored, VALUES) == personalise(rendered, VALUES)


def test_escape_is_html_escape_with_quotes():
    """placeholders.escape stands in for html.escape(quote=True) so a send worker need not
    import html (its entity table); the bytes a reader gets must be the same."""
    import html

    from newsletter.render.placeholders import escape

    for value in (
        "https://example.org/u/abc?x=1&y=2",
        "a&b<c>d\"e'f",
        "&amp; &lt; already escaped",
        "尊敬的张三：",
        "Dear O'Brien,",
        "",
        "&&<<>>\"\"''",
    ):
        assert escape(value) == html.escape(value, quote=True)
