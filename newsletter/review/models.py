"""Review state of an issue and the history of what happened to it.

The review state lives beside the issue (not in `Issue.status`, which the send pipeline
owns: draft/sending/sent): `IssueReview.state` is draft, in_review or approved, and
`approved_fingerprint` pins the exact content that was approved.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.orm import Model
from newsletter.timeutil import utcnow


class ReviewState(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"


class WorkflowState(StrEnum):
    """What people see: the review state, then the sends' progress."""

    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"  # the names of these states: newsletter/states.py


class ReviewAction(StrEnum):
    IMPORTED = "imported"
    EDITED = "edited"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    SENT_BACK = "sent_back"
    REOPENED = "reopened"  # an edit after approval put the issue back in review


# Actions that change (or vouch for) the content: whoever did one of these since the last
# approval may not approve it.
AUTHORING = (ReviewAction.IMPORTED, ReviewAction.EDITED, ReviewAction.SUBMITTED)


class IssueReview(Model):
    __tablename__ = "issue_reviews"

    issue_id: Mapped[int] = mapped_column(
        ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[str] = mapped_column(String(16), default=ReviewState.DRAFT)
    # The content as of the last recorded event; a different fingerprint now means an edit
    # nobody recorded (a CLI re-import, say): it must be submitted again before approval.
    content_fingerprint: Mapped[str] = mapped_column(String(64), default="")
    submitted_by_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    approved_by_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    approved_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    approved_fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_edited_by_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_edited_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class ReviewEvent(Model):
    __tablename__ = "review_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    staff_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    staff_email: Mapped[str] = mapped_column(String(320), default="")
    staff_name: Mapped[str] = mapped_column(String(200), default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    fingerprint: Mapped[str] = mapped_column(String(64), default="")
    # The content as readable lines (review/diff.py), kept at import and at approval: the
    # review page compares the issue now against it.
    snapshot: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
