"""The bulletin as plain data: what the parser produces and the renderer consumes.

These dataclasses know nothing about the database or Flask, so parsing and rendering
can be tested on their own. `newsletter.bulletin.models` converts to and from them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from newsletter.phrase import N_, P, Phrase


@dataclass
class ArticleDoc:
    title: str
    paragraphs: list[str]

    def to_json(self) -> dict:
        return {"title": self.title, "paragraphs": list(self.paragraphs)}


@dataclass
class SectionDoc:
    name: str
    articles: list[ArticleDoc]

    def to_json(self) -> dict:
        return {"name": self.name, "articles": [a.to_json() for a in self.articles]}


@dataclass
class IssueDoc:
    """One weekly issue as the editors wrote it.

    `credits` keys are the labels of the bulletin's foot (编辑部, 责编, 复核, 注);
    `distribution` keys are 报 and 发, each a list of recipient descriptions.
    `editor_note` (编者按) appears only in the priority edition.
    """

    number: int
    date: dt.date
    title: str
    publisher: str
    summary: list[str]
    sections: list[SectionDoc]
    credits: dict = field(default_factory=dict)
    distribution: dict = field(default_factory=dict)
    editor_note: str | None = None

    @property
    def articles(self) -> list[ArticleDoc]:
        return [a for s in self.sections for a in s.articles]

    def to_json(self) -> dict:
        return {
            "number": self.number,
            "date": self.date.isoformat(),
            "title": self.title,
            "publisher": self.publisher,
            "summary": list(self.summary),
            "sections": [s.to_json() for s in self.sections],
            "credits": dict(self.credits),
            "distribution": {k: list(v) for k, v in self.distribution.items()},
        }

    @classmethod
    def from_json(cls, data: dict) -> IssueDoc:
        return cls(
            number=int(data["number"]),
            date=dt.date.fromisoformat(data["date"]),
            title=data["title"],
            publisher=data["publisher"],
            summary=list(data.get("summary", [])),
            sections=[
                SectionDoc(
                    s["name"],
                    [ArticleDoc(a["title"], list(a["paragraphs"])) for a in s["articles"]],
                )
                for s in data["sections"]
            ],
            credits=dict(data.get("credits", {})),
            distribution={k: list(v) for k, v in data.get("distribution", {}).items()},
            editor_note=data.get("editor_note"),
        )


# --- size limits ------------------------------------------------------------------------
# One issue's limits (README "Issue size limits"), checked wherever an issue is stored —
# import (page, API, CLI, any format: `Issue.fill_from_doc` checks) and the edit page — so
# that rendering, the archive and the public form stay cheap. The sample: 7 sections, 31
# articles, 16 KB of text.
MAX_SECTIONS = 30
MAX_ARTICLES = 200
MAX_PARAGRAPHS = 50  # per article
MAX_PARAGRAPH_CHARS = 5_000
MAX_TITLE_CHARS = 500  # an article's title
MAX_SUMMARY_ITEMS = 100
MAX_TEXT_BYTES = 512 * 1024  # every title, paragraph, 摘要 line and the 编者按, UTF-8


class IssueTooLarge(ValueError):
    """The issue is over a size limit; nothing was stored. `problems`: (path, phrase);
    `str(exc)` says them in zh-CN (CLI, API), pages say each phrase in their language."""

    def __init__(self, problems: list[tuple[tuple, Phrase]]):
        self.problems = problems
        super().__init__("；".join(str(message) for _path, message in problems))


def size_problems(doc: IssueDoc) -> list[tuple[tuple, Phrase]]:
    """(field path, phrase) for each limit the issue is over; [] when it fits."""
    problems: list[tuple[tuple, Phrase]] = []
    # numbers as str: an int parameter would be said with a thousands separator
    if len(doc.sections) > MAX_SECTIONS:
        problems.append(
            (
                ("sections",),
                P(
                    N_("栏目太多：%(n)s 个，最多 %(max)s 个。"),
                    n=str(len(doc.sections)),
                    max=str(MAX_SECTIONS),
                ),
            )
        )
    count = sum(len(s.articles) for s in doc.sections)
    if count > MAX_ARTICLES:
        problems.append(
            (
                ("sections",),
                P(
                    N_("文章太多：%(n)s 篇，每期最多 %(max)s 篇。"),
                    n=str(count),
                    max=str(MAX_ARTICLES),
                ),
            )
        )
    if len(doc.summary) > MAX_SUMMARY_ITEMS:
        problems.append(
            (
                ("summary",),
                P(
                    N_("摘要太长：%(n)s 条，最多 %(max)s 条。"),
                    n=str(len(doc.summary)),
                    max=str(MAX_SUMMARY_ITEMS),
                ),
            )
        )
    total = sum(len(x.encode()) for x in [doc.title, *doc.summary, doc.editor_note or ""])
    for i, section in enumerate(doc.sections):
        for j, article in enumerate(section.articles):
            where = ("sections", i, "articles", j)
            label = P(N_("栏目「%(name)s」第 %(n)s 篇文章"), name=section.name, n=str(j + 1))
            total += len(article.title.encode()) + sum(len(p.encode()) for p in article.paragraphs)
            if len(article.title) > MAX_TITLE_CHARS:
                problems.append(
                    (
                        (*where, "title"),
                        P(
                            N_("%(label)s的标题太长：%(n)s 字，最多 %(max)s 字。"),
                            label=label,
                            n=str(len(article.title)),
                            max=str(MAX_TITLE_CHARS),
                        ),
                    )
                )
            if len(article.paragraphs) > MAX_PARAGRAPHS:
                problems.append(
                    (
                        (*where, "body"),
                        P(
                            N_("%(label)s段落太多：%(n)s 段，最多 %(max)s 段。"),
                            label=label,
                            n=str(len(article.paragraphs)),
                            max=str(MAX_PARAGRAPHS),
                        ),
                    )
                )
            longest = max((len(p) for p in article.paragraphs), default=0)
            if longest > MAX_PARAGRAPH_CHARS:
                problems.append(
                    (
                        (*where, "body"),
                        P(
                            N_("%(label)s有一段太长：%(n)s 字，每段最多 %(max)s 字。"),
                            label=label,
                            n=str(longest),
                            max=str(MAX_PARAGRAPH_CHARS),
                        ),
                    )
                )
    if total > MAX_TEXT_BYTES:
        problems.append(
            (
                (),
                P(
                    N_("本期正文太大：%(n)s KB，最多 %(max)s KB。"),
                    n=str(total // 1024),
                    max=str(MAX_TEXT_BYTES // 1024),
                ),
            )
        )
    return problems[:20]  # enough to act on; a huge file does not make a huge page


def check_size(doc: IssueDoc) -> None:
    problems = size_problems(doc)
    if problems:
        raise IssueTooLarge(problems)
