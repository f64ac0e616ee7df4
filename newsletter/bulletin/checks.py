"""Warnings about a parsed issue: what is probably a mistake, though the file is well-formed.

Pure: `check(parsed, names)` takes the parser's `ParsedIssue` and the group directory (see
`groupnames`). Each `Notice` names the block it is about (`line`, in the numbering of the
source the parser saw) so that the import preview can put it beside that line.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import asdict, dataclass, field

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
    message: str
    line: int | None = None
    level: str = "warning"  # or "info": worth knowing, nothing to fix
    data: dict = field(default_factory=dict, hash=False, compare=False)

    def to_json(self) -> dict:
        return asdict(self)


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
            out.append(Notice("summary_unmatched", f"摘要“{bullet}”没有对应的文章标题。", no))
    traced = [
        (art, t_no, pieces)
        for s, (_, arts) in zip(doc.sections, parsed.trace)
        for art, (t_no, pieces) in zip(s.articles, arts)
    ]
    for art, t_no, pieces in traced:
        if text_weight(art.title) > LONG_TITLE:
            out.append(
                Notice(
                    "long_title", f"标题很长（{len(art.title)} 字），是不是把段落当成了标题？", t_no
                )
            )
        for k, (para, piece) in enumerate(zip(art.paragraphs, pieces)):
            if text_weight(para) < SHORT_PARAGRAPH:
                out.append(Notice("short_paragraph", f"段落很短：“{para}”。", piece[0]))
            nxt = art.paragraphs[k + 1] if k + 1 < len(art.paragraphs) else ""
            if k and (para in doc.summary or (_title_like(para) and _LEAD.match(nxt))):
                out.append(
                    Notice(
                        "article_looks_like_two",
                        f"《{art.title}》像是两篇文章：“{para}”像另一篇的标题。",
                        piece[0],
                        data={"move": "title"},
                    )
                )
            # Inside a paragraph glued from several blocks (a page break, or a title that
            # lost its formatting): a title-like block followed by a news lead.
            for j in range(len(piece) - 1) if blocks else ():
                if k == 0 and j == 0:
                    continue  # the first block after a title is its paragraph
                inner, after = blocks.get(piece[j], ""), blocks.get(piece[j + 1], "")
                if (_title_like(inner) and _LEAD.match(after)) or inner in doc.summary:
                    out.append(
                        Notice(
                            "article_looks_like_two",
                            f"《{art.title}》像是两篇文章：“{inner}”像另一篇的标题。",
                            piece[j],
                            data={"move": "title"},
                        )
                    )
    for label in ("报", "发"):
        for name in doc.distribution.get(label, []):
            if groupnames.resolve(name, names) is None:
                out.append(
                    Notice(
                        "unknown_group",
                        f"{label}：“{name}”不是已有的订阅分组。",
                        data={"label": label, "name": name},
                    )
                )
    if parsed.dropped:
        shown = "、".join(f"“{t}”" for _, t in parsed.dropped[:3])
        out.append(
            Notice(
                "dropped_lines",
                f"去掉了 {len(parsed.dropped)} 行页码或页眉："
                f"{shown}{'等' if len(parsed.dropped) > 3 else ''}。",
                parsed.dropped[0][0],
                level="info",
            )
        )
    return out
