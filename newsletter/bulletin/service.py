"""Storing issues: import (parse, then upsert by number, all or nothing)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.bulletin.document import IssueTooLarge, check_size
from newsletter.bulletin.models import Issue, IssueStatus
from newsletter.bulletin.parser import parse_issue


class IssueImportError(ValueError):
    pass


__all__ = ["IssueImportError", "IssueTooLarge", "import_issue", "load_sample"]


def import_issue(session: Session, source: str | bytes) -> tuple[Issue, bool]:
    """Parse and store an issue; re-importing a number replaces that draft's content.

    Returns (issue, created). Raises IssueParseError (nothing written) for a malformed
    file, IssueTooLarge for one over the size limits, IssueImportError for an issue that
    was already sent.
    """
    doc = parse_issue(source)
    check_size(doc)  # IssueTooLarge before anything is touched
    issue = session.scalar(select(Issue).where(Issue.number == doc.number))
    created = issue is None
    if issue is None:
        issue = Issue(number=doc.number)
        session.add(issue)
    elif issue.status != IssueStatus.DRAFT:
        raise IssueImportError(f"issue {doc.number} is {issue.status}; it cannot be replaced")
    try:
        issue.fill_from_doc(doc)
        session.commit()
    except Exception:
        session.rollback()
        raise
    return issue, created


def load_sample(session: Session) -> Issue | None:
    """Import the bundled sample issue (第 396 期) unless it has gone beyond draft."""
    from newsletter.config import PROJECT_ROOT

    existing = session.scalar(select(Issue).where(Issue.number == 396))
    if existing is not None and existing.status != IssueStatus.DRAFT:
        return None
    issue, _ = import_issue(session, (PROJECT_ROOT / "samples" / "weekly-396.txt").read_bytes())
    return issue
