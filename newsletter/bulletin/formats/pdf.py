"""PDF: the text layer with its fonts and positions (pdfplumber), turned back into the
paragraphs the editor wrote.

A PDF has no paragraphs, only positioned lines. Per page, lines in the top and bottom
margins that are page numbers, running headers or repeat on other pages are dropped. Then
two neighbouring lines belong to one paragraph unless: the font changes (size or bold), the
gap between them is wider than the usual line gap, the second is indented (a first-line
indent), or starts with a bullet or a foot label ("责编："), or either is centred. When a
document uses no first-line indents, a line clearly short of the right margin ends its
paragraph instead. A paragraph cut by a page break is joined across it by the same rules.
Lines are joined without a space (CJK) except between two ASCII letters or digits.
"""

from __future__ import annotations

import io
import logging
import re
import statistics
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import limits, pagelines
from ..parser import IssueParseError, SourceLine
from .styles import Styled, hints

if TYPE_CHECKING:  # pdfplumber is imported when a PDF comes, not with this module
    from pdfplumber.page import Page
    from pdfplumber.pdf import PDF

_whole = IssueParseError.whole_file
_BOLD = re.compile(r"bold|heavy|black|semibold|demi", re.IGNORECASE)
_STARTS_ITEM = re.compile(r"([-*－]\s*)?[◆◇•●■▪]|[-*－]\s|(编辑部|责编|复核|注|报|发)\s*[:：]")
_MARGIN = 0.075  # top and bottom share of the page where headers and footers live


@dataclass
class _Line:
    page: int
    no: int  # line number on its page (1-based, every text line counted)
    text: str
    x0: float
    x1: float
    top: float
    bottom: float
    size: float
    bold: bool


def _lines_of(page: Page, page_no: int) -> list[_Line]:
    out: list[_Line] = []
    raw = page.extract_text_lines(return_chars=True, keep_blank_chars=True)
    for k, line in enumerate(raw, 1):
        text = re.sub(r"\s+", " ", line["text"]).strip()
        chars = [c for c in line["chars"] if c["text"].strip()]
        if not text or not chars:
            continue
        sizes = Counter(round(c["size"], 1) for c in chars)
        bold = sum(bool(_BOLD.search(c.get("fontname") or "")) for c in chars) > len(chars) / 2
        out.append(
            _Line(
                page_no,
                k,
                text,
                line["x0"],
                line["x1"],
                line["top"],
                line["bottom"],
                sizes.most_common(1)[0][0],
                bold,
            )
        )
    return out


def _open(data: bytes) -> tuple[PDF, list[Page]]:
    import pdfplumber
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect

    try:
        pdf = pdfplumber.open(io.BytesIO(data))
        pages = pdf.pages
    except Exception as exc:  # pdfminer raises many kinds on broken files
        causes: list[BaseException] = []
        e: BaseException | None = exc
        while e is not None and len(causes) < 5:  # pdfplumber wraps pdfminer's errors
            causes += [e, *[a for a in e.args if isinstance(a, BaseException)]]
            e = e.__cause__ or e.__context__
        if any(isinstance(c, (PDFPasswordIncorrect, PDFEncryptionError)) for c in causes):
            raise _whole(
                "the PDF is encrypted (it needs a password); export it again without a password"
            ) from None
        raise _whole(f"not a readable PDF ({type(exc).__name__}: {exc})") from None
    if len(pages) > limits.MAX_PDF_PAGES:
        pdf.close()
        raise _whole(f"the PDF has {len(pages)} pages (limit {limits.MAX_PDF_PAGES})")
    return pdf, pages


# A page: its height, and its lines.
_Page = tuple[float, list[_Line]]


def _extract(data: bytes) -> list[_Page]:
    pdf, pages = _open(data)
    quiet = logging.getLogger("pdfminer")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # pdfminer logs each font it finds odd
    try:
        out: list[_Page] = []
        chars = 0
        for n, page in enumerate(pages, 1):
            if len(page.chars) > limits.MAX_PDF_CHARS_PER_PAGE:
                raise IssueParseError(
                    1,
                    f"more than {limits.MAX_PDF_CHARS_PER_PAGE} characters on one page; refused",
                    page=n,
                )
            chars += len(page.chars)
            if chars > limits.MAX_TEXT_CHARS:
                raise IssueParseError(
                    1, f"more than {limits.MAX_TEXT_CHARS} characters of text; refused", page=n
                )
            out.append((page.height, _lines_of(page, n)))
            page.flush_cache()
        return out
    except IssueParseError:
        raise
    except Exception as exc:
        raise _whole(f"the PDF cannot be read ({type(exc).__name__}: {exc})") from None
    finally:
        quiet.setLevel(level)
        pdf.close()


