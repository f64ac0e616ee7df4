"""The parser's messages (English, for the CLI, logs and tests) said in Chinese for the
Chinese pages. The parser stays pure; this table follows its wording, and a test feeds
every message the parser can raise through it (tests/bulletin/test_parse_messages.py).

`zh(message)` returns the Chinese sentence, or the message unchanged if it has no entry.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from newsletter import states

# What the parser expected, as it names it.
WHAT = {
    "the bulletin title (e.g. 行业动态周报)": "刊名（如“行业动态周报”）",
    "the publisher line (e.g. 中国网络视听协会)": "编发单位一行（如“中国网络视听协会”）",
    "the issue number like '第 396 期'": "期号（如“第 396 期”）",
    "the date like '2024 年 1 月 8 日' or '2024-01-08'": "日期（如“2024 年 1 月 8 日”或“2024-01-08”）",
    "the summary heading '摘要:' after the date": "日期后的“摘要:”标题",
    "a summary bullet like '- ◆…'": "摘要条目（如“- ◆…”）",
    "the issue number": "期号",
    "the date": "日期",
    "the summary heading": "“摘要:”标题",
    "the end of the file": "文件结尾",
}

_Q = r"'(?P<q>.*?)'"
_STATUS = states.ISSUE  # the one name of each state, as on every page


def _what(text: str) -> str:
    text = text.strip()
    if text in WHAT:
        return WHAT[text]
    m = re.fullmatch(r"section heading " + _Q, text)
    if m:
        return f"栏目标题“{m['q']}”"
    m = re.fullmatch(r"the foot " + _Q, text)
    if m:
        return f"刊尾“{m['q']}”"
    m = re.fullmatch(r"(?P<what>.+?) " + _Q, text)
    if m and m["what"] in WHAT:
        return f"{WHAT[m['what']]}“{m['q']}”"
    m = re.fullmatch(_Q, text)
    return f"“{m['q']}”" if m else text


RULES: list[tuple[str, str | Callable[[re.Match[str]], str]]] = [
    (
        r"the file looks like UTF-16; expected UTF-8 text",
        "文件看起来是 UTF-16 编码，应为 UTF-8 文本",
    ),
    (
        r"invalid UTF-8 byte 0x(?P<b>\w+); expected UTF-8 text",
        lambda m: f"有无效的 UTF-8 字节 0x{m['b']}，应为 UTF-8 文本",
    ),
    (
        r"unexpected control character (?P<c>U\+\w+); expected plain text \(is this a binary file\?\)",
        lambda m: f"出现了控制字符 {m['c']}，应为纯文本（是不是选了二进制文件？）",
    ),
    (
        r"the file is empty; expected the bulletin title \(行业动态周报\)",
        "文件是空的：应以刊名（行业动态周报）开头",
    ),
    (r"invalid date " + _Q + r": (?P<e>.*)", lambda m: f"日期“{m['q']}”无效（{m['e']}）"),
    (r"expected the summary text after the bullet mark", "摘要符号后面应有摘要文字"),
    (
        r"expected at least one summary bullet like '- ◆…' after '摘要:'",
        "“摘要:”之后应至少有一条摘要（如“- ◆…”）",
    ),
    (
        r"expected the foot \(编辑部：…, 责编：…, 发：…\) after the last article, found the end of the file",
        "最后一篇文章之后应有刊尾（编辑部：…、责编：…、发：…），但文件已结束",
    ),
    (
        r"expected a section heading \(a short line like '要闻'\) after the summary, found (?P<f>.*)",
        lambda m: f"摘要之后应为栏目标题（如“要闻”这样的短行），实际是{_what(m['f'])}",
    ),
    (
        r"expected a section heading \(a short line without punctuation, like '要闻'\), found (?P<f>.*)",
        lambda m: f"应为栏目标题（不带标点的短行，如“要闻”），实际是{_what(m['f'])}",
    ),
    (
        r"section "
        + _Q
        + r" has no article: expected an article title after the heading, found (?P<f>.*)",
        lambda m: f"栏目“{m['q']}”没有文章：标题之后应为文章标题，实际是{_what(m['f'])}",
    ),
    (
        r"expected an article title \(a line without final punctuation\), found " + _Q,
        lambda m: f"应为文章标题（末尾不带标点的一行），实际是“{m['q']}”",
    ),
    (
        r"article "
        + _Q
        + r" has no paragraph: expected a paragraph after the title, found (?P<f>.*)",
        lambda m: f"文章“{m['q']}”没有正文：标题之后应为段落，实际是{_what(m['f'])}",
    ),
    (
        r"unexpected text after the '发：' line; the distribution list ends the bulletin, found "
        + _Q,
        lambda m: f"“发：”一行之后不应再有文字（分发名单是周报的结尾），实际是“{m['q']}”",
    ),
    (
        r"expected a foot line such as '责编：…' or '发：…', found " + _Q,
        lambda m: f"应为刊尾行（如“责编：…”或“发：…”），实际是“{m['q']}”",
    ),
    (
        r"expected one '(?P<l>.+?)：' line, found a second one",
        lambda m: f"“{m['l']}：”只能有一行，这里是第二行",
    ),
    (r"expected some text after '(?P<l>.+?)：'", lambda m: f"“{m['l']}：”之后应有内容"),
    (
        r"issue (?P<n>\d+) is (?P<s>\w+); it cannot be replaced",
        lambda m: f"第 {m['n']} 期{_STATUS.get(m['s'], m['s'])}，不能覆盖",
    ),
    (
        r"expected (?P<w>.+?), found the end of the file",
        lambda m: f"应为{_what(m['w'])}，但文件已结束",
    ),
    (
        r"expected (?P<w>.+?), found (?P<f>.+)",
        lambda m: f"应为{_what(m['w'])}，实际是{_what(m['f'])}",
    ),
]
_COMPILED = [(re.compile(p, re.DOTALL), r) for p, r in RULES]


def zh(message: str) -> str:
    for pattern, result in _COMPILED:
        m = pattern.fullmatch(message)
        if m:
            return result(m) if callable(result) else result
    return message
