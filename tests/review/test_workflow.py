"""The 责编/复核 approval workflow: draft → in review → approved → scheduled/sending → sent,
nobody approves their own edit, any change after approval goes back to review."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import current_app

from newsletter.bulletin.service import import_issue
from newsletter.delivery import pipeline
from newsletter.delivery.models import Send, SendStatus
from newsletter.extensions import db
from newsletter.review import service
from newsletter.review.models import ReviewAction, WorkflowState
from newsletter.sends import service as send_service
from newsletter.sends import testsend
from newsletter.timeutil import utcnow
from tests.staff.conftest import login, post_form


@pytest.fixture
def issue(app, sample_text):
    issue, _ = import_issue(db.session, sample_text)
    return issue


def _config():
    return current_app.config


def _state(issue):
    db.session.expire_all()
    return service.workflow_state(db.session, issue)


def test_the_happy_path_and_its_history(issue, staff):
    editor, reviewer = staff("editor", name="王编辑"), staff("reviewer", name="李复核")
    assert _state(issue) == WorkflowState.DRAFT
    service.note_edit(db.session, issue, editor)
    service.submit(db.session, issue, editor)
    assert _state(issue) == WorkflowState.IN_REVIEW
    review = service.approve(
        db.session, issue, reviewer, seen=service.fingerprint(issue), fill_credits=True
    )
    assert _state(issue) == WorkflowState.APPROVED
    assert review.approved_by_id == reviewer.id and review.approved_at is not None
    assert issue.credits["责编"] == ["王编辑"] and issue.credits["复核"] == ["李复核"]
    assert service.ensure_sendable(db.session, issue) is review  # credits are in the pin
    actions = [e.action for e in reversed(service.history(db.session, issue))]
    assert actions == [ReviewAction.EDITED, ReviewAction.SUBMITTED, ReviewAction.APPROVED]


def test_nobody_approves_their_own_edit(issue, staff):
    both = staff("editor", "reviewer")
    service.note_edit(db.session, issue, both)
    service.submit(db.session, issue, staff("editor"))
    with pytest.raises(service.ReviewError, match="不能批准自己的修改"):
        service.approve(db.session, issue, both)
    submitter = staff("editor", "reviewer")  # submitting vouches for the content too
    service.send_back(db.session, issue, staff("reviewer"), "请核对第三段数字")
    service.submit(db.session, issue, submitter)
    with pytest.raises(service.ReviewError, match="不能批准自己的修改"):
        service.approve(db.session, issue, submitter)
    admin = staff("admin")  # admins hold every role, and the same rule
    service.approve(db.session, issue, admin)
    assert _state(issue) == WorkflowState.APPROVED


def test_an_edit_after_approval_goes_back_to_review_and_unschedules(issue, staff):
    editor, reviewer = staff("editor"), staff("reviewer")
    service.submit(db.session, issue, editor)
    service.approve(db.session, issue, reviewer)
    at = utcnow() + dt.timedelta(days=1)
    send = send_service.send_issue(
        db.session, _config(), issue.number, ["media"], scheduled_at=at
    ).send
    assert _state(issue) == WorkflowState.SCHEDULED

    issue.title = issue.title + "（修订）"
    db.session.commit()
    cancelled = service.note_edit(db.session, issue, editor)
    assert cancelled == [send.id]
    assert db.session.get(Send, send.id).status == SendStatus.CANCELLED
    assert _state(issue) == WorkflowState.IN_REVIEW
    with pytest.raises(service.NotApproved, match="尚未通过复核"):
        service.ensure_sendable(db.session, issue)
    editor.roles = ["editor", "reviewer"]
    db.session.commit()
    with pytest.raises(service.ReviewError, match="不能批准自己的修改"):
        service.approve(db.session, issue, editor)
    service.approve(db.session, issue, reviewer)  # the reviewer did not edit: fine
    assert _state(issue) == WorkflowState.APPROVED


def test_a_change_nobody_recorded_still_blocks_the_send(issue, staff, sample_text):
    service.submit(db.session, issue, staff("editor"))
    service.approve(db.session, issue, staff("reviewer"))
    text = sample_text.decode("utf-8").replace("行业动态", "行业动态（改）", 1)
    import_issue(db.session, text.encode())  # e.g. the CLI, which records no editor
    assert _state(issue) == WorkflowState.IN_REVIEW
    with pytest.raises(service.NotApproved, match="批准后被修改过"):
        service.ensure_sendable(db.session, issue)
    with pytest.raises(service.ReviewError, match="未经记录的修改"):
        service.approve(db.session, issue, staff("reviewer"))
    resubmitter = staff("editor")
    service.submit(db.session, issue, resubmitter)
    service.approve(db.session, issue, staff("reviewer"))
    assert service.ensure_sendable(db.session, issue)


def test_a_reviewer_approves_only_what_they_saw(issue, staff):
    editor = staff("editor")
    service.submit(db.session, issue, editor)
    seen = service.fingerprint(issue)
    issue.editor_note = "新加的编者按"
    db.session.commit()
    service.note_edit(db.session, issue, editor)
    with pytest.raises(service.ReviewError, match="刷新页面"):
        service.approve(db.session, issue, staff("reviewer"), seen=seen)


def test_send_back_needs_a_comment_and_returns_to_draft(issue, staff):
    service.submit(db.session, issue, staff("editor"))
    reviewer = staff("reviewer")
    for bad in ("", "   ", "x" * 2001, "带控制字符\x07"):
        with pytest.raises(service.ReviewError):
            service.send_back(db.session, issue, reviewer, bad)
    assert _state(issue) == WorkflowState.IN_REVIEW  # nothing written by the refusals
    service.send_back(db.session, issue, reviewer, "标题有错字。\n第二段数据请核对。")
    assert _state(issue) == WorkflowState.DRAFT
    assert service.history(db.session, issue)[0].comment.startswith("标题有错字")


def test_steps_out_of_order_are_refused(issue, staff):
    reviewer = staff("reviewer")
    with pytest.raises(service.ReviewError, match="还没有提交复核"):
        service.approve(db.session, issue, reviewer)
    with pytest.raises(service.ReviewError, match="尚未提交复核"):
        service.send_back(db.session, issue, reviewer, "意见")
    service.submit(db.session, issue, staff("editor"))
    with pytest.raises(service.ReviewError, match="已在复核中"):
        service.submit(db.session, issue, staff("editor"))
    service.approve(db.session, issue, reviewer)
    with pytest.raises(service.ReviewError, match="已经批准过"):
        service.approve(db.session, issue, staff("reviewer"))


def test_unapproved_issues_are_not_sent_but_tests_to_staff_are(issue, staff):
    with pytest.raises(pipeline.SendError, match="尚未通过复核"):
        send_service.send_issue(db.session, _config(), issue.number, ["media"])
    assert db.session.query(Send).count() == 0
    editor = staff("editor")
    test = testsend.send_test(
        db.session, _config(), issue.number, [editor.email], actor=editor
    ).send
    assert test.is_test
    service.submit(db.session, issue, editor)
    service.approve(db.session, issue, staff("reviewer"))
    send = send_service.send_issue(db.session, _config(), issue.number, ["media"]).send
    assert not send.is_test


def test_review_pages_walk_the_workflow(app, issue, staff):
    editor, reviewer = staff("editor", name="王编辑"), staff("reviewer", name="李复核")
    ed = login(app, editor)
    page = ed.get("/issues/396/review").get_data(as_text=True)
    assert "提交复核" in page and "批准本期" not in page
    assert (
        post_form(ed, "/issues/396/review/submit", {}, token_from="/issues/396/review").status_code
        == 302
    )
    assert ed.post("/issues/396/review/approve", data={}).status_code == 400  # no CSRF token
    forbidden = post_form(ed, "/issues/396/review/approve", {}, token_from="/issues/396/review")
    assert forbidden.status_code == 403  # an editor is not a reviewer

    rv = login(app, reviewer)
    queue = rv.get("/review").get_data(as_text=True)
    assert "第 396 期" in queue and "待复核" in queue
    empty = post_form(
        rv, "/issues/396/review/send-back", {"comment": ""}, token_from="/issues/396/review"
    )
    assert empty.status_code == 400 and "写明需要修改的地方" in empty.get_data(as_text=True)
    page = rv.get("/issues/396/review").get_data(as_text=True)
    import re

    seen = re.search(r'name="seen" type="hidden" value="([0-9a-f]+)"', page).group(1)
    ok = post_form(
        rv,
        "/issues/396/review/approve",
        {"seen": seen, "fill_credits": "y"},
        token_from="/issues/396/review",
    )
    assert ok.status_code == 302
    page = rv.get("/issues/396/review").get_data(as_text=True)
    assert "已批准" in page and "李复核" in page
    assert _state(issue) == WorkflowState.APPROVED


def test_the_editor_sees_why_they_cannot_approve(app, issue, staff):
    both = staff("editor", "reviewer")
    client = login(app, both)
    post_form(client, "/issues/396/review/submit", {}, token_from="/issues/396/review")
    page = client.get("/issues/396/review").get_data(as_text=True)
    assert "不能批准自己的修改" in page and "批准本期" not in page
    refused = post_form(client, "/issues/396/review/approve", {}, token_from="/issues/396/review")
    assert refused.status_code == 409
    assert _state(issue) == WorkflowState.IN_REVIEW
