"""Storing issues: import (read any accepted format, parse, then upsert by number, all or
nothing), the group directory the 报/发 check uses, and the aliases editors confirm."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.bulletin import formats, groupnames
from newsletter.bulletin.checks import Notice
from newsletter.bulletin.document import IssueDoc, IssueTooLarge, check_size
from newsletter.bulletin.models import Issue, IssueStatus
from newsletter.phrase import N_, P, PhraseError
from subscribers.models import Group, GroupAlias

__all__ = [
    "IssueImportError",
    "IssueTooLarge",
    "group_directory",
    "import_document",
    "import_issue",
    "load_sample",
    "read_upload",
    "remember_alias",
    "store_doc",
]


class IssueImportError(PhraseError):
    """The issue cannot be stored as asked; the message (a phrase) says why. A refused
    replacement says it in English, like the parser (`parse_messages` has its Chinese)."""


def group_directory(session: Session) -> dict[str, str]:
    """{compared name: group code}: every group's name and code, and the confirmed aliases."""
    groups = session.execute(select(Group.code, Group.name)).all()
    aliases = session.execute(
        select(GroupAlias.alias, Group.code).join(Group, Group.id == GroupAlias.group_id)
    ).all()
    return groupnames.directory(groups, aliases)


def remember_alias(session: Session, name: str, group_code: str, by: str = "") -> GroupAlias:
    """Make `name` mean the group `group_code` from now on (replacing an older choice)."""
    key = groupnames.key(name)
    if not key or len(key) > 128:
        raise IssueImportError(P(N_("分组别名应为 1–128 个字符。")))
    group = session.scalar(select(Group).where(Group.code == group_code))
    if group is None:
        raise IssueImportError(P(N_("没有代码为 %(code)s 的分组。"), code=group_code))
    alias = session.scalar(select(GroupAlias).where(GroupAlias.alias == key))
    if alias is None:
        alias = GroupAlias(alias=key, group_id=group.id, created_by=by)
        session.add(alias)
    else:
        alias.group_id, alias.created_by = group.id, by
    session.commit()
    return alias


def read_upload(
    session: Session,
    data: bytes,
    overrides: dict[int, str] | None = None,
    filename: str | None = None,
) -> formats.ReadResult:
    """Parse a file of any accepted format, with warnings; writes nothing."""
    return formats.parse_extracted(
        formats.extract(data, filename), overrides, group_directory(session)
    )


def store_doc(session: Session, doc: IssueDoc) -> tuple[Issue, bool]:
    """Upsert the issue by number; returns (issue, created). IssueTooLarge for one over the
    size limits, IssueImportError for an issue that was already sent (nothing written)."""
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


def import_document(
    session: Session,
    data: bytes,
    overrides: dict[int, str] | None = None,
    filename: str | None = None,
) -> tuple[Issue, bool, list[Notice]]:
    """Read, parse and store; returns (issue, created, warnings). Raises IssueParseError
    (naming where; nothing written) or IssueImportError."""
    result = read_upload(session, data, overrides, filename)
    issue, created = store_doc(session, result.doc)
    return issue, created, result.notices


def import_issue(session: Session, source: str | bytes) -> tuple[Issue, bool]:
    """Parse and store an issue; re-importing a number replaces that draft's content.

    Returns (issue, created). Raises IssueParseError (nothing written) for a malformed
    file, IssueTooLarge for one over the size limits, IssueImportError for an issue that
    was already sent.
    """
    data = source.encode("utf-8") if isinstance(source, str) else bytes(source)
    issue, created, _ = import_document(session, data)
    return issue, created


def load_sample(session: Session) -> Issue | None:
    """Import the bundled sample issue (第 396 期) unless it has gone beyond draft."""
    from newsletter.resources import SAMPLE_ISSUE

    existing = session.scalar(select(Issue).where(Issue.number == 396))
    if existing is not None and existing.status != IssueStatus.DRAFT:
        return None
    issue, _ = import_issue(session, SAMPLE_ISSUE.read_bytes())
    return issue
