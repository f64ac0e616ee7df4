"""Word .docx: paragraphs with their formatting, read with python-docx after a bounded
look at the zip (entry count, inflated size of the XML parts, no encrypted entries)."""

from __future__ import annotations

import io
import re
import zipfile

from .. import limits
from ..parser import IssueParseError, SourceLine
from .styles import Styled, hints

_whole = IssueParseError.whole_file
_HEADING = re.compile(r"(?:heading|标题)\s*(\d)", re.IGNORECASE)
_CENTER = 1  # WD_ALIGN_PARAGRAPH.CENTER


def _bounded_copy(data: bytes) -> bytes:
    """The package again, XML parts inflated under the caps and media left empty (python-docx
    loads every part; the text needs none of the pictures)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise _whole(f"a damaged zip file ({exc}); expected a Word .docx") from None
    names = {i.filename for i in infos}
    if "word/document.xml" not in names:
        raise _whole(
            "a zip file but not a Word document (no word/document.xml); "
            "expected a .docx, a PDF or a text file"
        )
    if len(infos) > limits.MAX_ZIP_ENTRIES:
        raise _whole(f"the .docx has {len(infos)} parts (limit {limits.MAX_ZIP_ENTRIES})")
    out, total = io.BytesIO(), 0
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as copy:
        for info in infos:
            if info.flag_bits & 0x1:
                raise _whole(
                    "the .docx is encrypted (password-protected); save it without a password"
                )
            if info.is_dir():
                continue
            if not info.filename.endswith((".xml", ".rels")):
                copy.writestr(info.filename, b"")
                continue
            chunks = []
            try:
                with zf.open(info) as part:
                    while chunk := part.read(1 << 16):
                        total += len(chunk)
                        if total > limits.MAX_DOCX_XML_BYTES:
                            raise _whole(
                                "the .docx inflates to more than "
                                f"{limits.MAX_DOCX_XML_BYTES // (1 << 20)} MB of XML; "
                                "refused (a damaged or hostile file)"
                            )
                        chunks.append(chunk)
            except (zipfile.BadZipFile, OSError, NotImplementedError, EOFError) as exc:
                raise _whole(f"the .docx part {info.filename} cannot be read ({exc})") from None
            copy.writestr(info.filename, b"".join(chunks))
    return out.getvalue()


def _style_chain(style):
    while style is not None:
        yield style
        style = style.base_style


def _effective(run, paragraph, attr: str):
    value = getattr(run.font, attr)
    if value is None and run.style is not None:
        value = next(
            (
                getattr(s.font, attr)
                for s in _style_chain(run.style)
                if getattr(s.font, attr) is not None
            ),
            None,
        )
    if value is None:
        value = next(
            (
                getattr(s.font, attr)
                for s in _style_chain(paragraph.style)
                if getattr(s.font, attr) is not None
            ),
            None,
        )
    return value


def _styled(paragraph) -> Styled:
    runs = [r for r in paragraph.runs if r.text.strip()]
    bold = bool(runs) and all(_effective(r, paragraph, "bold") for r in runs)
    sizes = [s.pt for r in runs if (s := _effective(r, paragraph, "size")) is not None]
    align = paragraph.alignment
    if align is None:
        align = next(
            (
                s.paragraph_format.alignment
                for s in _style_chain(paragraph.style)
                if s.paragraph_format.alignment is not None
            ),
            None,
        )
    level = None
    for s in _style_chain(paragraph.style):
        if s.name == "Title":
            level = 0
            break
        if m := _HEADING.fullmatch(s.name or ""):
            level = int(m[1])
            break
    return Styled(paragraph.text, bold, max(sizes) if sizes else None, align == _CENTER, level)


def _is_list_item(paragraph) -> bool:
    """Numbered or bulleted by Word (directly, or by its style, as "List Bullet" is)."""
    elements = [paragraph._p] + [s.element for s in _style_chain(paragraph.style)]
    return any(e.pPr is not None and e.pPr.numPr is not None for e in elements)


def read_docx(data: bytes) -> tuple[list[SourceLine], int, list[str]]:
    """(lines numbered by paragraph, the last paragraph's number, notes)."""
    import docx  # python-docx; imported here so text imports do not pay for it

    try:
        document = docx.Document(io.BytesIO(_bounded_copy(data)))
    except IssueParseError:
        raise
    except Exception as exc:  # python-docx raises KeyError, ValueError, lxml errors …
        raise _whole(f"not a readable Word document ({type(exc).__name__}: {exc})") from None
    paragraphs = document.paragraphs
    styled, numbers = [], []
    chars = 0
    for no, p in enumerate(paragraphs, 1):
        s = _styled(p)
        text = s.text.strip()
        if text and _is_list_item(p):
            text = "- " + text  # a Word list item (its bullet is not in the text)
        chars += len(text)
        if chars > limits.MAX_TEXT_CHARS:
            raise IssueParseError(
                no,
                f"more than {limits.MAX_TEXT_CHARS} characters of text; refused",
                unit="paragraph",
            )
        if text:
            s.text = text
            styled.append(s)
            numbers.append(no)
    lines: list[SourceLine] = []
    for no, s, hint in zip(numbers, styled, hints(styled)):
        pieces = [t.strip() for t in s.text.split("\n") if t.strip()]  # soft line breaks
        for k, piece in enumerate(pieces):
            lines.append(SourceLine(no, piece, False, k == 0, hint if k == 0 else None))
    notes = ["the Word file has tables; their text was not read"] if document.tables else []
    return lines, max(len(paragraphs), 1), notes
