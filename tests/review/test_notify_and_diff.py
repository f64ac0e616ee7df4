"""The review loop people notice (issue 13): 提交复核 on the issue page, reviewers mailed
and counted in the top bar, the editor mailed with the decision and the comment, and a
diff against the last approved version (or the imported text before any approval)."""

from __future__ import annotations

import email
from email import policy

import pytest

from newsletter.bulletin import editing
from newsletter.bulletin.models import Issue
from newsletter.extensions import db
from newsletter.review import diff, service
from newsletter.review.models import ReviewAction
from tests.staff.conftest import login, post_form


def _mails(smtp) -> list[tuple[str, str, str]]:
    out = []
    for r in smtp.received:
        msg = email.message_from_bytes(r.data, policy=policy.default)
        out.append((r.rcpt_tos[0], str(msg["Subject"]), msg.get_body(("plain",)).get_content()))
    return out


@pytest.fixture
def people(app, staff):
    return {
        "editor": staff("editor", name="王编辑"),
        "reviewer": staff("reviewer", name="李复核"),
        "reviewer2": staff("reviewer", name="赵复核"),
        "sender": staff("sender", name="钱发送"),
    }


def _import_through_the_page(app, editor, sample_text):
    from tests.bulletin.test_views import upload

    client = login(app, editor)
    assert upload(client, sample_text, "weekly-396.txt").status_code == 302
    return client


def test_submit_mails_the_reviewers_and_shows_the_badge(app, people, sample_text, smtp, run_jobs):
    ed = _import_through_the_page(app, people["editor"], sample_text)
    page = ed.get("/issues/396").get_data(as_text=True)
    assert 'id="submit-review"' in page and "提交复核" in page  # visible on the issue page
    r = post_form(ed, "/issues/396/review/submit", {}, token_from="/issues/396")
    assert r.status_code == 302
    rv = login(app, people["reviewer"])
    top = rv.get("/review").get_data(as_text=True)
    assert 'data-waiting="1"' in top and "1 期等待复核" in top
    # the editor holds no reviewer role: no badge for them
    assert "data-waiting" not in ed.get("/issues").get_data(as_text=True)
    run_jobs()
    mails = _mails(smtp)
    assert sorted(m[0] for m in mails) == sorted(
        [people["reviewer"].email, people["reviewer2"].email]
    )
    to, subject, text = mails[0]
    assert subject == "行业动态周报 · 订阅服务：第 396 期等待复核"
    assert "王编辑 提交了第 396 期" in text and "http://newsletter.test/issues/396/review" in text


def test_the_editor_hears_of_send_back_with_the_comment_and_of_approval(
    app, people, sample_text, smtp, run_jobs
):
    _import_through_the_page(app, people["editor"], sample_text)
    issue = db.session.query(Issue).filter_by(number=396).one()
    service.submit(db.session, issue, people["editor"], notify_people=False)
    rv = login(app, people["reviewer"])
    r = post_form(
        rv,
        "/issues/396/review/send-back",
        {"comment": "第二条标题有错字，请改正。"},
        token_from="/issues/396/review",
    )
    assert r.status_code == 302
    service.submit(db.session, issue, people["editor"], notify_people=False)
    service.approve(db.session, issue, people["reviewer2"])
    run_jobs()
    mails = [m for m in _mails(smtp) if m[0] == people["editor"].email]
    assert [m[1] for m in mails] == [
        "行业动态周报 · 订阅服务：第 396 期被退回修改",
        "行业动态周报 · 订阅服务：第 396 期已通过复核",
    ]
    assert "第二条标题有错字，请改正。" in mails[0][2] and "李复核 退回了第 396 期" in mails[0][2]
    assert "赵复核 批准了第 396 期" in mails[1][2]


def test_first_review_compares_with_the_imported_text_later_ones_with_the_approved(
    app, people, sample_text
):
    _import_through_the_page(app, people["editor"], sample_text)
    issue = db.session.query(Issue).filter_by(number=396).one()
    first = diff.compare(db.session, issue)
    assert first.base == "imported" and first.unchanged
    # the editor changes a title before submitting: the reviewer sees it against the import
    doc = editing.editable_doc(issue)
    old_title = doc.sections[0].articles[0].title
    doc.sections[0].articles[0].title = "全国宣传部长会议召开（改）"
    editing.save_issue(db.session, 396, doc, version=editing.version_of(issue))
    service.note_edit(db.session, issue, people["editor"])
    service.submit(db.session, issue, people["editor"], notify_people=False)
    rv = login(app, people["reviewer"])
    page = rv.get("/issues/396/review").get_data(as_text=True)
    assert "与导入的原文相比" in page
    assert f'<del class="rv-line">■ {old_title}</del>' in page
    assert '<ins class="rv-line">■ 全国宣传部长会议召开（改）</ins>' in page
    service.approve(db.session, issue, people["reviewer"], notify_people=False)
    # after approval a new change is shown against the approved version only
    doc = editing.editable_doc(issue)
    doc.summary.append("新增的一条摘要")
    editing.save_issue(db.session, 396, doc, version=editing.version_of(issue))
    service.note_edit(db.session, issue, people["editor"])
    comparison = diff.compare(db.session, issue)
    assert comparison.base == "approved" and comparison.base_event.action == ReviewAction.APPROVED
    assert comparison.added == 1 and comparison.removed == 0
    assert [line for kind, line in comparison.rows if kind == "+"] == ["新增的一条摘要"]
    page = rv.get("/issues/396/review").get_data(as_text=True)
    assert "与上次批准的版本相比" in page and "新增 1 行" in page


def test_cli_import_keeps_a_snapshot_too(app, runner, tmp_path, sample_text):
    path = tmp_path / "weekly.txt"
    path.write_bytes(sample_text)
    assert runner.invoke(args=["issues", "import", str(path)]).exit_code == 0
    issue = db.session.query(Issue).filter_by(number=396).one()
    assert diff.compare(db.session, issue).base == "imported"
