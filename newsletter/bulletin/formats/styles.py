"""From formatting to parser hints, the same for Word and PDF.

Editors mark sections and titles by how they look: bold, a bigger size, or Word's heading
styles. A paragraph stands out when it uses a heading style, is bold, or is set at least a
point above the body size (the size most text is set in). When the standouts come in two
kinds (two heading levels, or two sizes), the larger is a section heading and the other an
article title; with one kind the parser's shape rules tell a heading from a title
("strong"). Everything else is a paragraph ("para") — unless nothing stands out at all (a
file typed without formatting), where the shape rules decide alone. A bold paragraph that
reads as prose (long, ends with 。) is left to the shape rules too.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ..parser import text_weight


@dataclass
class Styled:
    text: str
    bold: bool = False
    size: float | None = None  # points
    centred: bool = False
    level: int | None = None  # heading style level (1 = section), None when not a heading


def body_size(paras: list[Styled]) -> float | None:
    sizes: Counter = Counter()
    for p in paras:
        if p.size:
            sizes[round(p.size, 1)] += len(p.text)
    return sizes.most_common(1)[0][0] if sizes else None


def hints(paras: list[Styled]) -> list[str | None]:
    base = body_size(paras)

    def stands_out(p: Styled) -> bool:
        if p.text.rstrip().endswith("。") and text_weight(p.text) > 40:
            return False
        bigger = bool(p.size and base and p.size >= base + 1)
        return p.level is not None or p.bold or bigger

    marked = [stands_out(p) for p in paras]
    if not any(marked):
        return [None] * len(paras)
    levels = sorted({p.level for p, m in zip(paras, marked) if m and p.level is not None})
    sizes = Counter(
        round(p.size, 1) for p, m in zip(paras, marked) if m and p.level is None and p.size
    )
    title_size = sizes.most_common(1)[0][0] if sizes else None
    out: list[str | None] = []
    for p, m in zip(paras, marked):
        if not m:
            out.append("para")
        elif p.level is not None:
            out.append(
                "strong" if len(levels) < 2 else "heading" if p.level == levels[0] else "title"
            )
        elif len(sizes) >= 2 and p.size and title_size:
            out.append(
                "heading"
                if p.size > title_size
                else "title"
                if round(p.size, 1) == title_size
                else "strong"
            )
        else:
            out.append("strong")
    return out
