"""Tests for newsletter.bulletin.parser (pure Python: no Flask, no database)."""

from __future__ import annotations

import datetime as dt
import pickle
import random
import re
from pathlib import Path

import pytest

from newsletter.bulletin.document import IssueDoc
from newsletter.bulletin.parser import IssueParseError, parse_issue

SAMPLE_PATH = Path(__file__).resolve().parents[2] / "samples" / "weekly-396.txt"
SAMPLE_BYTES = SAMPLE_PATH.read_bytes()
SAMPLE = SAMPLE_BYTES.decode("utf-8")
LINES = SAMPLE.split("\n")  # line N of the file is LINES[N - 1]


@pytest.fixture(scope="module")
def doc() -> IssueDoc:
    return parse_issue(SAMPLE_BYTES)


def replaced(**by_line: str) -> str:
    """The sample with some lines replaced (keys like l9=...), so line numbers stay put."""
    lines = list(LINES)
    for key, text in by_line.items():
        lines[int(key[1:]) - 1] = text
    return "\n".join(lines)


def inserted(before: int, *new: str) -> str:
    return "\n".join(LINES[: before - 1] + list(new) + LINES[before - 1 :])


def first_lines(n: int) -> str:
    return "\n".join(LINES[:n])


# --- the sample issue -------------------------------------------------------------------


def test_sample_header(doc):
    assert doc.number == 396
    assert doc.date == dt.date(2024, 1, 8)
    assert doc.title == "行业动态周报"
    assert doc.publisher == "中国网络视听协会"
    assert doc.summary == [
        "全国宣传部长会议在京召开 蔡奇出席并讲话",
        "2024 年全国广播电视工作会议在京召开",
        "哔哩哔哩公布 2023 百大 UP 主名单",
        "董昕就任国家广播电视总局副局长",
    ]
    assert doc.editor_note is None


def test_sample_sections(doc):
    assert [s.name for s in doc.sections] == [
        "要闻",
        "行业",
        "内容",
        "技术",
        "资本",
        "人事",
        "研究",
    ]
    assert [len(s.articles) for s in doc.sections] == [2, 11, 5, 7, 3, 1, 2]
    assert len(doc.articles) == 31
    # 4 articles have more than one paragraph: 3 + 2 + 2 + 2 + 27 single ones.
    assert sum(len(a.paragraphs) for a in doc.articles) == 36


def test_sample_articles(doc):
    first, second = doc.sections[0].articles
    assert first.title == "全国宣传部长会议在京召开 蔡奇出席并讲话"
    assert len(first.paragraphs) == 1
    assert second.title == "2024年全国广播电视工作会议在京召开"
    assert len(second.paragraphs) == 3
    assert second.paragraphs[1].startswith("会议指出，2023年，")
    assert doc.sections[-1].articles[-1].title.startswith("喜马拉雅发布《2023中文播客生态报告》")
    assert doc.sections[5].articles[0].title == "董昕就任国家广播电视总局副局长"
    for article in doc.articles:  # shape sanity: every paragraph ends a sentence
        assert all(p.endswith("。") for p in article.paragraphs), article.title


@pytest.mark.parametrize(
    "joined, continuation",
    [
        ("教育人民的首要政治任务，发展壮大", "首要政治任务"),
        ("基本原则，明确了到 2026 年底", "则，明确了"),
        ("处罚正式生效，近5000 名主播当日", "5000 名主播"),
        ("创新成果发布会，并宣布推出国内首个", "并宣布推出"),
        ("这一估算假定 70%的 Prime 用户", "定 70%的 Prime"),
        ("该商店允许 AI 模型开发者的客户", "型开发者"),
        ("有50.2%的播客听众曾为播客内容付费", "听众曾为"),
    ],
)
def test_sample_page_break_joins(doc, joined, continuation):
    paragraphs = [p for a in doc.articles for p in a.paragraphs]
    assert sum(joined in p for p in paragraphs) == 1
    assert not any(p.startswith(continuation) for p in paragraphs)
    assert not any(a.title.startswith(continuation) for a in doc.articles)


