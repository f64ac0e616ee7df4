"""Tell people about review steps by email (the transactional mail path): reviewers when
an issue waits for them, the editor when it was approved or sent back (with the comment).

Called after the step's own commit; a mail that cannot be queued (Redis down) is logged
and never undoes the step.
"""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.bulletin.models import Issue
from newsletter.review.models import ReviewAction, ReviewEvent
from newsletter.staff.models import Role, StaffUser

log = logging.getLogger(__name__)
SUBJECT_PREFIX = "行业动态周报 · 订阅服务："


def _queue(user: StaffUser, subject: str, text: str) -> bool:
    from newsletter.delivery.jobs import enqueue_transactional

    try:
        enqueue_transactional(user.email, SUBJECT_PREFIX + subject, text, to_name=user.name)
        return True
    except Exception:  # noqa: BLE001  the review step stands; the badge still shows it
        log.exception("review notice to %s not queued", user.email)
        return False


def _review_url(issue: Issue) -> str:
    return f"{current_app.config['BASE_URL']}/issues/{issue.number}/review"


def reviewers(session: Session, exclude: set[int]) -> list[StaffUser]:
    users = session.scalars(
        select(StaffUser).where(StaffUser.active.is_(True)).order_by(StaffUser.id)
    )
    return [u for u in users if u.id not in exclude and Role.REVIEWER.value in (u.roles or [])]


def issue_waiting(session: Session, issue: Issue, submitter: StaffUser | None) -> int:
    """Mail every active reviewer but the submitter; returns how many were queued."""
    who = submitter.display_name if submitter else "命令行"

    def text_of(u):
        return (
            f"{u.display_name}，您好：\n\n{who} 提交了第 {issue.number} 期"
            f"《{issue.title}》，等待您复核。\n\n复核页面（可看到与上次批准内容的差异）：\n"
            f"{_review_url(issue)}\n"
        )

    sent = 0
    for user in reviewers(session, {submitter.id} if submitter else set()):
        sent += _queue(user, f"第 {issue.number} 期等待复核", text_of(user))
    return sent


def _editors(session: Session, issue: Issue) -> list[StaffUser]:
    """Who submitted (or else edited) the issue in the round just decided."""
    ids: list[int] = []
    rows = session.execute(
        select(ReviewEvent.action, ReviewEvent.staff_id)
        .where(ReviewEvent.issue_id == issue.id)
        .order_by(ReviewEvent.id.desc())
    ).all()
    for action, staff_id in rows[1:]:  # rows[0] is the decision itself
        if action in (ReviewAction.APPROVED, ReviewAction.SENT_BACK):
            break
        if action == ReviewAction.SUBMITTED and staff_id and staff_id not in ids:
            ids.append(staff_id)
    users = [session.get(StaffUser, i) for i in ids]
    return [u for u in users if u is not None and u.active]


def decided(
    session: Session, issue: Issue, reviewer: StaffUser, approved: bool, comment: str = ""
) -> int:
    """Mail the round's submitter(s): approved, or sent back with the reviewer's comment."""
    sent = 0
    for user in _editors(session, issue):
        if user.id == reviewer.id:
            continue
        if approved:
            subject = f"第 {issue.number} 期已通过复核"
            body = (
                f"{reviewer.display_name} 批准了第 {issue.number} 期《{issue.title}》，"
                "可以安排发送了。"
            )
        else:
            subject = f"第 {issue.number} 期被退回修改"
            body = (
                f"{reviewer.display_name} 退回了第 {issue.number} 期《{issue.title}》，"
                f"意见如下：\n\n{comment}\n\n请修改后重新提交复核。"
            )
        sent += _queue(
            user, subject, f"{user.display_name}，您好：\n\n{body}\n\n{_review_url(issue)}\n"
        )
    return sent
