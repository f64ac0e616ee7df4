"""Parse the text of one 《行业动态周报》 issue, as extracted from its PDF, into an `IssueDoc`.

Accepted layout (blank lines may appear between any two lines; CRLF/CR line ends and a
UTF-8 BOM are accepted)::

    行业动态周报                         title line
    中国网络视听协会                     publisher line
    第 396 期                            issue number (spaces optional)
    2024 年 1 月 8 日                    date; also 2024年1月8日 or 2024-01-08 (or / .)
    摘要:                                ':' or '：'
    - ◆全国宣传部长会议在京召开 …         one bullet per line; '- ', '◆', '•', '●' are stripped
    要闻                                 section heading
    全国宣传部长会议在京召开 …            article title
    1 月 3 日，全国宣传部长会议在京召开。  paragraphs, separated by blank lines
    …                                    more articles, more sections
    编辑部：… 责编：… 复核：… 注：… 报：… 发：…   the foot, one label per line, 发 last

Section names are not known in advance: the body's structure comes from the shape of each
block (consecutive non-blank lines).

* A paragraph ends with sentence-final punctuation (。！？!?…；; maybe followed by closing
  quotes or brackets, as in ……。”). Titles and headings do not.
* A section heading is short (at most 10 characters), has no punctuation, and is followed
  by an article title. An article title is followed by at least one paragraph.
* PDF page breaks cut paragraphs in two. Inside an article body, a block that does not end
  with final punctuation is joined to the next block, with no space (CJK text, or an ASCII
  word cut in two) unless the first piece ended with whitespace, kept as one space.
* The first block after a title is always a paragraph. After a complete paragraph, an
  unfinished block still starts a (cut) paragraph when it reads like prose: it contains
  '。', ends with a comma-like mark, or is longer than any title (80 characters).
  Otherwise it is the next title, or a section heading when heading-shaped and followed
  by a title.
* The foot starts at the first labelled line (编辑部/责编/复核/注/报/发, then ':' or '：')
  followed by another labelled line or by the end of the file, so a "注：…" paragraph
  inside an article stays a paragraph. 编辑部 and 注 are strings; 责编 and 复核 are name
  lists (split on spaces, 、 and commas); 报 and 发 go to `distribution`, split on
  ；;、,， with each item kept as written ('高校等协作机构' is not shortened to '高校').

Also dropped, between the summary and the 发 line: page-number lines ("- 2 -", "第 2 页")
and running headers (the title and issue number repeated at the top of a page), and a page
number glued onto the start of a line ("- 2 -会议要求…"); they are listed in
`ParsedIssue.dropped`. A short block ending in ？ or ！ followed by a paragraph is a title
(a question headline), and so is a block equal to a summary bullet. Lengths count an ASCII
character as half a CJK one, so English titles are measured fairly.

Lines may carry a `hint` from the file's formatting (Word, PDF): "heading", "title",
"strong" (a title or a heading: the shape decides) or "para"; a hint overrides the shape.
The import preview uses the same hints to let an editor move a line between title and
paragraph.

Known limits: a title of at most 10 characters without punctuation, followed by a short
unfinished first paragraph without '。', reads as a section heading; a "注：…" paragraph
ending the last article is taken for the foot.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from newsletter.phrase import N_, P, Phrase

from . import pagelines
from .document import ArticleDoc, IssueDoc, SectionDoc

__all__ = [
    "IssueParseError",
    "ParsedIssue",
    "SourceLine",
    "parse_issue",
    "parse_lines",
    "read_text_lines",
    "text_weight",
]


class IssueParseError(ValueError):
    """The input is not a bulletin issue; `line` is 1-based, `message` says what was expected.

    `page` is set for a PDF (then `line` counts the lines of that page); `unit` is "line",
    "paragraph" (a Word file) or "file" (the whole file: encrypted, not a document…).
    `where` says it in words.
    """

    def __init__(self, line: int, message: str, page: int | None = None, unit: str = "line"):
        self.line, self.message, self.page, self.unit = line, message, page, unit
        super().__init__(f"{self.where}: {message}")

    @classmethod
    def whole_file(cls, message: str) -> IssueParseError:
        """An error about the file as a whole (encrypted, not a document, too big…)."""
        return cls(0, message, unit="file")

    @property
    def where(self) -> str:
        if self.unit == "file":
            return "the file"
        if self.page is not None:
            return f"page {self.page}, {self.unit} {self.line}"
        return f"{self.unit} {self.line}"

    @property
    def where_words(self) -> Phrase:
        """`where` as a phrase, for the pages ("第 3 行" in zh-CN, "line 3" in English)."""
        if self.unit == "file":
            return P(N_("文件"))
        if self.page is not None:
            if self.unit == "paragraph":
                return P(N_("第 %(page)s 页第 %(n)s 段"), page=str(self.page), n=str(self.line))
            return P(N_("第 %(page)s 页第 %(n)s 行"), page=str(self.page), n=str(self.line))
        if self.unit == "paragraph":
            return P(N_("第 %(n)s 段"), n=str(self.line))
        return P(N_("第 %(n)s 行"), n=str(self.line))

    @property
    def where_zh(self) -> str:
        return self.where_words.text()

    def __reduce__(self):  # keep it picklable despite the constructor's arguments
        return (type(self), (self.line, self.message, self.page, self.unit))


_ISSUE = re.compile(r"第\s*(\d{1,6})\s*期")
_DATES = (
    re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日"),
    re.compile(r"(\d{4})\s*[-/.]\s*(\d{1,2})\s*[-/.]\s*(\d{1,2})"),
)
_SUMMARY = re.compile(r"摘\s*要\s*[:：]?")
_BULLET = re.compile(r"(?P<dash>[-*－]\s*)?(?P<mark>[◆◇•●■▪])?\s*(?P<text>.*)")
_LABEL = re.compile(r"(编辑部|责编|复核|注|报|发)\s*[:：]\s*(.*)")
_NAME_SEP = re.compile(r"[\s、，,;；/]+")
_DIST_SEP = re.compile(r"\s*[；;、，,]\s*")
# C0/C1 controls (tab and form feed are fine: pdftotext emits \f at page breaks) and lone
# surrogates, which no text file contains and which could not be stored later anyway.
_BAD_CHAR = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

_FINAL = set("。！？!?…；;")
_EXCLAIM = set("！？!?")
_CLOSERS = "”’\"'」』）)》〉】]"
_MID_SENTENCE = tuple("，,、：:（(《“‘—-")
_PUNCT = set("，。、；：！？,.;:!?“”\"'‘’《》〈〉（）()【】[]「」『』…—")
_HEADING_MAX = 10
_TITLE_MAX = 80
_QUESTION_TITLE_MAX = 40
HINTS = ("heading", "title", "strong", "para")


@dataclass
class SourceLine:
    """One line (or one paragraph of a Word/PDF file) handed to the parser."""

    no: int  # 1-based position, used in error messages
    text: str  # stripped
    gap: bool = False  # the (last) raw line ended with whitespace
    starts_block: bool = True  # preceded by a blank line (a Word/PDF paragraph always is)
    hint: str | None = None  # from formatting or the editor: one of HINTS
    pieces: tuple[int, ...] = ()  # numbers of the blocks joined into this one


@dataclass
class ParsedIssue:
    """The document, and where each part came from (block numbers), for warnings and the
    import preview: `trace[s] = (heading no, [(title no, [paragraph pieces…])…])`."""

    doc: IssueDoc
    trace: list = field(default_factory=list)
    dropped: list[tuple[int, str]] = field(default_factory=list)
    summary_lines: list[int] = field(default_factory=list)


def text_weight(text: str) -> float:
    """Length in CJK characters: an ASCII character counts half (English titles are longer)."""
    return sum(0.5 if ord(c) < 0x80 else 1.0 for c in text)


def _is_final(text: str) -> bool:
    core = text.rstrip(_CLOSERS)  # "……。”" ends a sentence, "“新规”" does not
    if not core:
        return False
    if core[-1] == ".":  # "end." is a sentence, "2." is a decimal cut at the page end
        return len(core) < 2 or not core[-2].isdigit()
    return core[-1] in _FINAL


def _reads_as_prose(text: str) -> bool:
    return "。" in text or text.endswith(_MID_SENTENCE) or text_weight(text) > _TITLE_MAX


def _shaped_title(text: str) -> bool:
    return not _is_final(text) and not _reads_as_prose(text)


def _question_shaped(text: str) -> bool:
    """A headline that ends in ？ or ！: short, one sentence."""
    core = text.rstrip(_CLOSERS)
    return (
        bool(core)
        and core[-1] in _EXCLAIM
        and text_weight(text) <= _QUESTION_TITLE_MAX
        and not any(c in "。；;" for c in core[:-1])
    )


def _shaped_heading(text: str) -> bool:
    return text_weight(text.replace(" ", "")) <= _HEADING_MAX and not _PUNCT.intersection(text)


def _join(a: SourceLine, b: SourceLine) -> SourceLine:
    return SourceLine(
        a.no,
        a.text + (" " if a.gap else "") + b.text,
        b.gap,
        a.starts_block,
        a.hint,
        (a.pieces or (a.no,)) + (b.pieces or (b.no,)),
    )


def _q(text: str) -> str:
    return f"'{text}'" if len(text) <= 30 else f"'{text[:30]}…'"


def _decode(source: str | bytes) -> str:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise IssueParseError(1, "the file looks like UTF-16; expected UTF-8 text")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            head = data[: e.start].replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            raise IssueParseError(
                head.count(b"\n") + 1,
                f"invalid UTF-8 byte 0x{data[e.start]:02x}; expected UTF-8 text",
            ) from None
    elif isinstance(source, str):
        text = source
    else:
        raise TypeError(f"parse_issue() needs str or bytes, not {type(source).__name__}")
    return text.removeprefix("\ufeff")


def read_text_lines(text: str) -> tuple[list[SourceLine], int]:
    """Non-blank lines, and the number of the last line (for "found the end of the file")."""
    raw_lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    items, blank_before = [], True
    for no, raw in enumerate(raw_lines, 1):
        if bad := _BAD_CHAR.search(raw):
            raise IssueParseError(
                no,
                f"unexpected control character U+{ord(bad.group()):04X}; "
                "expected plain text (is this a binary file?)",
            )
        if text_ := raw.strip():
            items.append(SourceLine(no, text_, raw != raw.rstrip(), blank_before))
        blank_before = not text_
    return items, len(raw_lines)


def _looks_like(text: str) -> str | None:
    """Name a header line that appears where something else was expected."""
    if _ISSUE.fullmatch(text):
        return "the issue number"
    if any(p.fullmatch(text) for p in _DATES):
        return "the date"
    if _SUMMARY.fullmatch(text):
        return "the summary heading"
    return None


def _bullet(text: str) -> str | None:
    m = _BULLET.fullmatch(text)
    return m["text"] if m and (m["dash"] or m["mark"]) else None


def parse_issue(source: str | bytes) -> IssueDoc:
    """Parse one issue's UTF-8 text; raise IssueParseError naming the line and what was
    expected. (Other encodings, Word and PDF: `newsletter.bulletin.formats.read_document`.)"""
    return parse_lines(*read_text_lines(_decode(source))).doc


def _drop_furniture(
    items: list[SourceLine], start: int, title: str, publisher: str, dropped: list
) -> list[SourceLine]:
    """Page numbers and running headers between the summary and the 发 line go."""
    end = next(
        (
            k
            for k in range(start, len(items))
            if (m := _LABEL.fullmatch(items[k].text)) and m[1] == "发"
        ),
        len(items),
    )
    kept = items[:start]
    for k in range(start, end):
        it = items[k]
        if pagelines.is_page_number(it.text) or pagelines.is_running_header(
            it.text, title, publisher
        ):
            dropped.append((it.no, it.text))
            continue
        if (text := pagelines.strip_glued_page_number(it.text)) != it.text:
            dropped.append((it.no, it.text[: len(it.text) - len(text)].strip()))
            it = SourceLine(it.no, text, it.gap, it.starts_block, it.hint, it.pieces)
        kept.append(it)
    return kept + items[end:]


def parse_lines(items: list[SourceLine], last_no: int) -> ParsedIssue:
    """Parse non-blank lines (from text, Word or PDF) into an issue, with its trace."""
    if not items:
        raise IssueParseError(1, "the file is empty; expected the bulletin title (行业动态周报)")

    def take(i: int, what: str) -> SourceLine:
        if i >= len(items):
            raise IssueParseError(last_no, f"expected {what}, found the end of the file")
        return items[i]

    def expect(i: int, what: str, *patterns: re.Pattern) -> tuple[SourceLine, re.Match]:
        line = take(i, what)
        if m := next(filter(None, (p.fullmatch(line.text) for p in patterns)), None):
            return line, m
        raise IssueParseError(line.no, f"expected {what}, found {_q(line.text)}")

    title = take(0, "the bulletin title (e.g. 行业动态周报)")
    publisher = take(1, "the publisher line (e.g. 中国网络视听协会)")
    for line, what in (
        (title, "the bulletin title (e.g. 行业动态周报)"),
        (publisher, "the publisher line (e.g. 中国网络视听协会)"),
    ):
        if found := _looks_like(line.text):
            raise IssueParseError(line.no, f"expected {what}, found {found} {_q(line.text)}")
    number = int(expect(2, "the issue number like '第 396 期'", _ISSUE)[1][1])
    date_line, m = expect(3, "the date like '2024 年 1 月 8 日' or '2024-01-08'", *_DATES)
    try:
        date = dt.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError as e:
        raise IssueParseError(date_line.no, f"invalid date {_q(date_line.text)}: {e}") from None
    expect(4, "the summary heading '摘要:' after the date", _SUMMARY)
    summary, summary_lines, i = [], [], 5
    while i < len(items) and (text := _bullet(items[i].text)) is not None:
        if not text:
            raise IssueParseError(items[i].no, "expected the summary text after the bullet mark")
        summary.append(text)
        summary_lines.append(items[i].no)
        i += 1
    if not summary:
        raise IssueParseError(
            take(i, "a summary bullet like '- ◆…'").no,
            "expected at least one summary bullet like '- ◆…' after '摘要:'",
        )
    dropped: list[tuple[int, str]] = []
    items = _drop_furniture(items, i, title.text, publisher.text, dropped)

    # The foot starts at a labelled line followed by another one (or by nothing), so that a
    # "注：…" paragraph inside an article is not taken for the foot.
    labelled = [bool(_LABEL.fullmatch(it.text)) for it in items]
    foot = next(
        (
            f
            for f in range(i, len(items))
            if labelled[f] and (f + 1 == len(items) or labelled[f + 1])
        ),
        len(items),
    )
    blocks: list[SourceLine] = []
    for it in items[i:foot]:
        if blocks and not it.starts_block:  # a wrapped line continues its block
            blocks[-1] = _join(blocks[-1], it)
        else:
            blocks.append(it)
    if foot < len(items):
        end_no, end_what = items[foot].no, f"the foot {_q(items[foot].text)}"
    else:
        end_no, end_what = last_no, "the end of the file"
    sections, trace = _Body(blocks, set(summary), end_no, end_what).parse()
    if foot == len(items):
        raise IssueParseError(
            last_no,
            "expected the foot (编辑部：…, 责编：…, 发：…) after "
            "the last article, found the end of the file",
        )
    credits, distribution = _parse_foot(items[foot:])
    doc = IssueDoc(
        number=number,
        date=date,
        title=title.text,
        publisher=publisher.text,
        summary=summary,
        sections=sections,
        credits=credits,
        distribution=distribution,
    )
    return ParsedIssue(doc, trace, dropped, summary_lines)


class _Body:
    """Sections and articles from the blocks between the summary and the foot."""

    def __init__(self, blocks: list[SourceLine], summary: set[str], end_no: int, end_what: str):
        self.blocks, self.n, self.summary = blocks, len(blocks), summary
        self.end_no, self.end_what = end_no, end_what

    def is_heading(self, b: SourceLine) -> bool:
        return b.hint == "heading" or (b.hint in (None, "strong") and _shaped_heading(b.text))

    def is_title(self, i: int) -> bool:
        b = self.blocks[i]
        if b.hint:
            return b.hint in ("title", "strong")
        return (
            _shaped_title(b.text)
            or b.text in self.summary
            or (
                _question_shaped(b.text)
                and i + 1 < self.n
                and self.is_para(i + 1)
                and not _question_shaped(self.blocks[i + 1].text)
            )
        )

    def is_para(self, i: int) -> bool:
        b = self.blocks[i]
        if b.hint:
            return b.hint == "para"
        return (_is_final(b.text) or _reads_as_prose(b.text)) and b.text not in self.summary

    def starts_section(self, i: int) -> bool:  # a heading block followed by a title or the end
        if i >= self.n or not self.is_heading(self.blocks[i]):
            return False
        return self.blocks[i].hint == "heading" or i + 1 >= self.n or self.is_title(i + 1)

    def found(self, i: int) -> str:
        return f"section heading {_q(self.blocks[i].text)}" if i < self.n else self.end_what

    def parse(self) -> tuple[list[SectionDoc], list]:
        blocks, n = self.blocks, self.n
        if not blocks:
            raise IssueParseError(
                self.end_no,
                "expected a section heading (a short line like "
                f"'要闻') after the summary, found {self.end_what}",
            )
        sections, trace, i = [], [], 0
        while i < n:
            head = blocks[i]
            if not self.is_heading(head):
                raise IssueParseError(
                    head.no,
                    "expected a section heading (a short line "
                    f"without punctuation, like '要闻'), found {_q(head.text)}",
                )
            i += 1
            if i >= n or self.starts_section(i):
                raise IssueParseError(
                    head.no,
                    f"section {_q(head.text)} has no article: "
                    "expected an article title after the heading, found "
                    f"{self.found(i)}",
                )
            section = SectionDoc(head.text, [])
            sections.append(section)
            section_trace: list = []
            trace.append((head.no, section_trace))
            while i < n and not self.starts_section(i):
                title = blocks[i]
                if not self.is_title(i):
                    raise IssueParseError(
                        title.no,
                        "expected an article title (a line without "
                        f"final punctuation), found {_q(title.text)}",
                    )
                i += 1
                if i >= n or self.starts_section(i) or blocks[i].hint in ("title", "heading"):
                    raise IssueParseError(
                        title.no,
                        f"article {_q(title.text)} has no paragraph:"
                        f" expected a paragraph after the title, found "
                        f"{self.found(i)}",
                    )
                article = ArticleDoc(title.text, [])
                section.articles.append(article)
                para_trace: list = []
                section_trace.append((title.no, para_trace))
                while True:
                    para = blocks[i]
                    i += 1
                    # An unfinished paragraph was cut by a page break: glue the pieces back.
                    while (
                        not _is_final(para.text)
                        and i < n
                        and not self.starts_section(i)
                        and blocks[i].hint not in ("title", "heading", "strong")
                        and blocks[i].text not in self.summary
                    ):
                        para = _join(para, blocks[i])
                        i += 1
                    article.paragraphs.append(para.text)
                    para_trace.append(para.pieces or (para.no,))
                    if (
                        i >= n
                        or self.starts_section(i)
                        or not self.is_para(i)
                        or (blocks[i].hint is None and self.is_title(i))
                    ):
                        break  # the next block is a title (or a heading, or nothing)
        return sections, trace


def _parse_foot(lines: list[SourceLine]) -> tuple[dict, dict]:
    credits: dict = {}
    distribution: dict = {}
    for line in lines:
        if "发" in distribution:
            raise IssueParseError(
                line.no,
                "unexpected text after the '发：' line; the "
                f"distribution list ends the bulletin, found {_q(line.text)}",
            )
        if not (m := _LABEL.fullmatch(line.text)):
            raise IssueParseError(
                line.no, f"expected a foot line such as '责编：…' or '发：…', found {_q(line.text)}"
            )
        label, value = m[1], m[2].strip()
        if label in credits or label in distribution:
            raise IssueParseError(line.no, f"expected one '{label}：' line, found a second one")
        if not value:
            raise IssueParseError(line.no, f"expected some text after '{label}：'")
        if label in ("编辑部", "注"):
            credits[label] = value
        elif label in ("责编", "复核"):
            credits[label] = [p for p in _NAME_SEP.split(value) if p]
        else:
            distribution[label] = [p for p in _DIST_SEP.split(value) if p]
    return credits, distribution
