"""The edit page's structural operations: move, delete and add sections and articles (a
blank one is not saved yet), stale or unknown operations refused, and articles moved between
sections by identity; each notice a phrase, said in zh-CN without a reader."""

from __future__ import annotations

import pytest

from newsletter.bulletin import editops
from newsletter.bulletin.editing import EditError
from tests.bulletin.test_editing import small_doc, titles


@pytest.mark.parametrize(
    "op,expected",
    [
        ("art-up:0:1", [["乙文章", "甲文章"], ["丙文章"]]),
        ("art-down:0:0", [["乙文章", "甲文章"], ["丙文章"]]),
        ("art-up:0:0", [["甲文章", "乙文章"], ["丙文章"]]),  # already first: unchanged
        ("art-del:0:1", [["甲文章"], ["丙文章"]]),
        ("sec-down:0", [["丙文章"], ["甲文章", "乙文章"]]),
        ("sec-up:1", [["丙文章"], ["甲文章", "乙文章"]]),
        ("sec-del:1", [["甲文章", "乙文章"]]),
        ("save", [["甲文章", "乙文章"], ["丙文章"]]),
    ],
)
def test_operations_that_save(op, expected):
    result = editops.apply_op(small_doc(), op)
    assert result.save and titles(result.doc) == expected


def test_adding_leaves_a_blank_item_that_is_not_saved_yet():
    result = editops.apply_op(small_doc(), "art-add:1")
    assert not result.save and titles(result.doc) == [["甲文章", "乙文章"], ["丙文章", ""]]
    assert result.focus == "s1-a1"
    result = editops.apply_op(small_doc(), "sec-add")
    assert not result.save and result.doc.sections[-1].name == ""
    assert len(result.doc.sections[-1].articles) == 1


@pytest.mark.parametrize(
    "op", ["art-del:5:0", "art-up:0:9", "sec-del:7", "explode", "art-up:x:1", "art-del:0"]
)
def test_unknown_or_stale_operations_are_refused(op):
    with pytest.raises(EditError) as info:
        editops.apply_op(small_doc(), op)
    assert str(info.value.problems[0].message)


def test_notices_name_what_was_done():
    assert (
        editops.apply_op(small_doc(), "sec-del:1").notice.text()
        == "栏目「行业」及其 1 篇文章已删除并保存。"
    )
    doc = small_doc()
    doc.sections[0].articles[1].title = ""
    assert editops.apply_op(doc, "art-del:0:1").notice.text() == "文章「（无标题）」已删除并保存。"


def test_move_articles_follows_identity_after_an_operation():
    doc = small_doc()
    jia, bing_section = doc.sections[0].articles[0], doc.sections[1]
    editops.apply_op(doc, "sec-up:1")  # positions change, identities do not
    assert editops.move_articles(doc, [(jia, bing_section)]) == 1
    assert titles(doc) == [["丙文章", "甲文章"], ["乙文章"]]
    gone = doc.sections[1]
    editops.apply_op(doc, "sec-del:1")
    assert editops.move_articles(doc, [(jia, gone)]) == 0  # the target was deleted
