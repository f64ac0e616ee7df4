"""The editing service: paragraphs from text, validation, and the all-or-nothing save (on the
real database). The structural operations: test_editops.py."""

from __future__ import annotations

import copy
import datetime as dt

import pytest

from newsletter.bulletin import editing
from newsletter.bulletin.document import ArticleDoc, IssueDoc, SectionDoc
from newsletter.bulletin.models import IssueStatus
from newsletter.extensions import db
from tests.bulletin.conftest import set_status, stored


def small_doc() -> IssueDoc:
    return IssueDoc(
        number=500,
        date=dt.date(2024, 3, 4),
        title="行业动态周报",
        publisher="中国网络视听协会",
        summary=["◆甲文章"],
        sections=[
            SectionDoc("要闻", [ArticleDoc("甲文章", ["甲。"]), ArticleDoc("乙文章", ["乙。"])]),
            SectionDoc("行业", [ArticleDoc("丙文章", ["丙。"])]),
        ],
        credits={"责编": ["余力"]},
        distribution={"报": ["协会领导"]},
    )


def titles(doc: IssueDoc) -> list[list[str]]:
    return [[a.title for a in s.articles] for s in doc.sections]


# --- text <-> paragraphs ----------------------------------------------------------------


def test_paragraphs_are_separated_by_blank_lines_and_lines_join_without_space_in_chinese():
    body = "第一段第一行，\r\n接着第一段。\r\n\r\n  \r\nAI tools\nare here.\n\n\n第三段。 \n"
    assert editing.body_to_paragraphs(body) == [
        "第一段第一行，接着第一段。",
        "AI tools are here.",
        "第三段。",
    ]
    assert editing.body_to_paragraphs("  \n\n ") == []
    paragraphs = ["一。", "二。"]
    assert editing.body_to_paragraphs(editing.paragraphs_to_body(paragraphs)) == paragraphs


def test_summary_lines_drop_blanks():
    assert editing.summary_to_lines("◆甲\r\n\r\n  ◆乙  \n") == ["◆甲", "◆乙"]


# --- validation ---------------------------------------------------------------------------


def problems_of(doc: IssueDoc) -> dict[tuple, str]:
    return {p.path: str(p.message) for p in editing.validate(doc)}


def test_a_good_issue_has_no_problems():
    assert editing.validate(small_doc()) == []


def test_empty_titles_sections_and_bodies_are_named():
    doc = small_doc()
    doc.title = "  "
    doc.sections[0].articles[1].title = ""
    doc.sections[0].articles[0].paragraphs = []
    doc.sections[1].articles = []
    doc.sections[1].name = ""
    found = problems_of(doc)
    assert "刊名不能为空" in found[("title",)]
    assert "标题不能为空" in found[("sections", 0, "articles", 1, "title")]
    assert "没有正文" in found[("sections", 0, "articles", 0, "body")]
    section_problems = [
        str(p.message) for p in editing.validate(doc) if p.path == ("sections", 1, "name")
    ]
    assert section_problems == [
        "第 2 个栏目的名称不能为空。",
        "第 2 个栏目没有文章：请加入文章或删除此栏目。",
    ]
    assert len(editing.validate(doc)) == 5


def test_duplicate_reserved_and_control_characters():
    doc = small_doc()
    doc.sections[1].name = "要闻"
    assert "重名" in problems_of(doc)[("sections", 1, "name")]
    doc.sections[1].name = "摘要"
    assert "摘要框" in problems_of(doc)[("sections", 1, "name")]
    doc.sections[1].name = "行业"
    doc.sections[1].articles[0].paragraphs = ["坏\x00字符。"]
    assert "控制字符" in problems_of(doc)[("sections", 1, "articles", 0, "body")]


def test_number_date_and_length_limits():
    doc = small_doc()
    doc.number, doc.date = 0, dt.date(1900, 1, 1)
    doc.sections[0].articles[0].title = "长" * 501
    found = problems_of(doc)
    assert "期号" in found[("number",)] and "日期" in found[("date",)]
    assert "太长" in found[("sections", 0, "articles", 0, "title")]


# --- saving -------------------------------------------------------------------------------


def test_save_replaces_content_and_keeps_credits_and_distribution(app, sample_issue):
    version = editing.version_of(sample_issue)
    doc = sample_issue.to_doc()
    credits, distribution = copy.deepcopy(doc.credits), copy.deepcopy(doc.distribution)
    doc.credits, doc.distribution = {}, {}  # the form does not carry these
    doc.title = "行业动态周报（修订）"
    doc.editor_note = "本期请重点关注要闻。"
    doc.sections[0].articles[0].paragraphs = ["改过的第一段。", "新加的第二段。"]
    editing.save_issue(db.session, 396, doc, version=version)
    issue = stored()
    assert issue.title == "行业动态周报（修订）" and issue.editor_note == "本期请重点关注要闻。"
    assert issue.sections[0].articles[0].paragraphs == ["改过的第一段。", "新加的第二段。"]
    assert issue.credits == credits and issue.distribution == distribution
    assert editing.version_of(issue) != version


def test_an_invalid_save_changes_nothing(app, sample_issue):
    before = sample_issue.to_doc().to_json()
    doc = sample_issue.to_doc()
    doc.title = "不该保存的新刊名"  # valid on its own ...
    doc.sections[2].articles[0].title = " "  # ... but this is not
    with pytest.raises(editing.EditError) as info:
        editing.save_issue(db.session, 396, doc)
    assert info.value.problems[0].path == ("sections", 2, "articles", 0, "title")
    assert stored().to_doc().to_json() == before


def test_number_must_stay_unique(app, sample_issue):
    other = sample_issue.to_doc()
    other.number = 397
    editing.save_issue(db.session, 396, other)  # renumber 396 -> 397
    assert stored(397) is not None and stored(396) is None
    from newsletter.bulletin.service import import_issue
    from tests.conftest import SAMPLE

    import_issue(db.session, SAMPLE.read_bytes())  # 396 again
    clash = stored(397).to_doc()
    clash.number = 396
    with pytest.raises(editing.EditError) as info:
        editing.save_issue(db.session, 397, clash)
    assert info.value.problems[0].path == ("number",) and "已存在" in str(info.value)


def test_only_drafts_can_be_saved(app, sample_issue):
    for status in (IssueStatus.SENDING, IssueStatus.SENT):
        set_status(396, status)
        doc = stored().to_doc()
        doc.title = "改不了"
        with pytest.raises(editing.IssueReadOnly):
            editing.save_issue(db.session, 396, doc)
        assert stored().title == "行业动态周报"


def test_a_stale_form_is_refused_and_says_whose_version_is_current(app, sample_issue):
    old = editing.version_of(sample_issue)
    first = sample_issue.to_doc()
    first.title = "甲先保存"
    editing.save_issue(db.session, 396, first, version=old)
    second = stored().to_doc()
    second.title = "乙后保存"
    with pytest.raises(editing.StaleEdit) as info:
        editing.save_issue(db.session, 396, second, version=old)
    assert stored().title == "甲先保存"
    editing.save_issue(db.session, 396, second, version=info.value.current_version)
    assert stored().title == "乙后保存"
