"""One entry point for every file an editor may import, recognised by its content (never
its name): PDF (`%PDF-`), Word .docx (a zip holding word/document.xml), or plain text in
UTF-8 (± BOM), UTF-16 or GB18030/GBK. Each becomes the same `SourceLine`s for the same
parser (`parser.parse_lines`), so every format gets one validation and one document model.

    doc, notices = read_document(data)

Bounded: the byte count is checked first (`limits`), then each reader caps its own work
(zip entries and inflated XML, PDF pages and characters). Errors are `IssueParseError`s
that name where: a line of a text file, a paragraph of a Word file, a page and line of a
PDF, or the whole file.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from newsletter.phrase import N_, NC_, P, Param

from .. import checks, limits, normalise
from ..document import IssueDoc
from ..parser import HINTS, IssueParseError, ParsedIssue, SourceLine, parse_lines, read_text_lines
from . import text as text_format

_whole = IssueParseError.whole_file
__all__ = ["Extracted", "ReadResult", "detect", "extract", "parse_extracted", "read_document"]

# What the import preview says the file was ("来自%(kind)s"), in the page's language.
KINDS = {
    "text": NC_("import source", "纯文本"),
    "docx": NC_("import source", "Word 文档"),
    "pdf": NC_("import source", "PDF"),
}


@dataclass
class Extracted:
    """What a file says, before the parser: numbered lines with formatting hints."""

    kind: str  # "text", "docx" or "pdf"
    lines: list[SourceLine]
    last_no: int
    unit: str = "line"  # what `no` counts: text lines, Word paragraphs, PDF blocks
    pages: dict[int, tuple[int, int]] = field(default_factory=dict)  # PDF: no -> (page, line)
    encoding: str | None = None
    notices: list[checks.Notice] = field(default_factory=list)

    def where(self, no: int) -> IssueParseError:
        """An error value locating block `no` (its `where_words` is shown to people)."""
        if self.pages and no in self.pages:
            page, line = self.pages[no]
            return IssueParseError(line, "", page=page)
        return IssueParseError(no, "", unit=self.unit)

    def relocate(self, exc: IssueParseError) -> IssueParseError:
        if exc.unit == "file" or exc.page is not None:
            return exc
        if self.pages:
            if exc.line in self.pages:
                page, line = self.pages[exc.line]
            else:  # "found the end of the file": the last line of the last page
                page, line = max(self.pages.values())
            return IssueParseError(line, exc.message, page=page)
        return IssueParseError(exc.line, exc.message, unit=self.unit)


@dataclass
class ReadResult:
    doc: IssueDoc
    notices: list[checks.Notice]
    parsed: ParsedIssue
    extracted: Extracted


def detect(data: bytes) -> str:
    """'pdf', 'docx' or 'text' from the bytes; IssueParseError for what we cannot read."""
    head = data[:1024]
    if b"%PDF-" in head:
        return "pdf"
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "docx"  # the docx reader says so when the zip holds no Word document
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        raise _whole("an old Word .doc (or other OLE) file; save it as .docx or PDF")
    for magic, what in (
        (b"\x89PNG", "a PNG image"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"{\\rtf", "an RTF file"),
        (b"\x1f\x8b", "a gzip file"),
        (b"Rar!", "a RAR archive"),
        (b"7z\xbc\xaf", "a 7-Zip archive"),
    ):
        if data.startswith(magic):
            raise _whole(f"{what}, not a bulletin; expected a .docx, a PDF or text")
    return "text"


def extract(data: bytes, filename_hint: str | None = None) -> Extracted:
    """The file's lines, by content; `filename_hint` only words the messages."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("extract() needs bytes")
    data = bytes(data)
    if len(data) > limits.MAX_FILE_BYTES:
        raise _whole(
            f"the file is {len(data) // (1 << 20)} MB; the limit is "
            f"{limits.MAX_FILE_BYTES // (1 << 20)} MB"
        )
    kind = detect(data)
    if kind == "pdf":
        from .pdf import read_pdf

        lines, last_no, pages, dropped = read_pdf(data)
        ex = Extracted("pdf", lines, last_no, "block", pages)
        if dropped:
            words = P(N_("去掉了 %(n)s 行页眉、页脚或页码。"), n=dropped)
            ex.notices.append(checks.Notice("dropped_lines", words, level="info"))
    elif kind == "docx":
        from .docx import read_docx

        lines, last_no, notes = read_docx(data)
        ex = Extracted("docx", lines, last_no, "paragraph")
        tables = P(N_("Word 文件里的表格没有导入。"))
        ex.notices += [checks.Notice("docx_tables", tables) for _ in notes]
    else:
        text, encoding = text_format.decode(data)
        if len(text) > limits.MAX_TEXT_CHARS:
            raise _whole(f"more than {limits.MAX_TEXT_CHARS} characters of text")
        lines, last_no = read_text_lines(text.removeprefix("\ufeff"))
        ex = Extracted("text", lines, last_no, "line", encoding=encoding)
    _normalise(ex)
    return ex


def _normalise(ex: Extracted) -> None:
    changed_at: list[int] = []
    examples: dict[str, str] = {}
    bad: dict[str, int] = {}
    for k, line in enumerate(ex.lines):
        text, changed = normalise.normalise(line.text)
        if changed:
            ex.lines[k] = replace(line, text=text.strip())
            changed_at.append(line.no)
            examples.update(changed)
        for ch in normalise.suspicious(text):
            bad.setdefault(ch, line.no)
    if changed_at:
        pairs: list[Param] = [
            f"{a}→{b}" if b else P(N_("%(char)s→（删除）"), char=a)
            for a, b in list(examples.items())[:6]
        ]
        ex.notices.append(
            checks.Notice(
                "normalised_chars",
                P(
                    N_("%(n)s 处文字含部首或兼容字符，已换成通用汉字（%(shown)s）。"),
                    n=len(changed_at),
                    shown=checks.listed(pairs),
                ),
                changed_at[0],
                # a PDF's text layer often carries them; a text or Word file should not
                level="info" if ex.kind == "pdf" else "warning",
            )
        )
    for ch, no in bad.items():
        ex.notices.append(
            checks.Notice(
                "suspicious_chars",
                P(
                    N_("无法识别的字符 U+%(code)s（字体私用区或已损坏的文字），请核对原文。"),
                    code=f"{ord(ch):04X}",
                ),
                no,
            )
        )


def parse_extracted(
    ex: Extracted, overrides: dict[int, str] | None = None, names: dict[str, str] | None = None
) -> ReadResult:
    """Parse the lines; `overrides` ({no: hint}) are the editor's moves from the preview;
    `names` is the group directory for the 报/发 check. Errors are located in the file."""
    lines = ex.lines
    if overrides:
        lines = [
            replace(l, hint=overrides[l.no]) if overrides.get(l.no) in HINTS else l for l in lines
        ]
    try:
        parsed = parse_lines(lines, ex.last_no)
    except IssueParseError as exc:
        raise ex.relocate(exc) from None
    blocks = {l.no: l.text for l in lines}
    notices = ex.notices + checks.check(parsed, names or {}, blocks)
    return ReadResult(parsed.doc, notices, parsed, ex)


def read_document(
    data: bytes, filename_hint: str | None = None, names: dict[str, str] | None = None
) -> tuple[IssueDoc, list[checks.Notice]]:
    """The issue in any accepted format, and its warnings."""
    result = parse_extracted(extract(data, filename_hint), names=names)
    return result.doc, result.notices
