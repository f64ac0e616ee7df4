"""Page furniture: page-number lines and running headers, as they appear in text copied out
of the bulletin's PDF or in the PDF itself. One rule for the text parser and the PDF reader.
"""

from __future__ import annotations

import re

# "- 2 -", "— 2 —", "－2－", "第 2 页", "第 2 页 共 9 页", "2 / 9", "Page 2", "2"
PAGE_NUMBER = re.compile(
    r"[-—–－]\s*\d{1,4}\s*[-—–－]"
    r"|第\s*\d{1,4}\s*页(\s*[/，,]?\s*共\s*\d{1,4}\s*页)?"
    r"|\d{1,4}\s*/\s*\d{1,4}"
    r"|(page|p\.)\s*\d{1,4}(\s*(of|/)\s*\d{1,4})?"
    r"|\d{1,4}",
    re.IGNORECASE,
)
# A page number that a copy from the PDF glued onto the next line: "- 2 -会议要求…".
GLUED_PAGE_NUMBER = re.compile(r"[-—–－]\s*\d{1,4}\s*[-—–－]\s*(?=\S)")
_HEADER_NOISE = re.compile(r"[\s|·•｜/，,\-—–－]+")
_ISSUE_NO = re.compile(r"第\s*\d{1,6}\s*期")
_DATE = re.compile(r"\d{4}\s*(年\s*\d{1,2}\s*月\s*\d{1,2}\s*日|[-/.]\s*\d{1,2}\s*[-/.]\s*\d{1,2})")


def is_page_number(text: str) -> bool:
    return bool(PAGE_NUMBER.fullmatch(text.strip()))


def strip_glued_page_number(text: str) -> str:
    return GLUED_PAGE_NUMBER.sub("", text, count=1) if GLUED_PAGE_NUMBER.match(text) else text


def is_running_header(text: str, title: str, publisher: str) -> bool:
    """A line made only of the bulletin's title, publisher, issue number, date and a page
    number (in any order, with separators), that names the title or the issue number."""
    if not (title and title in text) and not _ISSUE_NO.search(text):
        return False
    rest = text
    for known in (title, publisher):
        if known:
            rest = rest.replace(known, " ")
    rest = _DATE.sub(" ", _ISSUE_NO.sub(" ", rest))
    rest = _HEADER_NOISE.sub(" ", rest).strip()
    return not rest or is_page_number(rest)
