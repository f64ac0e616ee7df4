"""The import preview's state: what the uploaded file said (its extracted lines) and the
editor's moves, held in a signed, expiring, size-bounded hidden field — so nothing is
stored until the editor saves, and a reload or a second tab cannot mix two uploads.

The token carries the extracted lines, not the file: a 2 MB PDF is ~20 KB of text, and the
save re-parses exactly what the preview showed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from itsdangerous import BadSignature, URLSafeTimedSerializer

from newsletter.phrase import N_, P, Phrase, PhraseError

from . import limits
from .checks import Notice
from .formats import Extracted, ReadResult
from .parser import HINTS, SourceLine

SALT = "bulletin-import-preview"
MAX_AGE_SECONDS = 3 * 3600


class PreviewExpired(PhraseError):
    """The hidden field is missing, altered, too old or too big."""


@dataclass
class Preview:
    extracted: Extracted
    overrides: dict[int, str] = field(default_factory=dict)
    filename: str = ""


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=SALT)


def dump(secret: str, preview: Preview) -> str:
    ex = preview.extracted
    token = _serializer(secret).dumps(
        {
            "k": ex.kind,
            "u": ex.unit,
            "n": ex.last_no,
            "e": ex.encoding,
            "f": preview.filename,
            "l": [[l.no, l.text, l.gap, l.starts_block, l.hint] for l in ex.lines],
            "p": {str(k): list(v) for k, v in ex.pages.items()},
            "x": [n.to_data() for n in ex.notices],
            "o": {str(k): v for k, v in preview.overrides.items()},
        }
    )
    if len(token) > limits.MAX_PREVIEW_TOKEN_BYTES:
        raise PreviewExpired(P(N_("这份文件太长，无法预览。")))
    return token


def load(secret: str, token: str | None) -> Preview:
    if not token or len(token) > limits.MAX_PREVIEW_TOKEN_BYTES:
        raise PreviewExpired(P(N_("预览已失效，请重新上传文件。")))
    try:
        data = _serializer(secret).loads(token, max_age=MAX_AGE_SECONDS)
        lines = [
            SourceLine(int(no), str(text), bool(gap), bool(sb), hint if hint in HINTS else None)
            for no, text, gap, sb, hint in data["l"]
        ]
        ex = Extracted(
            data["k"],
            lines,
            int(data["n"]),
            data["u"],
            {int(k): (int(v[0]), int(v[1])) for k, v in data["p"].items()},
            data["e"],
            [Notice.from_data(n) for n in data["x"]],
        )
        overrides = {int(k): v for k, v in data["o"].items() if v in HINTS}
    except BadSignature:
        raise PreviewExpired(P(N_("预览已失效（超过 3 小时或被改动），请重新上传文件。"))) from None
    except (KeyError, TypeError, ValueError, AttributeError):  # not this version's shape
        raise PreviewExpired(P(N_("预览数据无法读取，请重新上传文件。"))) from None
    return Preview(ex, overrides, str(data.get("f", "")))


# --- what the page shows ----------------------------------------------------------------------


@dataclass
class Item:
    """One title or paragraph on the preview, with where it came from and its move."""

    kind: str  # "title" or "para"
    text: str
    no: int
    where: Phrase  # "第 3 行", said in the page's language
    move_to: str  # the hint that moves it: "para" for a title, "title" for a paragraph
    notices: list[Notice] = field(default_factory=list)


def structure(result: ReadResult) -> list[tuple[str, list[list[Item]]]]:
    """[(section name, [[title item, paragraph items…] per article])]."""
    ex = result.extracted
    by_line: dict[int, list] = {}
    for n in result.notices:
        if n.line is not None:
            by_line.setdefault(n.line, []).append(n)
    out = []
    for section, (_, arts) in zip(result.doc.sections, result.parsed.trace):
        articles = []
        for article, (t_no, pieces) in zip(section.articles, arts):
            items = [
                Item(
                    "title",
                    article.title,
                    t_no,
                    ex.where(t_no).where_words,
                    "para",
                    by_line.get(t_no, []),
                )
            ]
            for text, piece in zip(article.paragraphs, pieces):
                found = [n for p in piece for n in by_line.get(p, [])]
                items.append(
                    Item("para", text, piece[0], ex.where(piece[0]).where_words, "title", found)
                )
            articles.append(items)
        out.append((section.name, articles))
    return out
