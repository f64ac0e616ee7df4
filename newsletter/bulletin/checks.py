"""Warnings about a parsed issue: what is probably a mistake, though the file is well-formed.

Pure: `check(parsed, names)` takes the parser's `ParsedIssue` and the group directory (see
`groupnames`). Each `Notice` names the block it is about (`line`, in the numbering of the
source the parser saw) so that the import preview can put it beside that line, and says
what it found as a phrase (newsletter/phrase.py): the preview says it in the reader's
language, the CLI and the API say `message`, its zh-CN text.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from newsletter.phrase import N_, P, Param, Phrase

from . import groupnames
from .parser import ParsedIssue, text_weight

LONG_TITLE = 50  # CJK characters (ASCII counts half); the sample's longest is 38
SHORT_PARAGRAPH = 12
SUMMARY_MATCH = 0.75  # difflib ratio of a bullet to its article's title
_LEAD = re.compile(
    r"(近日|日前|昨日|今日|本周|近期|当地时间|据|\d{1,2}\s*月\s*\d{1,2}\s*日"
    r"|\d{4}\s*年\s*\d{1,2}\s*月)"
)
_LOOSE = re.compile(r"[\s\W_]+")


@dataclass(frozen=True)
class Notice:
    code: str
    words: Phrase  # said in the page's language; the editor's own text is a parameter
    line: int | None = None
    level: str = "warning"  # or "info": worth knowing, nothing to fix
    data: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def message(self) -> str:
        """The words in zh-CN (the CLI, the API, logs)."""
        return self.words.text()

    def to_json(self) -> dict:
        """What the API answers: the zh-CN `message`, not the phrase."""
        return {
            "code": self.code,
            "message": self.message,
            "line": self.line,
            "level": self.level,
            "data": dict(self.data),
        }

    def to_data(self) -> dict:
        """The notice with its phrase, for the import preview's token (`from_data`)."""
        said = self.to_json()
        del said["message"]  # the phrase says it
        return {**said, "words": self.words.to_json()}

    @classmethod
    def from_data(cls, data: dict) -> Notice:
        """KeyError, TypeError, ValueError or AttributeError for anything but `to_data`'s
        shape (a token made before notices were phrases has no "words")."""
        line = data["line"]
        return cls(
            str(data["code"]),
            Phrase.from_json(data["words"]),
            None if line is None else int(line),
            str(data["level"]),
            dict(data["data"]),
        )


def listed(items: Sequence[Param]) -> Param:
    """Items said one after another: "a、b、c" in zh-CN, "a, b, c" in English."""
    said = items[0]
    for item in items[1:]:
        said = P(N_("%(list)s、%(item)s"), list=said, item=item)
    return said


def _loose(text: str) -> str:
    return _LOOSE.sub("", text).casefold()


def _matches(bullet: str, title: str) -> bool:
    a, b = _loose(bullet), _loose(title)
    if not a or not b:
        return False
    return (
        a in b
        or b in a
        or difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() >= SUMMARY_MATCH
    )


def _title_like(text: str) -> bool:
    return text_weight(text) <= 40 and "。" not in text


def check(
    parsed: ParsedIssue, names: dict[str, str], blocks: dict[int, str] | None = None
) -> list[Notice]:
    """Every warning for the issue; `blocks` ({no: text}) lets it look inside joined
    paragraphs (a title glued onto the paragraph before it)."""
    doc, out = parsed.doc, []
    blocks = blocks or {}  # none given: nothing to look inside (an empty map is falsy too)
    titles = [a.title for a in doc.articles]
    for bullet, no in zip(doc.summary, parsed.summary_lines):
        if not any(_matches(bullet, t) for t in titles):
            words = P(N_("摘要“%(text)s”没有对应的文章标题。"), text=bullet)
            out.append(Notice("summary_unmatched", words, no))
    traced = [
        (art, t_no, pieces)
        for s, (_, arts) in zip(doc.sections, parsed.trace)
        for art, (t_no, pieces) in zip(s.articles, arts)
    ]
    for art, t_no, pieces in traced:
        if text_weight(art.title) > LONG_TITLE:
            words = P(N_("标题很长（%(n)s 字），是不是把段落当成了标题？"), n=len(art.title))
            out.append(Notice("long_title", words, t_no))
        for k, (para, piece) in enumerate(zip(art.paragraphs, pieces)):
            if text_weight(para) < SHORT_PARAGRAPH:
                words = P(N_("段落很短：“%(text)s”。"), text=para)
                out.append(Notice("short_paragraph", words, piece[0]))
            nxt = art.paragraphs[k + 1] if k + 1 < len(art.paragraphs) else ""
            if k and (para in doc.summary or (_title_like(para) and _LEAD.match(nxt))):
                out.append(_looks_like_two(art.title, para, piece[0]))
            # Inside a paragraph glued from several blocks (a page break, or a title that
            # lost its formatting): a title-like block followed by a news lead.
            for j in range(len(piece) - 1) if blocks else ():
                if k == 0 and j == 0:
                    continue  # the first block after a title is its paragraph
                inner, after = blocks.get(piece[j], ""), blocks.get(piece[j + 1], "")
                if (_title_like(inner) and _LEAD.match(after)) or inner in doc.summary:
                    out.append(_looks_like_two(art.title, inner, piece[j]))
    for label in ("报", "发"):
        for name in doc.distribution.get(label, []):
            if groupnames.resolve(name, names) is None:
                words = P(N_("%(label)s：“%(name)s”不是已有的订阅分组。"), label=label, name=name)
                out.append(Notice("unknown_group", words, data={"label": label, "name": name}))
    if parsed.dropped:
        shown = listed([f"“{t}”" for _, t in parsed.dropped[:3]])  # the file's own lines
        words = (
            P(N_("去掉了 %(n)s 行页码或页眉：%(shown)s等。"), n=len(parsed.dropped), shown=shown)
            if len(parsed.dropped) > 3
            else P(N_("去掉了 %(n)s 行页码或页眉：%(shown)s。"), n=len(parsed.dropped), shown=shown)
        )
        out.append(Notice("dropped_lines", words, parsed.dropped[0][0], level="info"))
    return out


def _looks_like_two(title: str, text: str, no: int) -> Notice:
    words = P(N_("《%(title)s》像是两篇文章：“%(text)s”像另一篇的标题。"), title=title, text=text)
    return Notice("article_looks_like_two", words, no, data={"move": "title"})