def test_sample_foot(doc):
    assert doc.credits == {
        "编辑部": "中国网络视听协会 对外合作部",
        "责编": ["余力", "何紫薇", "张轩豪", "若斯"],
        "复核": ["文超", "王小野", "张雁"],
        "注": "本周报由公开报道汇编，不代表中国网络视听协会观点。",
    }
    assert doc.distribution == {
        "报": ["协会领导"],
        "发": [
            "协会各会员单位",
            "社团",
            "媒体",
            "制作机构",
            "投资机构",
            "技术公司",
            "研究机构",
            "高校等协作机构",
        ],
    }


def test_sample_json_round_trip(doc):
    assert IssueDoc.from_json(doc.to_json()) == doc


@pytest.mark.parametrize(
    "variant",
    [
        SAMPLE,
        SAMPLE_BYTES.replace(b"\n", b"\r\n"),
        SAMPLE_BYTES.replace(b"\n", b"\r"),
        b"\xef\xbb\xbf" + SAMPLE_BYTES,
        b"\xef\xbb\xbf" + SAMPLE_BYTES.replace(b"\n", b"\r\n"),
        "\ufeff" + SAMPLE.replace("\n", "\r\n"),
        SAMPLE_BYTES + b"\n\n",
        bytearray(SAMPLE_BYTES),
    ],
    ids=["str", "crlf", "cr", "bom", "bom+crlf", "str-bom+crlf", "trailing-newlines", "bytearray"],
)
def test_line_ends_and_bom_do_not_matter(doc, variant):
    assert parse_issue(variant) == doc


# --- another week, other section names ----------------------------------------------------

OTHER_WEEK = "\n".join(
    [
        "行业动态周报",
        "中国网络视听协会",
        "第397期",
        "2024-01-15",
        "摘要：",
        "• 国务院发布网络视听新规",
        "● 海外平台加速布局",
        "",
        "政策",
        "",
        "国务院发布网络视听新规",
        "",
        "1月10日，国务院发布新规。相关负责人表示：“新规将于 2 月施行。”",
        "",
        "新规明确了三项要求。被业内称为“最严新规”",
        "",
        "的这一文件还规定了过渡期。",
        "",
        "海外",
        "",
        "Netflix 公布季度财报",
        "",
        "Netflix 公布季度财报，订阅用户数量创下新高。该公司称其 ad-supported 套餐的用户",
        "",
        "增长迅速。Net",
        "",
        "flix 还表示 uses the ",  # ends with a space: the join keeps one
        "",
        "model 很成功。",
        "",
        "注：以上数据来自公司财报。",
        "",
        "YouTube 推出 AI 配音功能",
        "",
        "YouTube 宣布推出 AI 配音功能，",
        "首批支持英语和西班牙语。",  # a wrapped line inside one block
        "",
        "编辑部: 对外合作部",
        "责编: 张三、李四",
        "复核: 王五",
        "报: 协会领导",
        "发: 协会各会员单位;高校",
    ]
)


def test_other_week_with_other_sections():
    doc = parse_issue(OTHER_WEEK)
    assert (doc.number, doc.date) == (397, dt.date(2024, 1, 15))
    assert doc.summary == ["国务院发布网络视听新规", "海外平台加速布局"]
    assert [s.name for s in doc.sections] == ["政策", "海外"]
    policy, overseas = doc.sections
    assert [a.title for a in policy.articles] == ["国务院发布网络视听新规"]
    assert policy.articles[0].paragraphs == [
        "1月10日，国务院发布新规。相关负责人表示：“新规将于 2 月施行。”",
        "新规明确了三项要求。被业内称为“最严新规”的这一文件还规定了过渡期。",
    ]
    netflix, youtube = overseas.articles
    assert netflix.paragraphs == [
        "Netflix 公布季度财报，订阅用户数量创下新高。该公司称其 ad-supported 套餐的用户"
        "增长迅速。Netflix 还表示 uses the model 很成功。",
        "注：以上数据来自公司财报。",  # a note inside an article is not the foot
    ]
    assert youtube.title == "YouTube 推出 AI 配音功能"
    assert youtube.paragraphs == ["YouTube 宣布推出 AI 配音功能，首批支持英语和西班牙语。"]
    assert doc.credits == {"编辑部": "对外合作部", "责编": ["张三", "李四"], "复核": ["王五"]}
    assert doc.distribution == {"报": ["协会领导"], "发": ["协会各会员单位", "高校"]}


