"""What changed since the reviewer last looked: the issue as readable lines, and a
line diff against the last approved version (or, before any approval, the imported text).

The text is stored with the review event (`ReviewEvent.snapshot`) at import and at
approval, so the comparison survives later edits."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.bulletin.models import Issue
from newsletter.review.models import ReviewAction, ReviewEvent


def snapshot(issue: Issue) -> str:
    """Everything that goes into the email, one paragraph a line, in reading order."""
    doc = issue.to_doc()
    lines = [
        f"期号：{doc.number}",
        f"日期：{doc.date.isoformat()}",
        f"刊名：{doc.title}",
        f"编发：{doc.publisher}",
    ]
    if issue.editor_note:
        lines += ["", "【编者按】", *issue.editor_note.strip().splitlines()]
    lines += ["", "【摘要】", *doc.summary]
    for section in doc.sections:
        lines += ["", f"【{section.name}】"]
        for article in section.articles:
            lines += ["", f"■ {article.title}", *article.paragraphs]
    credits = doc.credits or {}
    if credits:
        lines.append("")
        for key, value in credits.items():
            value = "、".join(value) if isinstance(value, (list, tuple)) else str(value)
            lines.append(f"{key}：{value}")
    return "\n".join(lines) + "\n"


@dataclass
class Comparison:
    base: str  # "approved" (last approved version) or "imported" (first import)
    base_event: ReviewEvent | None
    rows: list[tuple[str, str]]  # (kind, line): kind is " ", "+", "-" or "@" (a gap)
    added: int
    removed: int

    @property
    def unchanged(self) -> bool:
        return self.added == 0 and self.removed == 0


def base_event(session: Session, issue: Issue) -> ReviewEvent | None:
    """The last approval with a snapshot, else the first import with one."""
    approved = session.scalar(
        select(ReviewEvent)
        .where(
            ReviewEvent.issue_id == issue.id,
            ReviewEvent.action == ReviewAction.APPROVED,
            ReviewEvent.snapshot.is_not(None),
        )
        .order_by(ReviewEvent.id.desc())
        .limit(1)
    )
    if approved is not None:
        return approved
    return session.scalar(
        select(ReviewEvent)
        .where(
            ReviewEvent.issue_id == issue.id,
            ReviewEvent.action == ReviewAction.IMPORTED,
            ReviewEvent.snapshot.is_not(None),
        )
        .order_by(ReviewEvent.id)
        .limit(1)
    )


def compare(session: Session, issue: Issue, context: int = 2) -> Comparison | None:
    """None when nothing was stored to compare with (an issue older than snapshots)."""
    event = base_event(session, issue)
    if event is None:
        return None
    assert event.snapshot is not None, "base_event picks only events with a snapshot"
    old, new = event.snapshot.splitlines(), snapshot(issue).splitlines()
    rows: list[tuple[str, str]] = []
    added = removed = 0
    for group in difflib.SequenceMatcher(None, old, new, autojunk=False).get_grouped_opcodes(
        context
    ):
        if rows:
            rows.append(("@", ""))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                rows += [(" ", line) for line in old[i1:i2]]
                continue
            if tag in ("replace", "delete"):
                rows += [("-", line) for line in old[i1:i2]]
                removed += i2 - i1
            if tag in ("replace", "insert"):
                rows += [("+", line) for line in new[j1:j2]]
                added += j2 - j1
    base = "approved" if event.action == ReviewAction.APPROVED else "imported"
    return Comparison(base=base, base_event=event, rows=rows, added=added, removed=removed)
