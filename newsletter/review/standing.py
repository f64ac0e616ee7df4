"""Where an issue stands, for the staff home page and the issue list: the workflow state
(草稿 → 待复核 → 已批准 → 已排程 → 发送中 n% → 已完成), the send that state is about,
how far it got, and what the person looking should do next (by role)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.bulletin.models import Issue
from newsletter.delivery.models import Delivery, DeliveryState, Send, SendStatus
from newsletter.review import service
from newsletter.review.models import IssueReview, ReviewState, WorkflowState
from newsletter.staff.models import Role, StaffUser

STEPS = [
    WorkflowState.DRAFT,
    WorkflowState.IN_REVIEW,
    WorkflowState.APPROVED,
    WorkflowState.SCHEDULED,
    WorkflowState.SENDING,
    WorkflowState.SENT,
]


@dataclass
class Action:
    text: object  # what to do, in a sentence
    endpoint: str = ""  # where to do it (url_for endpoint), or none
    args: dict = field(default_factory=dict)
    post: bool = False  # a button that posts (with CSRF) rather than a link


@dataclass
class Standing:
    issue: Issue
    state: WorkflowState
    send: Send | None = None  # the send the state is about (scheduled/running/done)
    percent: int | None = None  # of a running send
    scheduled_at: dt.datetime | None = None
    actions: list[Action] = field(default_factory=list)

    @property
    def step_index(self) -> int:
        return STEPS.index(self.state)


def waiting_for_review(session: Session) -> int:
    """Issues submitted and not yet approved or sent back (the top bar's 复核 badge)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(IssueReview)
            .where(IssueReview.state == ReviewState.IN_REVIEW)
        )
        or 0
    )


def _latest_send(session: Session, issue: Issue, statuses) -> Send | None:
    return session.scalar(
        select(Send)
        .where(Send.issue_id == issue.id, Send.is_test.is_(False), Send.status.in_(list(statuses)))
        .order_by(Send.id.desc())
        .limit(1)
    )


def _percent(session: Session, send: Send) -> int:
    counts = dict(
        session.execute(
            select(Delivery.state, func.count())
            .where(Delivery.send_id == send.id)
            .group_by(Delivery.state)
        ).all()
    )
    total = sum(counts.values())
    final = sum(n for state, n in counts.items() if state in DeliveryState.final())
    return int(final * 100 / total) if total else 0


def standing(session: Session, issue: Issue, user: StaffUser | None = None) -> Standing:
    state = service.workflow_state(session, issue)
    result = Standing(issue=issue, state=state)
    if state == WorkflowState.SCHEDULED:
        result.send = _latest_send(session, issue, [SendStatus.SCHEDULED])
        result.scheduled_at = result.send.scheduled_at if result.send else None
    elif state == WorkflowState.SENDING:
        result.send = _latest_send(
            session, issue, [SendStatus.QUEUED, SendStatus.SENDING, SendStatus.PAUSED]
        )
        result.percent = _percent(session, result.send) if result.send else 0
    elif state == WorkflowState.SENT:
        result.send = _latest_send(
            session,
            issue,
            [SendStatus.DONE, SendStatus.SENDING, SendStatus.PAUSED, SendStatus.CANCELLED],
        )
    if user is not None:
        result.actions = next_actions(session, result, user)
    return result


def next_actions(session: Session, s: Standing, user: StaffUser) -> list[Action]:
    """What this person can do now about this issue; a waiting line when nothing."""
    n = s.issue.number
    acts: list[Action] = []
    if s.state == WorkflowState.DRAFT:
        if user.has_role(Role.EDITOR):
            acts.append(Action(_l("检查内容后提交复核"), "review.submit", {"number": n}, post=True))
            acts.append(Action(_l("编辑内容"), "bulletin.issue_edit", {"number": n}))
        else:
            acts.append(Action(_l("等待编辑提交复核")))
    elif s.state == WorkflowState.IN_REVIEW:
        if user.has_role(Role.REVIEWER) and service.can_approve(session, s.issue, user):
            acts.append(
                Action(_l("复核本期：批准或退回修改"), "review.issue_review", {"number": n})
            )
        elif user.has_role(Role.REVIEWER):
            acts.append(Action(_l("等待另一位复核人员复核（您编辑过本期）")))
        else:
            acts.append(Action(_l("等待复核人员复核")))
    elif s.state == WorkflowState.APPROVED:
        if user.has_role(Role.SENDER):
            acts.append(Action(_l("安排发送"), "sends.new_send", {"number": n}))
        else:
            acts.append(Action(_l("等待发送人员安排发送")))
    elif s.state in (WorkflowState.SCHEDULED, WorkflowState.SENDING) and s.send is not None:
        acts.append(
            Action(
                _l("查看发送进度") if s.state == WorkflowState.SENDING else _l("查看排程"),
                "sends.detail",
                {"send_id": s.send.id},
            )
        )
    elif s.state == WorkflowState.SENT and s.send is not None:
        acts.append(Action(_l("查看发送报告"), "reports.send_report", {"send_id": s.send.id}))
    return acts
