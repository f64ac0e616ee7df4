"""Finding: nothing capped an issue's size (a 1 MB issue: 110 s per rendering; every view of
its page killed a gunicorn worker). The limits (bulletin/document.py, README "Issue size
limits") hold at import (page, API, CLI), at edit, and wherever an issue is stored."""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import func, select

from newsletter.bulletin import document, editing
from newsletter.bulletin.document import ArticleDoc, IssueTooLarge
from newsletter.bulletin.models import Article, Issue
from newsletter.bulletin.parser import parse_issue
from newsletter.bulletin.service import import_issue
from newsletter.extensions import db
from tests.staff.conftest import login


def _with_articles(sample_text: bytes, extra: int) -> bytes:
    text = sample_text.decode("utf-8")
    block = "".join(
        f"第{n}条补充动态的标题\n\n补充动态第{n}条的正文内容。\n\n" for n in range(extra)
    )
    return text.replace("\n要闻\n\n", "\n要闻\n\n" + block, 1).encode("utf-8")


def _articles() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Article))


def test_too_many_articles_are_refused_at_the_import_page(app, make_staff, sample_text):
    big = _with_articles(sample_text, document.MAX_ARTICLES)
    assert len(parse_issue(big).articles) > document.MAX_ARTICLES  # it parses; it is too big
    client = login(app, make_staff("editor"))
    import io

    from tests.staff.conftest import post_form

    response = post_form(
        client,
        "/issues/import",
        {"file": (io.BytesIO(big), "big.txt")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "文章太多" in response.get_data(as_text=True)
    assert _articles() == 0


def test_too_many_articles_are_refused_by_the_api_and_the_cli(
    app, api, runner, tmp_path, sample_text
):
    big = _with_articles(sample_text, document.MAX_ARTICLES)
    client, headers = api("editor")
    response = client.post("/api/v1/issues", json={"text": big.decode()}, headers=headers)
    assert response.status_code == 413 and "文章太多" in response.get_json()["error"]["message"]
    path = tmp_path / "big.txt"
    path.write_bytes(big)
    result = runner.invoke(args=["issues", "import", str(path)])
    assert result.exit_code != 0 and "文章太多" in result.output
    assert _articles() == 0


def test_the_edit_page_refuses_what_is_over_a_limit_and_names_where(app, sample_text):
    issue, _ = import_issue(db.session, sample_text)
    doc = editing.editable_doc(issue)
    long = copy.deepcopy(doc)
    long.sections[0].articles[0].paragraphs[0] = "很长的一段。" * 1000
    with pytest.raises(editing.EditError) as refused:
        editing.save_issue(db.session, 396, long)
    (problem,) = [p for p in refused.value.problems if "太长" in str(p.message)]
    assert problem.path == ("sections", 0, "articles", 0, "body")
    many = copy.deepcopy(doc)
    many.sections[0].articles += [ArticleDoc(f"标题{n}", ["正文。"]) for n in range(200)]
    with pytest.raises(editing.EditError, match="文章太多"):
        editing.save_issue(db.session, 396, many)
    db.session.rollback()
    assert _articles() == 31


def test_every_other_way_of_storing_an_issue_is_checked_too(app, sample_text):
    doc = parse_issue(_with_articles(sample_text, document.MAX_ARTICLES))
    with pytest.raises(IssueTooLarge):
        Issue(number=doc.number).fill_from_doc(doc)  # what a new import format would call


def test_the_sample_is_well_within_the_limits(sample_text):
    doc = parse_issue(sample_text)
    assert document.size_problems(doc) == []
    assert len(doc.articles) * 5 < document.MAX_ARTICLES
