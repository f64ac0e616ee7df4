"""Import errors in Chinese on Chinese pages (issue 13): every message the parser raises
for a broken file has a Chinese sentence, with the place (line or page) it names."""

from __future__ import annotations

import re

from newsletter.bulletin.parse_messages import RULES, zh
from newsletter.bulletin.parser import IssueParseError, parse_issue
from tests.bulletin.test_views import upload
from tests.conftest import ROOT

SAMPLE = (ROOT / "samples" / "weekly-396.txt").read_text("utf-8")
LINES = SAMPLE.splitlines()
ENGLISH = re.compile(r"\b(?!UTF\b)[A-Za-z]{3,}\b")


def broken_files() -> list[bytes]:
    """Every way to break the sample that the tests can think of, one line at a time."""
    body = [i for i, line in enumerate(LINES) if line.strip()]
    files = [
        b"",
        "\ufeff".encode("utf-16"),
        b"\xff\xfe\x00bad",
        b"abc\x01def",
        "\n".join(["行业动态周报", "中国网络视听协会", "第三百期", *LINES[4:]]).encode(),
    ]
    for i in body[:12] + body[-6:]:
        files.append("\n".join(LINES[:i] + LINES[i + 1 :]).encode())  # a line lost
        files.append("\n".join(LINES[:i] + ["这是多出来的一句话。"] + LINES[i:]).encode())
    files.append((SAMPLE + "\n多余的文字\n").encode())
    files.append("\n".join(LINES[: len(LINES) // 2]).encode())  # cut short
    return files


def test_every_parser_message_for_a_broken_file_reads_in_chinese():
    seen: set[str] = set()
    for data in broken_files():
        try:
            parse_issue(data)
        except IssueParseError as exc:
            said = zh(exc.message)
            assert said != exc.message, exc.message
            assert not ENGLISH.findall(said), (exc.message, said)
            seen.add(exc.message.split(" ", 2)[0])
    assert len(seen) >= 3  # several kinds of message were exercised


def test_rules_compile_and_unknown_messages_pass_through():
    assert len(RULES) > 15 and zh("something new") == "something new"
    assert zh("issue 396 is sent; it cannot be replaced") == "第 396 期已完成，不能覆盖"


def test_the_import_page_shows_the_chinese_message(app, staff_client):
    client = staff_client("editor")
    broken = "\n".join(["行业动态周报", "中国网络视听协会", "第三百期", *LINES[3:]]).encode()
    page = upload(client, broken, "bad.txt").get_data(as_text=True)
    assert "无法导入：第 3 行：应为期号（如“第 396 期”），实际是“第三百期”" in page
    english = upload(client, broken, "bad.txt")
    assert english.status_code == 400
    client.get("/issues/import?lang=en")  # the cookie remembers English
    en = upload(client, broken, "bad.txt").get_data(as_text=True)
    assert "expected the issue number" in en
    client.get("/issues/import?lang=zh_CN")