@pytest.mark.parametrize("date_line", ["2024年1月15日", "2024 年 1 月 15 日", "2024-1-15"])
def test_date_spellings(date_line):
    assert parse_issue(OTHER_WEEK.replace("2024-01-15", date_line)).date == dt.date(2024, 1, 15)


# --- malformed input ------------------------------------------------------------------------

BAD_UTF8_AT_24 = SAMPLE_BYTES.replace("教育人民的".encode(), "教育人民的".encode() + b"\xff")

ERROR_CASES = {
    "empty file": (b"", 1, r"empty"),
    "blank file": ("\n \n\t\n", 1, r"empty"),
    "no issue number": (replaced(l9=""), 11, r"expected the issue number like '第 396 期'"),
    "garbled issue number": (replaced(l9="第 期"), 9, r"expected the issue number"),
    "no publisher": (replaced(l5=""), 9, r"expected the publisher line.*found the issue number"),
    "impossible date": (replaced(l11="2024 年 2 月 30 日"), 11, r"invalid date"),
    "not a date": (replaced(l11="2024 年 1 月"), 11, r"expected the date like"),
    "missing 摘要": (replaced(l13=""), 15, r"expected the summary heading '摘要:'"),
    "摘要 without bullets": (
        replaced(l15="", l16="", l17="", l18=""),
        20,
        r"expected at least one summary bullet",
    ),
    "no first section heading": (replaced(l20=""), 22, r"expected a section heading"),
    "heading followed by heading": (
        inserted(148, "海外", ""),
        148,
        r"section '海外' has no article.*section heading '资本'",
    ),
    "heading followed by the foot": (
        inserted(182, "展望", ""),
        182,
        r"section '展望' has no article.*the foot",
    ),
    "title without paragraph, then a heading": (
        replaced(l166=""),
        164,
        r"article '董昕.*' has no paragraph.*section heading '研究'",
    ),
    "title without paragraph, then the foot": (
        replaced(l176="", l178="", l180=""),
        174,
        r"has no paragraph.*the foot '编辑部",
    ),
    "title without paragraph, then end of file": (
        first_lines(175),
        174,
        r"has no paragraph.*end of the file",
    ),
    "no foot": (first_lines(181), 181, r"expected the foot"),
    "text after 发": (SAMPLE + "\n\n第 3 页", 194, r"after the '发：' line"),
    "label after 发": (SAMPLE + "\n注：又一条", 193, r"after the '发：' line"),
    "junk inside the foot": (replaced(l187="随便写点"), 187, r"expected a foot line"),
    "duplicate 责编": (replaced(l187="责编：某某"), 187, r"second"),
    "empty 责编": (replaced(l184="责编："), 184, r"expected some text after '责编："),
    "NUL bytes": (b"\x00" * 64, 1, r"control character U\+0000.*binary"),
    "NUL inside line 50": (replaced(l50=LINES[49] + "\x00").encode(), 50, r"control character"),
    "binary junk": (bytes(range(256)) * 4, 3, r"invalid UTF-8 byte 0x80"),  # \n and \r before
    "invalid UTF-8": (BAD_UTF8_AT_24, 24, r"invalid UTF-8 byte 0xff"),
    "invalid UTF-8 with CRLF": (BAD_UTF8_AT_24.replace(b"\n", b"\r\n"), 24, r"UTF-8"),
    "invalid UTF-8 with CR": (BAD_UTF8_AT_24.replace(b"\n", b"\r"), 24, r"UTF-8"),
    "cut inside a character": (SAMPLE_BYTES[:-1], 192, r"invalid UTF-8"),
    "UTF-16": (SAMPLE.encode("utf-16"), 1, r"UTF-16"),
    "lone surrogate": ("行业动态周报\n\ud800", 2, r"control character U\+D800"),
}


