"""Fixtures for the renderer tests: IssueDocs in real Chinese, no database, no Flask."""

from __future__ import annotations

import copy
import datetime as dt

import pytest

from newsletter.bulletin.document import ArticleDoc, IssueDoc, SectionDoc
from newsletter.bulletin.parser import parse_issue
from tests.render.render_support import EDITOR_NOTE, SAMPLE


@pytest.fixture
def sample_doc() -> IssueDoc:
    """A small issue, hand-built from the sample: 3 sections, 4 articles, an editor note."""
    return IssueDoc(
        number=396,
        date=dt.date(2024, 1, 8),
        title="行业动态周报",
        publisher="中国网络视听协会",
        summary=[
            "◆全国宣传部长会议在京召开 蔡奇出席并讲话",
            "◆哔哩哔哩公布 2023 百大 UP 主名单",
            "◆董昕就任国家广播电视总局副局长",
        ],
        sections=[
            SectionDoc(
                "要闻",
                [
                    ArticleDoc(
                        "全国宣传部长会议在京召开 蔡奇出席并讲话",
                        [
                            (
                                "1 月 3 日，全国宣传部长会议在京召开。中共中央政治局常委、中央书记处书记"
                                "蔡奇出席会议并讲话。"
                            )
                        ],
                    )
                ],
            ),
            SectionDoc(
                "行业",
                [
                    ArticleDoc(
                        "国家网信办发布第三批深度合成服务算法备案信息",
                        ["1 月 5 日，国家网信办公开发布第三批境内深度合成服务算法备案信息。"],
                    ),
                    ArticleDoc(
                        "哔哩哔哩公布 2023 百大 UP 主名单",
                        [
                            "1 月 2 日，哔哩哔哩公布 2023 百大 UP 主名单。",
                            "UP 主“老番茄”“罗翔说刑法”等入选。",
                        ],
                    ),
                ],
            ),
            SectionDoc(
                "人事",
                [
                    ArticleDoc(
                        "董昕就任国家广播电视总局副局长",
                        [
                            (
                                "1月5日，据人社部网站消息，国务院任免国家工作人员。任命董昕为国家广播电视"
                                "总局副局长，免去杨小伟的国家广播电视总局副局长职务。"
                            )
                        ],
                    )
                ],
            ),
        ],
        credits={
            "编辑部": "中国网络视听协会 对外合作部",
            "责编": ["余力", "何紫薇"],
            "复核": ["文超", "王小野"],
            "注": "本周报由公开报道汇编，不代表中国网络视听协会观点。",
        },
        distribution={"报": ["协会领导"], "发": ["协会各会员单位"]},
        editor_note=EDITOR_NOTE,
    )


@pytest.fixture(scope="session")
def _parsed_sample() -> IssueDoc:
    return parse_issue(SAMPLE.read_text(encoding="utf-8"))


@pytest.fixture
def big_doc(_parsed_sample) -> IssueDoc:
    """The whole real issue 396 (7 sections, 31 articles) plus an editor note."""
    doc = copy.deepcopy(_parsed_sample)
    doc.editor_note = EDITOR_NOTE
    return doc
