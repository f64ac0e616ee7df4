"""Fixtures for the format readers, made by the tests themselves from one new issue
(tests/bulletin/fixtures/weekly-397.txt, in the layout of samples/weekly-396.txt):

- the same issue in GB18030 and UTF-16;
- a Word file written with python-docx using direct formatting only (bold, size, centred;
  no heading styles), as editors format the bulletin;
- a PDF printed from HTML by Chromium (Playwright's page.pdf), every visual line its own
  line of text (so the reader must join lines into paragraphs), a running header, "- N -"
  page numbers, page breaks that fall inside paragraphs, and a few Kangxi radicals in the
  text layer (⾏ for 行, ⽉ for 月) as many PDFs carry them;
- hostile files: a zip that is not a .docx, a .docx that inflates to too much, an
  encrypted PDF, an image-only PDF.
"""

from __future__ import annotations

import html
import io
import re
import zipfile
from pathlib import Path

from newsletter.bulletin.document import IssueDoc

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ISSUE_397 = (FIXTURES / "weekly-397.txt").read_bytes()

# Two widths: a CJK character is one unit, ASCII about half (Noto Sans CJK's Latin is
# proportional, so a line is kept well under the 40 em of the page).
LINE_UNITS = 34
_TOKEN = re.compile(r"[A-Za-z0-9]+| |.", re.S)
_NO_BREAK_BEFORE = set("，。、；：！？”’）》」』%,.;:!?)")
_NO_BREAK_AFTER = set("“‘（《「『(")


def _units(token: str) -> float:
    return sum(0.55 if ord(c) < 0x80 else 1.0 for c in token)


def wrap(text: str, first_indent: float = 2.0, width: float = LINE_UNITS) -> list[str]:
    """Visual lines of a paragraph, broken where the PDF reader's join rule puts the text
    back exactly: between CJK characters, or at a space between two ASCII words (that space
    is dropped; the join adds one back between two ASCII letters or digits)."""
    tokens = _TOKEN.findall(text)
    lines, cur, used = [], "", first_indent
    for k, tok in enumerate(tokens):
        prev = tokens[k - 1] if k else ""
        nxt = tokens[k + 1] if k + 1 < len(tokens) else ""
        full = used + _units(tok) > width and cur
        if (
            full
            and tok == " "
            and prev[-1:].isascii()
            and prev.isalnum()
            and nxt.isalnum()
            and nxt.isascii()
        ):
            lines.append(cur)
            cur, used = "", 0.0
            continue
        if (
            full
            and tok != " "
            and prev != " "
            and tok not in _NO_BREAK_BEFORE
            and prev not in _NO_BREAK_AFTER
            and not (tok.isascii() and tok.isalnum() and prev.isascii() and prev.isalnum())
        ):
            lines.append(cur)
            cur, used = "", 0.0
        cur += tok
        used += _units(tok)
    if cur:
        lines.append(cur)
    return lines


def gb18030() -> bytes:
    return ISSUE_397.decode("utf-8").encode("gb18030")


def utf16() -> bytes:
    return ISSUE_397.decode("utf-8").encode("utf-16")  # with a BOM, as Notepad writes it


def _front(doc: IssueDoc) -> list[str]:
    return [
        doc.title,
        doc.publisher,
        f"第 {doc.number} 期",
        f"{doc.date.year} 年 {doc.date.month} 月 {doc.date.day} 日",
    ]


def _foot(doc: IssueDoc) -> list[str]:
    lines = []
    for label in ("编辑部", "责编", "复核", "注"):
        value = doc.credits.get(label)
        if value:
            lines.append(f"{label}：{value if isinstance(value, str) else ' '.join(value)}")
    lines.append("报：" + "、".join(doc.distribution["报"]))
    fa = doc.distribution["发"]
    lines.append("发：" + fa[0] + "；" + "、".join(fa[1:]))
    return lines


# --- Word ------------------------------------------------------------------------------------


def make_docx(doc: IssueDoc) -> bytes:
    """The issue as editors format it in Word: direct formatting only (no heading styles)."""
    import docx
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    d = docx.Document()

    def para(text, size=12, bold=False, centred=False, indent=False):
        p = d.add_paragraph()
        run = p.add_run(text)
        run.font.size = Pt(size)
        run.bold = bold
        if centred:
            p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        if indent:
            p.paragraph_format.first_line_indent = Pt(size * 2)
        return p

    title, publisher, number, date = _front(doc)
    para(title, 22, bold=True, centred=True)
    para(publisher, 14, centred=True)
    para(number, 12, centred=True)
    para(date, 12, centred=True)
    para("摘要：", 12, bold=True)
    for bullet in doc.summary:
        para(f"◆{bullet}", 12)
    for section in doc.sections:
        para(section.name, 16, bold=True)
        for article in section.articles:
            para(article.title, 14, bold=True)
            for text in article.paragraphs:
                para(text, 12, indent=True)
    for line in _foot(doc):
        para(line, 10.5)
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


