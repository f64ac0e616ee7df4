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
        out.append(escape(text[last : m.start()]))
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
        out.append(escape(text[last : m.start()]))
        out.append(Markup('<a href="{}">{}</a>').format(m.group("url"), m.group("ltext")))
        last = m.end()
    out.append(escape(text[last:]))
    return Markup("".join(out))


class Footnotes(list):
    """The text part's numbered link list, with an index: numbering stays linear in the
    number of links (a `list.index` per link made a link-heavy issue quadratic)."""

    def __init__(self) -> None:
        super().__init__()
        self._numbers: dict[str, int] = {}

    def number(self, url: str) -> int:
        n = self._numbers.get(url)
        if n is None:
            self.append(url)
            n = self._numbers[url] = len(self)
        return n


class _Mirror:
    """Numbers through a Footnotes index and appends new links to the caller's list too."""

    def __init__(self, index: Footnotes, target: list[str]):
        self.index, self.target = index, target

    def number(self, url: str) -> int:
        before = len(self.index)
        n = self.index.number(url)
        if len(self.index) > before:
            self.target.append(url)
        return n


def inline_text(text: str, footnotes: Footnotes | list[str]) -> str:
    """Plain-text rendering: drop ** markers, links become ``text[n]`` (n into `footnotes`;
    a plain list works too, for short texts)."""
    text = defuse(text)
    numbering: Footnotes | _Mirror
    if isinstance(footnotes, Footnotes):
        numbering = footnotes
    else:
        index = Footnotes()
        for url in footnotes:
            index.number(url)
        numbering = _Mirror(index, footnotes)

    def link(m: re.Match) -> str:
        return f"{m.group('ltext')}[{numbering.number(m.group('url'))}]"

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


# The 摘要 is a dozen lines; items that match no title exactly are looked up by containment
# (O(titles) each), for this many items at most, so a huge summary stays linear.
FUZZY_SUMMARY_LOOKUPS = 50


class SummaryMatcher:
    """Which article a 摘要 line points to: the exact title first (a dict), else the first
    title containing it or contained in it ("标题" in "标题：副题"). Shared by the email and
    the web archive so both link the same article."""

    def __init__(self, titles: list[tuple]):
        self.titles = titles  # (n, squashed title, ...) in issue order
        self.exact: dict[str, tuple] = {}
        for t in titles:
            self.exact.setdefault(t[1], t)
        self.fuzzy_left = FUZZY_SUMMARY_LOOKUPS

    def match(self, item: str) -> tuple | None:
        key = squash(item)
        found = self.exact.get(key)
        if found is not None or not key or self.fuzzy_left <= 0:
            return found
        self.fuzzy_left -= 1
        return next((t for t in self.titles if t[1] and (key in t[1] or t[1] in key)), None)


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
