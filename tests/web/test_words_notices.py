"""The import checks' notices in the page's language: phrases (newsletter/phrase.py) that
the preview says in English or zh-CN, with the editor's own text as it was written; the
CLI and the API keep the zh-CN text; the preview's token carries the phrases, and a token
made before notices were phrases is a stale preview, not an error page."""

from __future__ import annotations

import html
import io
import re

import pytest

from newsletter.bulletin import checks, formats, groupnames, importpreview
from newsletter.phrase import N_, P
from subscribers.seed import GROUPS
from tests.bulletin import format_fixtures as fx
from tests.bulletin.conftest import read_form
from tests.bulletin.test_import_preview import upload
from tests.staff.conftest import api, login  # noqa: F401

TEXT = fx.ISSUE_397.decode("utf-8")
CJK = re.compile(r"[\u4e00-\u9fff]")
# One file with a notice of every kind a text file can have (the editor's own words are in
# the notices: the bullet, the title, the paragraph, the 报 name, the dropped lines).
DOUBTFUL = (
    TEXT.replace("- ◆微短剧还能火多久？", "- ◆网络视听用户规模突破 11 亿")
    .replace("报：协会领导", "报：理事会")
    .replace("非遗直播专场。", "非遗直播专场")  # the next title is glued onto it
    .replace("王晓明任某省广播电视局局长", "国家广播电视总局" * 8)
    .replace(
        "报告建议，平台应进一步完善主播信用评价体系，对违规主播实行分级分类管理，同时加强对"
        "直播间商品质量和售后服务的监督。",
        "详见原文。",
    )
    .replace("\n行业\n", "\n- 2 -\n\n第 3 页\n\n- 4 -\n\n- 5 -\n\n⾏业\n")
    .replace("会议要求", "会议\ue123要求", 1)
    .replace("会议强调", "会议\u00ad强调", 1)
)
# what the notices said before they were phrases, word for word
CHINESE = [
    "摘要“网络视听用户规模突破 11 亿”没有对应的文章标题。",
    "报：“理事会”不是已有的订阅分组。",
    "《快手发布 2024 年春节活动计划，将投入 10 亿元红包》像是两篇文章："
    "“爱奇艺会员收入连续四个季度增长”像另一篇的标题。",
    "标题很长（64 字），是不是把段落当成了标题？",
    "段落很短：“详见原文。”。",
    "去掉了 4 行页码或页眉：“- 2 -”、“第 3 页”、“- 4 -”等。",
    "2 处文字含部首或兼容字符，已换成通用汉字（\u00ad→（删除）、⾏→行）。",
    "无法识别的字符 U+E123（字体私用区或已损坏的文字），请核对原文。",
]
ENGLISH = [
    "The summary item “网络视听用户规模突破 11 亿” has no article with that title.",
    "报: “理事会” is not one of the subscriber groups.",
    "“快手发布 2024 年春节活动计划，将投入 10 亿元红包” looks like two articles: "
    "“爱奇艺会员收入连续四个季度增长” looks like the title of another one.",
    "A very long title (64 characters): is it a paragraph taken for a title?",
    "A very short paragraph: “详见原文。”.",
    "Dropped 4 lines of page numbers or page headers: “- 2 -”, “第 3 页”, “- 4 -” and others.",
    "2 place(s) had radicals or compatibility characters, replaced with the ordinary "
    "characters (\u00ad→(removed), ⾏→行).",
    "Unrecognised character U+E123 (a font's private use area, or damaged text): check it "
    "against the original.",
]


def _notices_on(page: str) -> list[str]:
    """The text of each warning and note on the preview page, unescaped."""
    warnings = re.findall(r'<li class="im-warning">\s*(.*?)\s*<', page, re.S)
    infos = re.search(r'<ul class="im-infos[^"]*">(.*?)</ul>', page, re.S)
    notes = re.findall(r"<li>(.*?)</li>", infos.group(1), re.S) if infos else []
    return [html.unescape(t) for t in warnings + notes]


def _preview(app, staff, lang: str, data: bytes, name: str = "周报.txt") -> str:
    client = login(app, staff("editor"))
    assert client.get(f"/issues/import?lang={lang}").status_code == 200
    response = upload(client, data, name)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def test_the_english_preview_says_every_notice_in_english(app, staff):
    page = _preview(app, staff, "en", DOUBTFUL.encode())
    said = _notices_on(page)
    assert sorted(said) == sorted(ENGLISH)
    assert "From plain text (UTF-8)" in page and "来自" not in page  # what the file was
    for text in said:
        # what is left once the file's own words (quoted; the 报 label; the characters
        # replaced, ⾏→行) are taken out
        own = re.sub(r"“[^”]*”|\S→\S", "", text).removeprefix("报:")
        assert not CJK.search(own), text