# --- PDF ---------------------------------------------------------------------------------------

KANGXI = {"行": "⾏", "月": "⽉"}

_CSS = """
@page { size: A4; margin: 22mm 20mm 22mm 20mm; }
body { font-family: 'Noto Sans CJK SC', sans-serif; font-size: 12pt; line-height: 1.5;
       margin: 0; }
.l { white-space: pre; }
.p { margin: 0 0 6pt 0; }
.p .l:first-child { padding-left: 2em; }
.front { text-align: center; margin-bottom: 4pt; }
.t0 { font-size: 22pt; font-weight: bold; }
.sec { font-size: 16pt; font-weight: bold; margin: 10pt 0 4pt; }
.tit { font-size: 14pt; font-weight: bold; margin: 8pt 0 4pt; }
.foot { font-size: 10.5pt; }
"""


def _kangxi(text: str, every: int) -> str:
    """Replace every `every`-th 行/月 with its Kangxi radical (the text layer of many PDFs)."""
    count = 0

    def swap(m):
        nonlocal count
        count += 1
        return KANGXI[m.group()] if count % every == 0 else m.group()

    return re.sub("[行月]", swap, text)


def pdf_html(doc: IssueDoc, radicals_every: int = 3) -> str:
    e = html.escape
    out = [f"<!doctype html><meta charset=utf-8><style>{_CSS}</style><body>"]
    title, publisher, number, date = _front(doc)
    out.append(f'<div class="front t0">{e(title)}</div>')
    for line in (publisher, number, date):
        out.append(f'<div class="front">{e(line)}</div>')
    out.append('<div class="p"><div class="l">摘要：</div></div>')
    for bullet in doc.summary:
        out.append(f'<div class="l">- ◆{e(bullet)}</div>')
    for section in doc.sections:
        out.append(f'<div class="sec">{e(section.name)}</div>')
        for article in section.articles:
            out.append(f'<div class="tit">{e(article.title)}</div>')
            for text in article.paragraphs:
                lines = wrap(_kangxi(text, radicals_every))
                out.append(
                    '<div class="p">'
                    + "".join(f'<div class="l">{e(line)}</div>' for line in lines)
                    + "</div>"
                )
    for line in _foot(doc):
        out.append(f'<div class="l foot">{e(line)}</div>')
    return "".join(out)


HEADER = (
    '<div style="font-size:9pt;width:100%;text-align:center;'
    "font-family:'Noto Sans CJK SC'\">{title} · 第 {number} 期</div>"
)
FOOTER = (
    '<div style="font-size:9pt;width:100%;text-align:center;">'
    '- <span class="pageNumber"></span> -</div>'
)


def make_pdf(browser, doc: IssueDoc, radicals_every: int = 3) -> bytes:
    return print_pdf(browser, pdf_html(doc, radicals_every), doc)


def print_pdf(browser, html_text: str, doc: IssueDoc) -> bytes:
    page = browser.new_page()
    try:
        page.set_content(html_text)
        return page.pdf(
            format="A4",
            display_header_footer=True,
            header_template=HEADER.format(title=doc.title, number=doc.number),
            footer_template=FOOTER,
            margin={"top": "22mm", "bottom": "22mm", "left": "20mm", "right": "20mm"},
        )
    finally:
        page.close()


def image_only_pdf() -> bytes:
    """A scanned page: a picture and no text layer."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (600, 840), "white")
    ImageDraw.Draw(img).rectangle((60, 60, 540, 120), fill="black")
    out = io.BytesIO()
    img.save(out, "PDF")
    return out.getvalue()


def encrypted_pdf(plain: bytes) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(plain)))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def zip_not_docx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("notes.txt", "这不是 Word 文件。")
        z.writestr("data/table.csv", "a,b\n1,2\n")
    return out.getvalue()


def docx_bomb(docx_bytes: bytes, inflated: int = 64 * 1024 * 1024) -> bytes:
    """A real .docx plus an XML part that inflates to `inflated` bytes (a few KB on disk)."""
    src = zipfile.ZipFile(io.BytesIO(docx_bytes))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for info in src.infolist():
            z.writestr(info, src.read(info))
        with z.open("customXml/item99.xml", "w", force_zip64=True) as part:
            part.write(b"<a>")
            block = b" " * (1 << 20)
            for _ in range(inflated >> 20):
                part.write(block)
            part.write(b"</a>")
    return out.getvalue()