@pytest.mark.parametrize("source, line, gist", ERROR_CASES.values(), ids=ERROR_CASES.keys())
def test_malformed_input(source, line, gist):
    with pytest.raises(IssueParseError) as info:
        parse_issue(source)
    err = info.value
    assert (err.line, bool(re.search(gist, err.message))) == (line, True), str(err)
    assert str(err) == f"line {err.line}: {err.message}"


def test_error_is_a_picklable_value_error():
    err = IssueParseError(7, "expected the date like '2024 年 1 月 8 日'")
    assert isinstance(err, ValueError)
    assert str(err) == "line 7: expected the date like '2024 年 1 月 8 日'"
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.line, copy.message, str(copy)) == (err.line, err.message, str(err))


def test_wrong_argument_type_is_a_programming_error():
    with pytest.raises(TypeError):
        parse_issue(None)  # type: ignore[arg-type]


def test_every_truncation_before_the_foot_is_an_error():
    for n in range(0, 182):
        with pytest.raises(IssueParseError):
            parse_issue(first_lines(n))


# --- garbage in, IssueParseError out ----------------------------------------------------------


def _line_count(data: bytes | str) -> int:
    nl = b"\n" if isinstance(data, bytes) else "\n"
    cr = b"\r" if isinstance(data, bytes) else "\r"
    return data.replace(cr + nl, nl).replace(cr, nl).count(nl) + 1


def _garbled_inputs():
    rng = random.Random(396)
    alphabet = sorted(set(SAMPLE)) + list("\r\t\x00\x0c\ufeff-◆•：:。”") + ["\n"] * 20
    for n in range(len(LINES) + 1):  # every truncation at a line end
        yield first_lines(n)
    for _ in range(150):  # truncations at any byte, often inside a character
        yield SAMPLE_BYTES[: rng.randrange(len(SAMPLE_BYTES))]
    for _ in range(150):
        yield rng.randbytes(rng.randrange(1, 400))
    for _ in range(150):
        yield "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 400)))
    for _ in range(300):  # structural damage: drop, duplicate, swap or blank out lines
        lines = list(LINES)
        for _ in range(rng.randrange(1, 4)):
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            op = rng.randrange(4)
            if op == 0:
                del lines[i]
            elif op == 1:
                lines.insert(i, lines[j])
            elif op == 2:
                lines[i], lines[j] = lines[j], lines[i]
            else:
                lines[i] = ""
        yield "\n".join(lines)
    pieces = LINES[19:181] + ["", "", "海外", "注：备注。", "近", "，", "。", "”", "uses the "]
    for _ in range(200):  # a valid header, a body of shuffled pieces, with or without the foot
        body = [rng.choice(pieces) for _ in range(rng.randrange(40))]
        yield "\n".join(LINES[:19] + body + LINES[181:] * rng.randrange(2))
    for _ in range(150):  # flipped bytes
        data = bytearray(SAMPLE_BYTES)
        for _ in range(rng.randrange(1, 5)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        yield bytes(data)


def test_garbled_inputs_raise_only_issue_parse_error():
    outcomes = {"ok": 0, "error": 0}
    for source in _garbled_inputs():
        try:
            result = parse_issue(source)
        except IssueParseError as err:
            outcomes["error"] += 1
            assert str(err) == f"line {err.line}: {err.message}"
            assert 1 <= err.line <= _line_count(source), (err, source[:80])
            assert err.message
        else:
            outcomes["ok"] += 1
            assert isinstance(result, IssueDoc)
            assert all(
                s.articles and all(a.paragraphs for a in s.articles) for s in result.sections
            )
    assert outcomes["error"] > 0 and outcomes["ok"] > 0