def test_the_chinese_preview_says_what_it_said_before(app, staff):
    page = _preview(app, staff, "zh-CN", DOUBTFUL.encode())
    assert sorted(_notices_on(page)) == sorted(CHINESE)
    assert "7 条提醒：保存前请核对" in page  # the 8th, the dropped lines, is a note
    assert "来自纯文本（UTF-8）" in page


TABLE = ("The Word file’s tables were not imported.", "Word 文件里的表格没有导入。")


@pytest.mark.parametrize(
    "lang,said,not_said", [("en", *TABLE), ("zh-CN", *TABLE[::-1])], ids=["en", "zh-CN"]
)
def test_a_word_files_table_is_said_in_the_pages_language(app, staff, lang, said, not_said):
    import docx

    from newsletter.bulletin.parser import parse_issue

    document = docx.Document(io.BytesIO(fx.make_docx(parse_issue(fx.ISSUE_397))))
    document.add_table(rows=1, cols=2).cell(0, 0).text = "表格里的字"
    out = io.BytesIO()
    document.save(out)
    page = _preview(app, staff, lang, out.getvalue(), "周报.docx")
    assert said in _notices_on(page) and not_said not in page
    assert ("From a Word document" if lang == "en" else "来自Word 文档") in page


def test_the_cli_and_the_api_keep_the_chinese_text(app, api, tmp_path):
    path = tmp_path / "doubtful.txt"
    path.write_bytes(DOUBTFUL.encode())
    result = app.test_cli_runner().invoke(args=["issues", "parse", str(path)])
    assert result.exit_code == 0, result.stderr
    for text in CHINESE:
        assert text in result.stderr, text
    client, headers = api("editor")
    dry = client.post("/api/v1/issues", json={"text": DOUBTFUL, "dry_run": True}, headers=headers)
    assert dry.status_code == 200, dry.get_data(as_text=True)
    warnings = dry.get_json()["warnings"]
    assert sorted(w["message"] for w in warnings) == sorted(CHINESE)
    assert {
        "code": "unknown_group",
        "message": "报：“理事会”不是已有的订阅分组。",
        "line": None,
        "level": "warning",
        "data": {"label": "报", "name": "理事会"},
    } in warnings


def test_the_token_carries_the_phrases():
    ex = formats.extract(DOUBTFUL.encode())
    ex.notices.append(checks.Notice("docx_tables", P(N_("Word 文件里的表格没有导入。"))))
    token = importpreview.dump("secret", importpreview.Preview(ex, {7: "title"}, "周报.txt"))
    back = importpreview.load("secret", token)
    assert back.extracted.notices == ex.notices and len(ex.notices) == 3
    assert [n.message for n in back.extracted.notices] == [n.message for n in ex.notices]
    normalised = back.extracted.notices[0]
    assert normalised.code == "normalised_chars" and normalised.words.params["n"] == 2
    assert (back.overrides, back.filename) == ({7: "title"}, "周报.txt")
    # and the checks of the parse that follows are phrases too
    names = groupnames.directory([(c, n) for c, n, *_ in GROUPS])
    result = formats.parse_extracted(back.extracted, names=names)
    said = sorted(n.message for n in result.notices if n.code != "docx_tables")
    assert said == sorted(CHINESE)


def _old_token(secret: str, token: str) -> str:
    """The same preview as a token made before notices were phrases ("message", no "words")."""
    serializer = importpreview._serializer(secret)
    data = serializer.loads(token)
    data["x"] = [
        {**{k: v for k, v in n.items() if k != "words"}, "message": "去掉了 1 行页码。"}
        for n in data["x"]
    ]
    assert data["x"], "the fixture should carry notices from the extraction"
    return serializer.dumps(data)


def test_a_token_from_before_the_phrases_is_a_stale_preview(app, staff):
    client = login(app, staff("editor"))
    page = upload(client, DOUBTFUL.encode()).get_data(as_text=True)
    form = read_form(page, "im-form")
    old = _old_token(app.config["SECRET_KEY"], form["token"])
    with pytest.raises(importpreview.PreviewExpired) as info:
        importpreview.load(app.config["SECRET_KEY"], old)
    assert str(info.value) == "预览数据无法读取，请重新上传文件。"
    response = client.post("/issues/import/preview", data={**form, "token": old, "op": "save"})
    assert response.status_code == 302 and response.headers["Location"] == "/issues/import"
    assert "预览数据无法读取" in client.get("/issues/import").get_data(as_text=True)
