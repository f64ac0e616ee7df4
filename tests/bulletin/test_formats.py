"""Every accepted format of one issue parses to the same document; hostile files get a
clear error quickly. Fixtures are made here (tests/bulletin/format_fixtures.py)."""

from __future__ import annotations

import io
import time

import pytest

from newsletter.bulletin import formats, limits, normalise
from newsletter.bulletin.formats import read_document
from newsletter.bulletin.parser import IssueParseError, parse_issue
from tests.bulletin import format_fixtures as fx

REFERENCE = parse_issue(fx.ISSUE_397)


@pytest.fixture(scope="module")
def pdf_bytes(browser) -> bytes:
    return fx.make_pdf(browser, REFERENCE)


@pytest.fixture(scope="module")
def docx_bytes() -> bytes:
    return fx.make_docx(REFERENCE)


def _error(data: bytes) -> IssueParseError:
    with pytest.raises(IssueParseError) as info:
        read_document(data)
    return info.value


# --- the same issue, five ways ------------------------------------------------------------


@pytest.mark.parametrize(
    "variant",
    [
        "utf-8",
        "utf-8-bom",
        "gb18030",
        "gbk",
        "utf-16",
        "utf-16-le-no-bom",
        "utf-16-be-no-bom",
        "crlf",
    ],
)
def test_text_in_every_encoding_is_the_same_issue(variant):
    text = fx.ISSUE_397.decode("utf-8")
    data = {
        "utf-8": fx.ISSUE_397,
        "utf-8-bom": b"\xef\xbb\xbf" + fx.ISSUE_397,
        "gb18030": fx.gb18030(),
        "gbk": text.encode("gbk"),
        "utf-16": fx.utf16(),
        "utf-16-le-no-bom": text.encode("utf-16-le"),
        "utf-16-be-no-bom": text.encode("utf-16-be"),
        "crlf": text.replace("\n", "\r\n").encode("gb18030"),
    }[variant]
    result = formats.parse_extracted(formats.extract(data))
    assert result.doc == REFERENCE
    assert result.extracted.kind == "text"


def test_the_word_file_is_the_same_issue(docx_bytes):
    assert formats.detect(docx_bytes) == "docx"
    doc, notices = read_document(docx_bytes)
    assert doc == REFERENCE
    assert not [n for n in notices if n.code in ("normalised_chars", "suspicious_chars")]


def test_the_pdf_is_the_same_issue(pdf_bytes):
    assert formats.detect(pdf_bytes) == "pdf"
    result = formats.parse_extracted(formats.extract(pdf_bytes))
    assert result.doc == REFERENCE
    codes = {n.code: n for n in result.notices}
    # header + footer on each of the pages went, and the radicals were mapped back
    assert codes["dropped_lines"].level == "info"
    assert "⾏→行" in codes["normalised_chars"].message
    assert "⽉→月" in codes["normalised_chars"].message
    text = "".join(l.text for l in result.extracted.lines)
    assert not any(lo <= ord(c) <= hi for c in text for lo, hi in normalise.NORMALISED_RANGES)


def test_the_pdf_fixture_is_as_hard_as_promised(pdf_bytes):
    """Every visual line is its own text line, and page breaks fall inside paragraphs."""
    import pdfplumber

    with pdfplumber.open(io.BytesIO(pdf_bytes)) as pdf:
        pages = [p.extract_text_lines() for p in pdf.pages]
    assert len(pages) >= 3
    paragraphs = [p for a in REFERENCE.articles for p in a.paragraphs]
    lines = [l["text"] for page in pages for l in page]
    assert len(lines) > len(paragraphs) * 2  # far more lines than paragraphs
    cut = 0
    for page in pages[1:]:
        first = page[1]  # line 0 is the running header
        indent = first["x0"] - min(l["x0"] for l in page[1:-1])
        if indent < 5 and abs(first["chars"][0]["size"] - 12) < 0.5:  # body, not indented
            cut += 1
    assert cut >= 1, "no paragraph continues across a page break"


def test_docx_with_heading_styles_and_a_word_list_is_the_same_issue():
    import docx

    d = docx.Document()
    for line in fx._front(REFERENCE):
        d.add_paragraph(line)
    d.add_paragraph("摘要：")
    for bullet in REFERENCE.summary:
        d.add_paragraph(bullet, style="List Bullet")  # the bullet is Word's, not in the text
    for section in REFERENCE.sections:
        d.add_heading(section.name, level=1)
        for article in section.articles:
            d.add_heading(article.title, level=2)
            for text in article.paragraphs:
                d.add_paragraph(text)
    for line in fx._foot(REFERENCE):
        d.add_paragraph(line)
    out = io.BytesIO()
    d.save(out)
    assert read_document(out.getvalue())[0] == REFERENCE


# --- errors name where ----------------------------------------------------------------------


def test_a_pdf_error_names_the_page_and_line(browser):
    html = fx.pdf_html(REFERENCE).replace("2024 年 1 月 15 日", "日期待定", 1)
    page = browser.new_page()
    page.set_content(html)
    data = page.pdf(
        format="A4",
        display_header_footer=True,
        header_template=fx.HEADER.format(title="行业动态周报", number=397),
        footer_template=fx.FOOTER,
    )
    page.close()
    err = _error(data)
    assert (err.page, err.line) == (1, 5)  # the running header is line 1 of the page
    assert str(err).startswith("page 1, line 5: expected the date")
    assert err.where_zh == "第 1 页第 5 行"


def test_a_word_error_names_the_paragraph():
    broken = REFERENCE.to_json()
    doc = type(REFERENCE).from_json(broken)
    doc.sections[0].articles[0].paragraphs = []  # a title with no paragraph
    data = fx.make_docx(doc)
    err = _error(data)
    assert err.unit == "paragraph" and err.line == 11  # 4 front + 摘要 + 4 bullets + 要闻 + title
    assert "has no paragraph" in err.message


