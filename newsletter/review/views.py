"""Review pages: the queue, and per issue its state, history and the approve / send back /
submit buttons. Thin: `service` decides, these pages ask and show."""

from __future__ import annotations

from collections.abc import Iterable

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import BooleanField, HiddenField, TextAreaField
from wtforms.validators import DataRequired, Length

from newsletter.bulletin.models import Issue
from newsletter.display import LABELS, label, say
from newsletter.extensions import db
from newsletter.review import diff, service, standing
from newsletter.review.models import IssueReview, WorkflowState
from newsletter.staff import audit
from newsletter.staff.auth import role_required
from newsletter.staff.models import Role, StaffUser

bp = Blueprint("review", __name__)


class ApproveForm(FlaskForm):
    seen = HiddenField()
    fill_credits = BooleanField(_l("用审核记录填写责编/复核署名"))


class SendBackForm(FlaskForm):
    comment = TextAreaField(
        _l("退回意见（必填）"),
        validators=[
            DataRequired(_l("退回时请写明需要修改的地方。")),
            Length(max=service.MAX_COMMENT),
        ],
    )


@bp.app_template_global("review_state")
def review_state(issue: Issue) -> tuple[str, str]:
    """(state, label) for any page that lists issues: the home page's states ("发送中 40%")."""
    s = standing.standing(db.session, issue)
    text = label("workflow", s.state)
    return s.state.value, (f"{text} {s.percent}%" if s.percent is not None else text)


@bp.app_template_global("reviews_waiting")
def reviews_waiting() -> int:
    return standing.waiting_for_review(db.session)


def _issue_or_404(number: int) -> Issue:
    return db.first_or_404(select(Issue).where(Issue.number == number))


def _names(ids: Iterable[int]) -> list[str]:
    users = [db.session.get(StaffUser, i) for i in ids]
    return [_("%(name)s（%(email)s）", name=u.display_name, email=u.email) for u in users if u]


@bp.get("/review")
@role_required()
def queue() -> ResponseReturnValue:
    """Issues waiting for a reviewer, and the latest ones with their state."""
    issues = db.session.scalars(select(Issue).order_by(Issue.number.desc()).limit(50)).all()
    rows = [(issue, service.workflow_state(db.session, issue)) for issue in issues]
    waiting = [(i, s) for i, s in rows if s == WorkflowState.IN_REVIEW]
    return render_template("review/queue.html", waiting=waiting, rows=rows)


def _page(
    issue: Issue,
    approve: ApproveForm | None = None,
    send_back: SendBackForm | None = None,
    status: int = 200,
) -> tuple[str, int]:
    state = service.workflow_state(db.session, issue)
    review = db.session.get(IssueReview, issue.id)
    authors = service.round_authors(db.session, issue)
    # Changed since the last recorded step (a CLI re-import): it must be submitted again.
    unrecorded = review is not None and review.content_fingerprint != service.fingerprint(issue)
    approve = approve or ApproveForm(formdata=None)
    approve.seen.data = service.fingerprint(issue)
    if request.method == "GET":
        approve.fill_credits.data = not (issue.credits or {}).get(service.CREDIT_REVIEWERS)
    user = current_user
    return render_template(
        "review/issue.html",
        issue=issue,
        state=state,
        state_label=label("workflow", state),
        comparison=diff.compare(db.session, issue),
        review=review,
        authors=_names(authors),
        history=service.history(db.session, issue),
        action_labels=LABELS["review_action"],
        approve=approve,
        send_back=send_back or SendBackForm(formdata=None),
        submit=FlaskForm(),
        can_submit=user.has_role(Role.EDITOR)
        and (state == WorkflowState.DRAFT or (state == WorkflowState.IN_REVIEW and unrecorded)),
        unrecorded=unrecorded,
        can_review=user.has_role(Role.REVIEWER) and state == WorkflowState.IN_REVIEW,
        own_edit=user.id in authors,
        can_send_back=user.has_role(Role.REVIEWER)
        and state in (WorkflowState.IN_REVIEW, WorkflowState.APPROVED),
        approved_by=_names([review.approved_by_id]) if review and review.approved_by_id else [],
        credits=issue.credits or {},
        article_count=sum(len(s.articles) for s in issue.sections),
    ), status


@bp.get("/issues/<int:number>/review")
@role_required()
def issue_review(number: int) -> ResponseReturnValue:
    """An issue's review: state, who wrote this round, history, the reviewer's buttons."""
    return _page(_issue_or_404(number))


def _done(
    issue: Issue, message: str, action: str, detail: dict[str, object] | None = None
) -> Response:
    audit.record(f"review.{action}", f"issue:{issue.number}", detail or {})
    flash(message, "success")
    return redirect(url_for("review.issue_review", number=issue.number))


@bp.post("/issues/<int:number>/review/submit")
@role_required(Role.EDITOR)
def submit(number: int) -> ResponseReturnValue:
    """Draft → in review."""
    issue = _issue_or_404(number)
    if not FlaskForm().validate_on_submit():
        flash(_("表单已过期，请刷新后重试。"), "error")
        return _page(issue, status=400)
    try:
        service.submit(db.session, issue, current_user)
    except service.ReviewError as exc:
        flash(say(exc.phrase), "error")
        return _page(issue, status=409)
    return _done(issue, _("第 %(n)s 期已提交复核，已通知复核人员。", n=issue.number), "submitted")


@bp.post("/issues/<int:number>/review/approve")
@role_required(Role.REVIEWER)
def approve(number: int) -> ResponseReturnValue:
    """In review → approved (never by someone who wrote this round)."""
    issue = _issue_or_404(number)
    form = ApproveForm()
    if not form.validate_on_submit():
        flash(_("表单已过期，请刷新后重试。"), "error")
        return _page(issue, approve=form, status=400)
    try:
        review = service.approve(
            db.session,
            issue,
            current_user,
            seen=form.seen.data or None,
            fill_credits=form.fill_credits.data,
        )
    except service.ReviewError as exc:
        flash(say(exc.phrase), "error")
        return _page(issue, approve=form, status=409)
    assert review.approved_fingerprint is not None, "approve() pins the approved content"
    return _done(
        issue,
        _("已批准第 %(n)s 期，可以安排发送了。", n=issue.number),
        "approved",
        {
            "fingerprint": review.approved_fingerprint[:12],
            "credits_filled": bool(form.fill_credits.data),
        },
    )


@bp.post("/issues/<int:number>/review/send-back")
@role_required(Role.REVIEWER)
def send_back(number: int) -> ResponseReturnValue:
    """Back to draft with the reviewer's comment."""
    issue = _issue_or_404(number)
    form = SendBackForm()
    if not form.validate_on_submit():
        return _page(issue, send_back=form, status=400)
    try:
        service.send_back(db.session, issue, current_user, form.comment.data)
    except service.ReviewError as exc:
        form.comment.errors = [say(exc.phrase)]
        return _page(issue, send_back=form, status=409)
    return _done(
        issue,
        _("已退回第 %(n)s 期，编辑会看到您的意见。", n=issue.number),
        "sent_back",
        {"comment": form.comment.data[:500]},
    )
