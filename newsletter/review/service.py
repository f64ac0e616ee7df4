"""The approval workflow: draft → in review → approved → scheduled/sending → sent.

* Editors submit an issue for review; a reviewer approves it or sends it back with a
  comment. Nobody approves content they imported, edited or submitted since the last
  approval (one person may hold both roles, but a second person checks every issue).
* An approval pins the content's fingerprint. Any later change, recorded through
  `note_edit` or not (a CLI re-import), makes the issue unsendable until approved again;
  `note_edit` also moves it back to review and cancels its scheduled sends.
* `ensure_sendable` is what the send pipeline asks before every non-test send.
"""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.bulletin.models import Issue, IssueStatus
from newsletter.delivery.models import Send, SendStatus
from newsletter.delivery.pipeline import SendError
from newsletter.phrase import N_, P, PhraseError
from newsletter.review import notify
from newsletter.review.models import (
    AUTHORING,
    IssueReview,
    ReviewAction,
    ReviewEvent,
    ReviewState,
    WorkflowState,
)
from newsletter.staff.models import StaffUser
from newsletter.timeutil import utcnow

MAX_COMMENT = 2000
CREDIT_EDITORS, CREDIT_REVIEWERS = "责编", "复核"


class ReviewError(PhraseError):
    """The review step cannot be taken; the message (a phrase) says why and what to do."""


class NotApproved(SendError):
    """Raised by `ensure_sendable`: a SendError, so send pages and the CLI show it as is."""


# --- reading ----------------------------------------------------------------------------