def test_a_text_error_names_the_line_in_any_encoding():
    data = fx.ISSUE_397.decode("utf-8").replace("2024 年 1 月 15 日", "某日").encode("gb18030")
    assert (_error(data).line, _error(data).unit) == (7, "line")


def test_bytes_that_are_no_known_encoding_name_their_line():
    data = fx.ISSUE_397.replace("要闻".encode(), b"\xff\xfe\xfd\xfc")
    err = _error(data)
    assert err.line == 16 and "UTF-8" in err.message and "GB18030" in err.message


# --- hostile and malformed files: a clear error, quickly -------------------------------------


def _quick_error(data: bytes, gist: str, seconds: float = 5.0) -> IssueParseError:
    started = time.perf_counter()
    err = _error(data)
    assert time.perf_counter() - started < seconds
    assert gist in str(err), str(err)
    return err


def test_a_zip_that_is_not_a_docx():
    err = _quick_error(fx.zip_not_docx(), "no word/document.xml")
    assert err.unit == "file" and err.where_zh == "文件"


def test_a_docx_that_inflates_too_far(docx_bytes):
    bomb = fx.docx_bomb(docx_bytes, inflated=limits.MAX_DOCX_XML_BYTES + (8 << 20))
    assert len(bomb) < 200_000  # small on disk
    _quick_error(bomb, "inflates to more than")


def test_a_damaged_zip():
    _quick_error(b"PK\x03\x04" + b"\x00" * 200, "zip")


def test_an_encrypted_pdf(pdf_bytes):
    _quick_error(fx.encrypted_pdf(pdf_bytes), "encrypted")


def test_an_image_only_pdf():
    _quick_error(fx.image_only_pdf(), "no text layer")


def test_a_truncated_pdf(pdf_bytes):
    err = _error(pdf_bytes[:2000])
    assert err.unit == "file"


def test_a_50_mb_file_is_refused_before_any_parsing():
    data = b"%PDF-1.7\n" + b"0" * (50 << 20)
    _quick_error(data, "the limit is 10 MB", seconds=1.0)


@pytest.mark.parametrize(
    "data, gist",
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old Word .doc"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "PNG image"),
        (b"{\\rtf1\\ansi hello}", "RTF"),
    ],
)
def test_other_files_are_named(data, gist):
    _quick_error(data, gist)


def test_too_many_pdf_pages_are_refused_before_extracting(browser):
    page = browser.new_page()
    page.set_content(
        "".join(
            f'<p style="page-break-after:always">第 {i} 页</p>'
            for i in range(limits.MAX_PDF_PAGES + 1)
        )
    )
    data = page.pdf(format="A6")
    page.close()
    _quick_error(data, f"limit {limits.MAX_PDF_PAGES}")


# --- normalisation -------------------------------------------------------------------------


def test_radicals_and_compatibility_ideographs_are_mapped_but_punctuation_is_not():
    text = "⾏业⽉报⻓江⻔户⼾，：（）！？《》“”—…　Ａ１\uf900\u00ad"
    out, changed = normalise.normalise(text)
    assert out == "行业月报长江门户户，：（）！？《》“”—…　Ａ１\u8c48"
    assert changed["⾏"] == "行" and changed["\uf900"] == "\u8c48"


def test_text_with_radicals_gets_a_warning_and_the_ordinary_characters():
    data = fx.ISSUE_397.decode("utf-8").replace("行业\n", "⾏业\n").encode("utf-8")
    doc, notices = read_document(data)
    assert doc == REFERENCE
    warn = next(n for n in notices if n.code == "normalised_chars")
    assert warn.level == "warning" and "⾏→行" in warn.message


def test_private_use_characters_are_reported():
    data = fx.ISSUE_397.decode("utf-8").replace("会议要求", "会议\ue123要求", 1).encode()
    notices = read_document(data)[1]
    assert any(n.code == "suspicious_chars" and "U+E123" in n.message for n in notices)


# --- garbage in, IssueParseError out (every format) ----------------------------------------


def _garbled(docx_bytes: bytes, pdf_bytes: bytes):
    import random
    import zipfile

    rng = random.Random(397)
    for _ in range(25):
        yield b"%PDF-1.4\n" + rng.randbytes(rng.randrange(10, 3000))
        yield b"PK\x03\x04" + rng.randbytes(rng.randrange(10, 3000))
        yield docx_bytes[: rng.randrange(len(docx_bytes))]
        yield pdf_bytes[: rng.randrange(len(pdf_bytes))]
        flipped = bytearray(docx_bytes)
        for _ in range(rng.randrange(1, 8)):
            flipped[rng.randrange(len(flipped))] = rng.randrange(256)
        yield bytes(flipped)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as z:  # a zip with a word/document.xml of junk
            z.writestr(
                "word/document.xml",
                rng.choice(
                    [
                        rng.randbytes(200),
                        b"<w:document/>",
                        b"<?xml version='1.0'?><!DOCTYPE a "
                        b"[<!ENTITY x SYSTEM 'file:///etc/passwd'>]><a>&x;</a>",
                    ]
                ),
            )
        yield out.getvalue()


def test_garbled_files_raise_only_issue_parse_error(docx_bytes, pdf_bytes):
    outcomes = {"ok": 0, "error": 0}
    for data in _garbled(docx_bytes, pdf_bytes):
        try:
            read_document(data)
        except IssueParseError as err:
            outcomes["error"] += 1
            assert err.message and str(err).startswith(err.where)
            assert "passwd" not in err.message and "root:" not in err.message
        else:
            outcomes["ok"] += 1
    assert outcomes["error"] > 120
