"""The public web archive: which issues are public, the paginated index, one issue's page.

An issue's web page shows the *regular* edition's content only: the 编者按 (editor_note) and
the priority marks never reach it. Article anchors are `a-<n>`, numbered over the whole
issue exactly as the email numbers them, so "在浏览器中查看" and summary links agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.bulletin.document import IssueDoc
from newsletter.bulletin.models import Issue, IssueStatus
from newsletter.render.markup import SummaryMatcher, date_cn, inline_html, squash, strip_bullet

PER_PAGE = 20
FOOT_LABELS = ("编辑部", "责编", "复核")
DISCLAIMER_LABEL = "注"
# Listed in the index only once sent; readable as soon as the send starts, because the
# first recipients click "在浏览器中查看" while the rest of the list is still being mailed.
LISTED = (IssueStatus.SENT,)
READABLE = (IssueStatus.SENDING, IssueStatus.SENT)


@dataclass(frozen=True)
class ArchivePage:
    issues: list[Issue]
    page: int
    pages: int
    total: int

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


class PageNotFound(LookupError):
    pass


def index_page(session: Session, page: int, per_page: int = PER_PAGE) -> ArchivePage:
    """Sent issues, newest first. Page 1 always exists (maybe empty); beyond the last: error."""
    total = (
        session.scalar(select(func.count()).select_from(Issue).where(Issue.status.in_(LISTED))) or 0
    )
    pages = max(1, math.ceil(total / per_page))
    if not 1 <= page <= pages:
        raise PageNotFound(page)
    issues = session.scalars(
        select(Issue)
        .where(Issue.status.in_(LISTED))
        .order_by(Issue.number.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return ArchivePage(list(issues), page, pages, total)


def public_issue(session: Session, number: int) -> Issue | None:
    return session.scalar(select(Issue).where(Issue.number == number, Issue.status.in_(READABLE)))


def neighbours(session: Session, number: int) -> tuple[int | None, int | None]:
    """(previous, next) listed issue numbers around `number`."""
    listed = Issue.status.in_(LISTED)
    prev = session.scalar(select(func.max(Issue.number)).where(listed, Issue.number < number))
    nxt = session.scalar(select(func.min(Issue.number)).where(listed, Issue.number > number))
    return prev, nxt


def _credit(value) -> str:
    return " ".join(value) if isinstance(value, (list, tuple)) else str(value or "")


def page_context(doc: IssueDoc) -> dict:
    """What the archive template needs, as plain data. Uses no field of the priority edition."""
    sections, titles, n = [], [], 0
    for s_idx, section in enumerate(doc.sections, 1):
        articles = []
        for article in section.articles:
            n += 1
            titles.append((n, squash(article.title)))
            articles.append(
                {
                    "n": n,
                    "anchor": f"a-{n}",
                    "title": article.title,
                    "paras": [inline_html(p) for p in article.paragraphs],
                }
            )
        sections.append({"name": section.name, "anchor": f"s-{s_idx}", "articles": articles})

    summary, matcher = [], SummaryMatcher(titles)  # the email's rule, in one place
    for item in doc.summary:
        match = matcher.match(item)
        summary.append({"text": strip_bullet(item), "anchor": f"a-{match[0]}" if match else None})

    credits = doc.credits or {}
    foot = [(k, _credit(credits[k])) for k in FOOT_LABELS if credits.get(k)]
    return {
        "number": doc.number,
        "title": doc.title,
        "publisher": doc.publisher,
        "date_cn": date_cn(doc.date),
        "summary": summary,
        "sections": sections,
        "article_count": n,
        "foot": foot,
        "disclaimer": _credit(credits.get(DISCLAIMER_LABEL)),
    }


def public_doc(issue: Issue) -> IssueDoc:
    """The issue without anything reserved to the priority edition."""
    doc = issue.to_doc()
    doc.editor_note = None
    doc.distribution = {}
    return doc
