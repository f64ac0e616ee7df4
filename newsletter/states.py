"""The names of states, in one place: a send's (delivery.models.SendStatus) and an issue's
place in the workflow (review.models.WorkflowState).

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