def fingerprint(issue: Issue) -> str:
    """SHA-256 of everything that goes into the email (the 编者按 and credits included)."""
    data = issue.to_doc().to_json()
    data["editor_note"] = issue.editor_note or ""
    blob = json.dumps(data, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def review_of(session: Session, issue: Issue) -> IssueReview:
    """The issue's review row (a draft's is made on first use; not committed here)."""
    review = session.get(IssueReview, issue.id)
    if review is None:
        review = IssueReview(
            issue_id=issue.id,
            state=ReviewState.DRAFT,
            content_fingerprint=fingerprint(issue),
            updated_at=utcnow(),
        )
        session.add(review)
    return review


def history(session: Session, issue: Issue) -> list[ReviewEvent]:
    return list(
        session.scalars(
            select(ReviewEvent)
            .where(ReviewEvent.issue_id == issue.id)
            .order_by(ReviewEvent.id.desc())
        )
    )


def _active_sends(session: Session, issue: Issue) -> set[str]:
    return set(
        session.scalars(
            select(Send.status).where(
                Send.issue_id == issue.id,
                Send.is_test.is_(False),
                Send.status.in_(
                    [SendStatus.SCHEDULED, SendStatus.QUEUED, SendStatus.SENDING, SendStatus.PAUSED]
                ),
            )
        )
    )


def workflow_state(session: Session, issue: Issue) -> WorkflowState:
    """Where the issue stands, for pages and the API."""
    if issue.status == IssueStatus.SENT:
        return WorkflowState.SENT
    active = _active_sends(session, issue)
    if issue.status == IssueStatus.SENDING or active - {SendStatus.SCHEDULED}:
        return WorkflowState.SENDING
    if active:
        return WorkflowState.SCHEDULED
    review = session.get(IssueReview, issue.id)
    if review is None:
        return WorkflowState.DRAFT
    if review.state == ReviewState.APPROVED and review.approved_fingerprint != fingerprint(issue):
        return WorkflowState.IN_REVIEW  # changed after approval without note_edit
    return WorkflowState(review.state)


def round_authors(session: Session, issue: Issue) -> list[int]:
    """Staff who imported, edited or submitted the issue since its last approval."""
    events = session.execute(
        select(ReviewEvent.action, ReviewEvent.staff_id)
        .where(ReviewEvent.issue_id == issue.id)
        .order_by(ReviewEvent.id.desc())
    ).all()
    authors: list[int] = []
    for action, staff_id in events:
        if action == ReviewAction.APPROVED:
            break
        if action in AUTHORING and staff_id is not None and staff_id not in authors:
            authors.append(staff_id)
    return authors


def can_approve(session: Session, issue: Issue, user: StaffUser) -> bool:
    return user.id not in round_authors(session, issue)


def ensure_sendable(session: Session, issue: Issue) -> IssueReview:
    """NotApproved unless this exact content was approved. Test sends do not ask."""
    review = session.get(IssueReview, issue.id)
    if review is None or review.state != ReviewState.APPROVED:
        raise NotApproved(
            P(
                N_("第 %(n)s 期尚未通过复核，不能发送：请编辑提交复核，并由另一位复核人员批准。"),
                n=str(issue.number),
            )
        )
    if review.approved_fingerprint != fingerprint(issue):
        raise NotApproved(
            P(N_("第 %(n)s 期在批准后被修改过，需要重新复核批准后才能发送。"), n=str(issue.number))
        )
    return review


# --- steps ------------------------------------------------------------------------------


def _event(
    session: Session,
    issue: Issue,
    action: ReviewAction,
    staff: StaffUser | None,
    comment: str = "",
    fp: str = "",
) -> ReviewEvent:
    from newsletter.review.diff import snapshot

    keep = action in (ReviewAction.IMPORTED, ReviewAction.APPROVED)
    event = ReviewEvent(
        issue_id=issue.id,
        action=action,
        comment=comment,
        staff_id=staff.id if staff else None,
        staff_email=staff.email if staff else "",
        staff_name=staff.display_name if staff else "",
        fingerprint=fp or fingerprint(issue),
        created_at=utcnow(),
        snapshot=snapshot(issue) if keep else None,
    )
    session.add(event)
    return event


def _check_not_final(issue: Issue) -> None:
    if issue.status != IssueStatus.DRAFT:
        raise ReviewError(P(N_("第 %(n)s 期已开始发送或已发送，不能再复核。"), n=str(issue.number)))


def note_edit(
    session: Session,
    issue: Issue,
    editor: StaffUser | None,
    action: ReviewAction = ReviewAction.EDITED,
) -> list[int]:
    """Record that `editor` changed the issue (call after saving it; commits).

    An approved issue goes back to review, and its scheduled sends are cancelled (they
    would otherwise go out with content nobody approved). Returns their ids.
    """
    review = review_of(session, issue)
    session.flush()
    fp = fingerprint(issue)
    _event(session, issue, action, editor, fp=fp)
    review.content_fingerprint = fp
    if editor is not None:
        review.last_edited_by_id, review.last_edited_at = editor.id, utcnow()
    cancelled: list[int] = []
    if review.state == ReviewState.APPROVED and review.approved_fingerprint != fp:
        review.state = ReviewState.IN_REVIEW
        review.approved_by_id = review.approved_at = review.approved_fingerprint = None
        for send in session.scalars(
            select(Send).where(
                Send.issue_id == issue.id,
                Send.is_test.is_(False),
                Send.status == SendStatus.SCHEDULED,
            )
        ):
            send.status, send.finished_at = SendStatus.CANCELLED, utcnow()
            cancelled.append(send.id)
        comment = "批准后内容被修改，已退回待复核" + (
            f"；已撤销定时发送 #{'、#'.join(map(str, cancelled))}" if cancelled else ""
        )
        _event(session, issue, ReviewAction.REOPENED, editor, comment=comment, fp=fp)
    session.commit()
    return cancelled


def submit(
    session: Session, issue: Issue, editor: StaffUser, *, notify_people: bool = True
) -> IssueReview:
    """Draft → in review. The submitter vouches for the content as it is now; the
    reviewers are mailed (`notify_people=False`: set-up scripts and test helpers)."""
    _check_not_final(issue)
    review = review_of(session, issue)
    fp = fingerprint(issue)
    if review.state == ReviewState.IN_REVIEW and review.content_fingerprint == fp:
        raise ReviewError(P(N_("第 %(n)s 期已在复核中。"), n=str(issue.number)))
    if review.state == ReviewState.APPROVED and review.approved_fingerprint == fp:
        raise ReviewError(P(N_("第 %(n)s 期已批准，无需再次提交。"), n=str(issue.number)))
    review.state, review.content_fingerprint = ReviewState.IN_REVIEW, fp
    review.submitted_by_id, review.submitted_at = editor.id, utcnow()
    review.approved_by_id = review.approved_at = review.approved_fingerprint = None
    _event(session, issue, ReviewAction.SUBMITTED, editor, fp=fp)
    session.commit()
    if notify_people:
        notify.issue_waiting(session, issue, editor)
    return review


def approve(
    session: Session,
    issue: Issue,
    reviewer: StaffUser,
    *,
    seen: str | None = None,
    fill_credits: bool = False,
    notify_people: bool = True,
) -> IssueReview:
    """In review → approved, by someone who did not author this round.

    `seen`: the fingerprint of the content the reviewer looked at; if it has changed
    since, nothing is approved. `fill_credits`: put the authors' names under 责编 and the
    reviewer's under 复核 (the approved fingerprint includes them).
    """
    _check_not_final(issue)
    review = review_of(session, issue)
    current = fingerprint(issue)
    if review.state == ReviewState.APPROVED and review.approved_fingerprint == current:
        raise ReviewError(P(N_("第 %(n)s 期已经批准过了。"), n=str(issue.number)))
    if review.state == ReviewState.DRAFT:
        raise ReviewError(
            P(N_("第 %(n)s 期还没有提交复核：请编辑先点“提交复核”。"), n=str(issue.number))
        )
    if seen is not None and seen != current:
        raise ReviewError(P(N_("您审阅期间本期内容又被修改过：请刷新页面，看过最新内容后再批准。")))
    if review.content_fingerprint != current:
        raise ReviewError(
            P(N_("本期内容有未经记录的修改（例如从命令行重新导入）：请编辑重新提交复核。"))
        )
    authors = round_authors(session, issue)
    if reviewer.id in authors:
        raise ReviewError(
            P(N_("您导入、编辑或提交过本期内容，不能批准自己的修改：请另一位复核人员复核。"))
        )
    if fill_credits:
        names = [
            u.display_name
            for u in (session.get(StaffUser, i) for i in reversed(authors))
            if u is not None
        ]
        credits = dict(issue.credits or {})
        if names:
            credits[CREDIT_EDITORS] = names
        credits[CREDIT_REVIEWERS] = [reviewer.display_name]
        issue.credits = credits
        session.flush()
        current = fingerprint(issue)
    review.state, review.content_fingerprint = ReviewState.APPROVED, current
    review.approved_by_id, review.approved_at, review.approved_fingerprint = (
        reviewer.id,
        utcnow(),
        current,
    )
    _event(
        session,
        issue,
        ReviewAction.APPROVED,
        reviewer,
        fp=current,
        comment="已按审核记录填写责编/复核署名" if fill_credits else "",
    )
    session.commit()
    if notify_people:
        notify.decided(session, issue, reviewer, approved=True)
    return review


def clean_comment(comment: str) -> str:
    comment = (comment or "").replace("\r\n", "\n").strip()
    if not comment:
        raise ReviewError(P(N_("退回时请写明需要修改的地方。")))
    if len(comment) > MAX_COMMENT:
        raise ReviewError(P(N_("意见最多 %(max)s 个字。"), max=str(MAX_COMMENT)))
    if any((ord(ch) < 32 and ch not in "\n\t") or ord(ch) == 127 for ch in comment):
        raise ReviewError(P(N_("意见不能包含控制字符。")))
    return comment


def send_back(session: Session, issue: Issue, reviewer: StaffUser, comment: str) -> IssueReview:
    """In review (or approved, not yet sent) → draft, with the reviewer's comment."""
    _check_not_final(issue)
    comment = clean_comment(comment)
    if _active_sends(session, issue):
        raise ReviewError(
            P(N_("第 %(n)s 期有已安排的发送：请先取消发送，再退回修改。"), n=str(issue.number))
        )
    review = review_of(session, issue)
    if review.state == ReviewState.DRAFT:
        raise ReviewError(P(N_("第 %(n)s 期是草稿，尚未提交复核。"), n=str(issue.number)))
    review.state = ReviewState.DRAFT
    review.approved_by_id = review.approved_at = review.approved_fingerprint = None
    _event(session, issue, ReviewAction.SENT_BACK, reviewer, comment=comment)
    session.commit()
    notify.decided(session, issue, reviewer, approved=False, comment=comment)
    return review
