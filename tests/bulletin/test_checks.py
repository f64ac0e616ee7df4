"""Warnings, not silent mistakes: what the import says about a well-formed but doubtful
issue; group aliases remembered in the database; the CLI and the API on every format."""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import select

from newsletter.bulletin import checks, groupnames
from newsletter.bulletin.formats import read_document
from newsletter.bulletin.service import group_directory, remember_alias
from newsletter.extensions import db
from newsletter.staff import groups as group_admin
from subscribers.models import Group, GroupAlias
from subscribers.seed import GROUPS
from tests.bulletin import format_fixtures as fx
from tests.staff.conftest import api  # noqa: F401

TEXT = fx.ISSUE_397.decode("utf-8")
NAMES = groupnames.directory([(c, n) for c, n, *_ in GROUPS])


def codes(text: str, names=NAMES) -> list[checks.Notice]:
    return read_document(text.encode("utf-8"), names=names)[1]


def test_the_clean_fixture_has_no_warnings():
    assert [n for n in codes(TEXT) if n.level == "warning"] == []


def test_a_summary_bullet_without_its_article():
    notices = codes(TEXT.replace("- ◆微短剧还能火多久？", "- ◆网络视听用户规模突破 11 亿"))
    (n,) = [n for n in notices if n.code == "summary_unmatched"]
    assert "网络视听用户规模突破 11 亿" in n.message and n.line == 12


def test_a_bullet_worded_a_little_differently_still_matches():
    text = TEXT.replace("- ◆《繁花》热播带动沪语文旅消费", "- ◆《繁花》热播 带动沪语文旅消费")
    assert not [n for n in codes(text) if n.code == "summary_unmatched"]


def test_foot_names_that_are_no_group_and_an_alias_fixes_them():
    text = TEXT.replace("报：协会领导", "报：理事会")
    (n,) = [n for n in codes(text) if n.code == "unknown_group"]
    assert n.data == {"label": "报", "name": "理事会"}
    with_alias = groupnames.directory([(c, nm) for c, nm, *_ in GROUPS], [("理事会", "leadership")])
    assert not [n for n in codes(text, with_alias) if n.code == "unknown_group"]


def test_a_title_glued_onto_an_unfinished_paragraph_is_flagged():
    # The paragraph before the title lost its full stop: the title and the next article's
    # paragraph are glued onto it, and the warning names the title's line.
    text = TEXT.replace("非遗直播专场。", "非遗直播专场")
    title_line = text.split("\n").index("爱奇艺会员收入连续四个季度增长") + 1
    (n,) = [n for n in codes(text) if n.code == "article_looks_like_two"]
    assert n.line == title_line and "爱奇艺会员收入连续四个季度增长" in n.message
    assert n.data == {"move": "title"}


def test_long_titles_and_short_paragraphs():
    long = "国家广播电视总局" * 8
    text = TEXT.replace("王晓明任某省广播电视局局长", long).replace(
        "报告建议，平台应进一步完善主播信用评价体系，对违规主播实行分级分类管理，同时加强对直播间商品"
        "质量和售后服务的监督。",
        "详见原文。",
    )
    found = {n.code for n in codes(text)}
    assert {"long_title", "short_paragraph"} <= found


def test_aliases_are_stored_used_and_follow_a_merge(app):
    text = TEXT.replace("报：协会领导", "报：理事会").encode("utf-8")
    assert any(
        n.code == "unknown_group" for n in read_document(text, names=group_directory(db.session))[1]
    )
    remember_alias(db.session, " 理事会 ", "leadership", by="editor@example.org")
    assert not any(
        n.code == "unknown_group" for n in read_document(text, names=group_directory(db.session))[1]
    )
    remember_alias(db.session, "理事会", "members")  # a second choice replaces the first
    assert group_directory(db.session)["理事会"] == "members"
    members = db.session.scalar(select(Group).where(Group.code == "members"))
    media = db.session.scalar(select(Group).where(Group.code == "media"))
    group_admin.merge_groups(db.session, members, media)
    directory = group_directory(db.session)
    assert directory["理事会"] == "media" and directory["协会会员单位"] == "media"
    assert (
        db.session.scalar(select(GroupAlias).where(GroupAlias.alias == "理事会")).group.code
        == "media"
    )


def test_an_alias_to_a_missing_group_is_refused(app):
    from newsletter.bulletin.service import IssueImportError

    with pytest.raises(IssueImportError):
        remember_alias(db.session, "理事会", "nope")
    assert db.session.scalar(select(GroupAlias)) is None


# --- the CLI and the API read every format ------------------------------------------------


