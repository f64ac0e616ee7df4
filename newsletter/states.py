"""The names of states, in one place: a send's (delivery.models.SendStatus), an issue's
place in the workflow (review.models.WorkflowState), an issue's own status
(bulletin.models.IssueStatus) and the steps of its review history (review.models.ReviewAction).
One name per state, on every page, in the CLI and in refusals.

zh-CN message ids, marked with `N_` and free of Flask, so delivery and the CLI say them as
they are (`control`'s refusals, `review status`) and `display.LABELS` says them in the page's
language. Keyed by the state's code (a StrEnum is its code).
"""

from __future__ import annotations

from newsletter.phrase import N_

SCHEDULED = N_("已排程")  # a send waiting for its time, and an issue with such a send

SEND: dict[str, str] = {
    "scheduled": SCHEDULED,
    "queued": N_("排队中"),
    "sending": N_("发送中"),
    "paused": N_("已暂停"),
    "cancelled": N_("已取消"),
    "done": N_("已完成"),
}

WORKFLOW: dict[str, str] = {
    "draft": N_("草稿"),
    "in_review": N_("待复核"),
    "approved": N_("已批准"),
    "scheduled": SCHEDULED,
    "sending": N_("发送中"),
    "sent": N_("已完成"),
}

# An issue's own status is a part of its workflow, named the same.
ISSUE: dict[str, str] = {code: WORKFLOW[code] for code in ("draft", "sending", "sent")}

REVIEW_ACTION: dict[str, str] = {
    "imported": N_("导入"),
    "edited": N_("修改内容"),  # not 编辑: that is the editor's role
    "submitted": N_("提交复核"),
    "approved": N_("批准"),
    "sent_back": N_("退回修改"),
    "reopened": N_("批准后被修改，重新待复核"),
}
