"""Markdown-light for article paragraphs, and small zh-CN text helpers.

Only two constructs are recognised, everything else is escaped:

* ``**bold**`` -> ``<strong>`` (text part: the asterisks are dropped);
* ``[text](https://…)`` -> a link, http/https only (text part: ``text[n]`` plus a numbered
  footnote). ``[x](javascript:…)`` does not match and stays literal, escaped.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from markupsafe import Markup, escape

from newsletter.render.placeholders import defuse

_LINK = r"\[(?P<ltext>[^\[\]\n]+)\]\((?P<url>https?://[^\s()<>\"]+)\)"
_BOLD = r"\*\*(?P<bold>[^*\n]+?)\*\*"
_INLINE_RE = re.compile(f"{_LINK}|{_BOLD}")
_LINK_RE = re.compile(_LINK)

# Leading bullets the editors type in the 摘要 (◆, •, -, ·): the template draws its own.
_BULLET_RE = re.compile(r"^[\s\-*•·◆◇■□●○▪▶►]+")


def inline_html(text: str) -> Markup:
    """Escape `text`, then turn **bold** and [text](http…) into HTML."""
    text = defuse(text)
    out: list[str] = []
    last = 0
    for m in _INLINE_RE.finditer(text):
        out.append(escape(text[last:m.start()]))
        if m.group("url"):
            out.append(Markup('<a href="{}">{}</a>').format(m.group("url"), m.group("ltext")))
        else:
            out.append(Markup("<strong>{}</strong>").format(_links_html(m.group("bold"))))
        last = m.end()
    out.append(escape(text[last:]))
    return Markup("".join(out))


def _links_html(text: str) -> Markup:
    # links inside **bold**; bold inside links is not supported (kept literal)
    out, last = [], 0
    for m in _LINK_RE.finditer(text):
        out.append(escape(text[last:m.start()]))
        out.append(Markup('<a href="{}">{}</a>').format(m.group("url"), m.group("ltext")))
        last = m.end()
    out.append(escape(text[last:]))
    return Markup("".join(out))


def inline_text(text: str, footnotes: list[str]) -> str:
    """Plain-text rendering: drop ** markers, links become ``text[n]`` (n into `footnotes`)."""
    text = defuse(text)

    def link(m: re.Match) -> str:
        url = m.group("url")
        if url not in footnotes:
            footnotes.append(url)
        return f"{m.group('ltext')}[{footnotes.index(url) + 1}]"

    def sub(m: re.Match) -> str:
        if m.group("url"):
            return link(m)
        return _LINK_RE.sub(link, m.group("bold"))

    return _INLINE_RE.sub(sub, text)


def strip_bullet(text: str) -> str:
    return _BULLET_RE.sub("", text).strip()


def squash(text: str) -> str:
    """Key for fuzzy title matching: no whitespace, no bullets ("2024 年" == "2024年")."""
    return "".join(strip_bullet(text).split())


def date_cn(d: dt.date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def display_width(text: str) -> int:
    """Columns in a monospace terminal/mail client: CJK and full-width count double."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def paragraphs_of(text: str | None) -> list[str]:
    """Split a free-text field (编者按) into non-empty paragraphs on line breaks."""
    if not text:
        return []
    return [p.strip() for p in text.splitlines() if p.strip()]