@pytest.fixture(scope="module")
def docx_bytes():
    from newsletter.bulletin.parser import parse_issue

    return fx.make_docx(parse_issue(fx.ISSUE_397))


def test_cli_parse_reads_a_docx_and_warns_on_stderr(app, tmp_path, docx_bytes):
    path = tmp_path / "周报.bin"  # the name says nothing: the content decides
    path.write_bytes(docx_bytes)
    result = app.test_cli_runner().invoke(args=["issues", "parse", str(path)])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["number"] == 397


def test_cli_import_reports_where_a_pdf_like_file_fails(app, tmp_path):
    path = tmp_path / "x.pdf"
    path.write_bytes(fx.image_only_pdf())
    result = app.test_cli_runner().invoke(args=["issues", "import", str(path)])
    assert result.exit_code == 2 and "the file: the PDF has no text layer" in result.stderr


def test_cli_warns_about_an_unknown_group(app, tmp_path):
    path = tmp_path / "gbk.txt"
    path.write_bytes(TEXT.replace("报：协会领导", "报：理事会").encode("gbk"))
    result = app.test_cli_runner().invoke(args=["issues", "import", str(path)])
    assert result.exit_code == 0 and "imported issue 397" in result.stdout
    assert "warning" in result.stderr and "理事会" in result.stderr


def test_api_imports_a_docx_and_a_dry_run_writes_nothing(app, api, docx_bytes):
    from newsletter.bulletin.models import Issue

    client, headers = api("editor")
    encoded = base64.b64encode(docx_bytes).decode()
    dry = client.post("/api/v1/issues", json={"file": encoded, "dry_run": True}, headers=headers)
    assert dry.status_code == 200 and dry.get_json()["document"]["number"] == 397
    assert db.session.scalar(select(Issue)) is None
    done = client.post("/api/v1/issues", json={"file": encoded}, headers=headers)
    assert done.status_code == 201, done.get_data(as_text=True)
    assert done.get_json()["issue"]["number"] == 397 and "warnings" in done.get_json()


def test_api_parse_errors_say_where(app, api):
    client, headers = api("editor")
    bad = client.post(
        "/api/v1/issues",
        json={"file": base64.b64encode(fx.zip_not_docx()).decode()},
        headers={**headers, "Accept-Language": "en"},
    )
    assert bad.status_code == 422
    err = bad.get_json()["error"]
    assert err["where"] == "File" and "word/document.xml" in err["message"]  # said in English
    both = client.post("/api/v1/issues", json={"file": "", "text": "x"}, headers=headers)
    assert both.status_code == 400


def test_api_takes_a_file_over_the_general_body_limit_and_refuses_one_over_the_file_limit(
    app, api, docx_bytes
):
    from newsletter.api.core import MAX_BODY_BYTES
    from newsletter.bulletin import limits

    client, headers = api("editor")
    import io
    import os
    import zipfile

    out = io.BytesIO()  # the Word file with a picture that makes it bigger than the body limit
    with zipfile.ZipFile(out, "w") as z, zipfile.ZipFile(io.BytesIO(docx_bytes)) as src:
        for info in src.infolist():
            z.writestr(info, src.read(info))
        z.writestr("word/media/photo.jpeg", os.urandom(MAX_BODY_BYTES + 100_000))
    padded = out.getvalue()
    ok = client.post(
        "/api/v1/issues",
        json={"file": base64.b64encode(padded).decode(), "dry_run": True},
        headers=headers,
    )
    assert ok.status_code == 200, ok.get_data(as_text=True)[:300]
    huge = base64.b64encode(b"x" * (limits.MAX_FILE_BYTES + 1024)).decode()
    refused = client.post("/api/v1/issues", json={"file": huge}, headers=headers)
    assert refused.status_code == 413 and refused.get_json()["error"]["code"] == "too_large"


def test_admins_see_and_can_delete_aliases(app, staff_client):
    import re as _re

    remember_alias(db.session, "理事会", "leadership", by="editor@example.org")
    admin = staff_client("admin")
    page = admin.get("/staff/groups").get_data(as_text=True)
    assert "周报落款里的别名" in page and "理事会" in page
    action = _re.search(r'action="(/staff/groups/aliases/\d+/delete)"', page).group(1)
    token = _re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert staff_client("editor").post(action, data={"csrf_token": token}).status_code in (
        302,
        400,
        403,
    )
    assert db.session.scalar(select(GroupAlias)) is not None  # an editor may not
    done = admin.post(action, data={"csrf_token": token})
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(GroupAlias)) is None
    assert admin.post(action, data={"csrf_token": token}).status_code == 404