def _masked(text: str) -> str:
    return re.sub(r"\d+", "#", text)


def _body(pages: list[_Page], title: str, publisher: str) -> tuple[list[list[_Line]], int]:
    """Each page's lines without its headers, footers and page numbers; and how many went."""
    edge: Counter[str] = Counter()
    for height, lines in pages:
        for m in {
            _masked(l.text)
            for l in lines
            if l.top < height * _MARGIN or l.bottom > height * (1 - _MARGIN)
        }:
            edge[m] += 1
    kept: list[list[_Line]] = []
    dropped = 0
    for height, lines in pages:
        page_lines: list[_Line] = []
        for l in lines:
            in_margin = l.top < height * _MARGIN or l.bottom > height * (1 - _MARGIN)
            if in_margin and (
                pagelines.is_page_number(l.text)
                or edge[_masked(l.text)] > 1
                or pagelines.is_running_header(l.text, title, publisher)
            ):
                dropped += 1
                continue
            page_lines.append(l)
        kept.append(page_lines)
    return kept, dropped


def _join_text(a: str, b: str) -> str:
    if a[-1:].isascii() and a[-1:].isalnum() and b[:1].isascii() and b[:1].isalnum():
        return a + " " + b
    if a[-1:] in ",.;:!?" and b[:1].isascii() and b[:1].isalpha():
        return a + " " + b
    return a + b


def read_pdf(data: bytes) -> tuple[list[SourceLine], int, dict[int, tuple[int, int]], int]:
    """(paragraphs as lines, the last number, {number: (page, line on page)}, lines dropped)."""
    pages = _extract(data)
    every = [l for _, lines in pages for l in lines]
    if not every:
        raise _whole(
            "the PDF has no text layer (a scanned image?); export the bulletin "
            "from Word as PDF, or import the .docx or text instead"
        )
    title = every[0].text
    publisher = every[1].text if len(every) > 1 else ""
    # The first line may be a running header ("行业动态周报 · 第 397 期"); the title is the
    # largest text on the first page.
    first_page = [l for l in every if l.page == every[0].page]
    title = max(first_page, key=lambda l: l.size).text or title
    body_pages, dropped = _body(pages, title, publisher)
    lines = [l for page in body_pages for l in page]
    if not lines:
        raise _whole("the PDF has no text besides page numbers and headers")
    size = statistics.median(l.size for l in lines)
    left = Counter(round(l.x0) for l in lines).most_common(1)[0][0]
    right = (
        statistics.quantiles([l.x1 for l in lines], n=10)[-1]
        if len(lines) > 2
        else max(l.x1 for l in lines)
    )
    centre = (left + right) / 2
    gaps = [
        b.top - a.bottom
        for a, b in zip(lines, lines[1:])
        if a.page == b.page and a.size == b.size and b.top > a.bottom - 1
    ]
    usual_gap = statistics.median(gaps) if gaps else size * 0.5
    indented = sum(1 for l in lines if l.x0 - left >= 1.5 * l.size and l.x0 - left < 4 * l.size)
    indent_mode = indented >= 3

    def centred(l: _Line) -> bool:
        return l.x0 - left > 2 * l.size and abs((l.x0 + l.x1) / 2 - centre) < l.size

    def new_block(a: _Line, b: _Line) -> bool:
        if abs(a.size - b.size) > 0.5 or a.bold != b.bold or centred(a) or centred(b):
            return True
        if _STARTS_ITEM.match(b.text):
            return True
        if indent_mode and b.x0 - left >= 1.5 * b.size:
            return True
        if not indent_mode and a.x1 < right - 3 * a.size:
            return True
        return a.page == b.page and b.top - a.bottom > usual_gap + 0.35 * size

    blocks: list[list[_Line]] = []
    for line in lines:
        if blocks and not new_block(blocks[-1][-1], line):
            blocks[-1].append(line)
        else:
            blocks.append([line])
    styled: list[Styled] = []
    where: dict[int, tuple[int, int]] = {}
    for block in blocks:
        text = block[0].text
        for nxt in block[1:]:
            text = _join_text(text, nxt.text)
        styled.append(Styled(text, block[0].bold, block[0].size, centred(block[0])))
    out: list[SourceLine] = []
    for no, (block, s, hint) in enumerate(zip(blocks, styled, hints(styled)), 1):
        out.append(SourceLine(no, s.text, False, True, hint))
        where[no] = (block[0].page, block[0].no)
    return out, len(out), where, dropped
