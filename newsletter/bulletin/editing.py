"""Correcting an imported issue: validate a whole edited IssueDoc, then save it atomically.

Plain functions over `IssueDoc` (no Flask, no forms): the edit page turns its fields into an
IssueDoc, may apply one structural operation (`editops.apply_op`: move/delete/add), and calls
`save_issue`, which either writes everything or nothing. Problems come back as
`EditError.problems`, each naming the place it belongs to (a path such as
``("sections", 2, "articles", 0, "title")``) and a message a person can act on (a phrase,
said in the page's language).
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter import states
from newsletter.bulletin.document import (
    MAX_TITLE_CHARS,
    IssueDoc,
    size_problems,
)
from newsletter.bulletin.models import Issue, IssueStatus
from newsletter.phrase import N_, P, Phrase
from newsletter.timeutil import utcnow

# Limits that match the columns (String(n)) or keep an issue sane for email.
MAX_NUMBER = 999_999
MAX_ISSUE_TITLE = 200
MAX_PUBLISHER = 200
MAX_SECTION_NAME = 64
MAX_ARTICLE_TITLE = MAX_TITLE_CHARS
MAX_EDITOR_NOTE = 5_000
MAX_SUMMARY_ITEM = 300
RESERVED_SECTION_NAMES = {"摘要"}  # the renderer treats 摘要 as the summary box

# C0/C1 controls other than tab and newline: PostgreSQL refuses NUL, mail clients the rest.
_CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")

FieldPath = tuple  # ("title",), ("sections", 1, "name"), ("sections", 1, "articles", 3, "body")


@dataclass(frozen=True)
class Problem:
    path: FieldPath
    message: str | Phrase  # a phrase (the size limits) is said in the page's language


class EditError(ValueError):
    """The edit was refused; nothing was written. `problems` says where and why."""

    def __init__(self, problems: list[Problem] | str | Phrase):
        if isinstance(problems, (str, Phrase)):
            problems = [Problem((), problems)]
        self.problems = problems
        super().__init__("; ".join(str(p.message) for p in problems))


class IssueReadOnly(EditError):
    """The issue is being sent or was sent: its content is final."""


class StaleEdit(EditError):
    """Someone saved the issue after this form was loaded; `current_version` is theirs."""

    def __init__(self, message: str | Phrase, current_version: str):
        super().__init__(message)
        self.current_version = current_version


# --- text <-> paragraphs ----------------------------------------------------------------


def _wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in "WF"


def body_to_paragraphs(body: str) -> list[str]:
    """Paragraphs are separated by blank lines; lines inside one are joined.

    Joined without a space when either side is CJK (Chinese has no spaces between
    words), with one space between Latin words.
    """
    paragraphs: list[str] = []
    for block in re.split(r"\n[ \t\u3000]*\n", normalise_newlines(body)):
        text = ""
        for line in block.split("\n"):
            line = line.strip()
            if not line:
                continue
            if text and not (_wide(text[-1]) or _wide(line[0])):
                text += " "
            text += line
        if text:
            paragraphs.append(text)
    return paragraphs


def paragraphs_to_body(paragraphs: list[str]) -> str:
    return "\n\n".join(paragraphs)


def summary_to_lines(text: str) -> list[str]:
    return [line.strip() for line in normalise_newlines(text).split("\n") if line.strip()]


def normalise_newlines(text: str | None) -> str:
    return (text or "").replace("\r\n", "\n").replace("\r", "\n")


# --- validation ---------------------------------------------------------------------------


def validate(doc: IssueDoc) -> list[Problem]:
    """Everything that can be checked without the database, in page order."""
    problems: list[Problem] = []

    def need(value: str, path: FieldPath, what: Phrase, limit: int) -> None:
        if not value.strip():
            problems.append(Problem(path, P(N_("%(what)s不能为空。"), what=what)))
        elif len(value) > limit:
            problems.append(
                Problem(
                    path,
                    P(
                        N_("%(what)s太长：%(n)s 字，最多 %(max)s 字。"),
                        what=what,
                        n=str(len(value)),
                        max=str(limit),
                    ),
                )
            )
        elif _CONTROL_RE.search(value):
            problems.append(
                Problem(path, P(N_("%(what)s含有不可见的控制字符，请删除后再保存。"), what=what))
            )

    if not 1 <= doc.number <= MAX_NUMBER:
        problems.append(
            Problem(("number",), P(N_("期号应在 1 到 %(max)s 之间。"), max=str(MAX_NUMBER)))
        )
    if not dt.date(1990, 1, 1) <= doc.date <= dt.date(2100, 12, 31):
        problems.append(Problem(("date",), P(N_("日期不在合理范围内（1990 年至 2100 年）。"))))
    need(doc.title, ("title",), P(N_("刊名")), MAX_ISSUE_TITLE)
    need(doc.publisher, ("publisher",), P(N_("出版单位")), MAX_PUBLISHER)
    if doc.editor_note:
        if len(doc.editor_note) > MAX_EDITOR_NOTE:
            problems.append(
                Problem(
                    ("editor_note",),
                    P(
                        N_("编者按太长：%(n)s 字，最多 %(max)s 字。"),
                        n=str(len(doc.editor_note)),
                        max=str(MAX_EDITOR_NOTE),
                    ),
                )
            )
        elif _CONTROL_RE.search(doc.editor_note):
            problems.append(Problem(("editor_note",), P(N_("编者按含有不可见的控制字符。"))))
    for n, item in enumerate(doc.summary, 1):
        if len(item) > MAX_SUMMARY_ITEM or _CONTROL_RE.search(item):
            problems.append(
                Problem(("summary",), P(N_("摘要第 %(n)s 条太长或含有控制字符。"), n=str(n)))
            )

    if not doc.sections:
        problems.append(Problem(("sections",), P(N_("一期至少要有一个栏目。"))))
    seen: dict[str, int] = {}
    for i, section in enumerate(doc.sections):
        name = section.name.strip()
        label = (
            P(N_("栏目「%(name)s」"), name=name) if name else P(N_("第 %(n)s 个栏目"), n=str(i + 1))
        )
        path = ("sections", i, "name")
        need(section.name, path, P(N_("第 %(n)s 个栏目的名称"), n=str(i + 1)), MAX_SECTION_NAME)
        if name in RESERVED_SECTION_NAMES:
            problems.append(
                Problem(path, P(N_("栏目不能叫「%(name)s」：它是摘要框的名字。"), name=name))
            )
        elif name and name in seen:
            problems.append(
                Problem(
                    path,
                    P(
                        N_("栏目「%(name)s」重名：与第 %(n)s 个栏目同名。"),
                        name=name,
                        n=str(seen[name] + 1),
                    ),
                )
            )
        seen.setdefault(name, i)
        if not section.articles:
            problems.append(
                Problem(path, P(N_("%(label)s没有文章：请加入文章或删除此栏目。"), label=label))
            )
        for j, article in enumerate(section.articles):
            where = P(N_("%(section)s第 %(n)s 篇文章"), section=label, n=str(j + 1))
            at = ("sections", i, "articles", j)
            need(
                article.title,
                (*at, "title"),
                P(N_("%(article)s的标题"), article=where),
                MAX_ARTICLE_TITLE,
            )
            if not article.paragraphs:
                problems.append(
                    Problem(
                        (*at, "body"), P(N_("%(article)s没有正文：至少要有一段。"), article=where)
                    )
                )
            elif any(_CONTROL_RE.search(p) for p in article.paragraphs):
                problems.append(
                    Problem(
                        (*at, "body"),
                        P(N_("%(article)s的正文含有不可见的控制字符。"), article=where),
                    )
                )
    said = {p.path for p in problems}  # a title too long is already named above
    problems += [Problem(path, message) for path, message in size_problems(doc) if path not in said]
    return problems


# --- saving ---------------------------------------------------------------------------------


def version_of(issue: Issue) -> str:
    """What the edit form carries to detect a concurrent save (optimistic locking)."""
    return issue.updated_at.isoformat() if issue.updated_at else ""


def _number_taken(doc: IssueDoc) -> Phrase:
    return P(N_("第 %(n)s 期已存在，期号不能重复。"), n=str(doc.number))


def is_editable(issue: Issue) -> bool:
    return issue.status == IssueStatus.DRAFT


def read_only_message(issue: Issue) -> Phrase:
    return P(
        N_("第 %(n)s 期%(s)s，内容已定稿，不能再修改。"),
        n=str(issue.number),
        s=P(states.ISSUE.get(issue.status, issue.status)),  # the state's one name
    )


def save_issue(
    session: Session, number: int, doc: IssueDoc, *, version: str | None = None
) -> Issue:
    """Replace issue `number`'s content with `doc`, all or nothing.

    Raises IssueReadOnly (not a draft), StaleEdit (saved by someone else since `version`),
    EditError (invalid content; the problems name the fields). Credits and distribution
    are not part of the edit form and are kept from the stored issue.
    """
    try:
        issue = session.scalar(select(Issue).where(Issue.number == number).with_for_update())
        if issue is None:
            raise EditError(P(N_("第 %(n)s 期不存在（可能已被改了期号）。"), n=str(number)))
        if not is_editable(issue):
            raise IssueReadOnly(read_only_message(issue))
        if version is not None and version != version_of(issue):
            raise StaleEdit(
                P(
                    N_(
                        "保存失败：本期在您编辑期间已被他人保存。您的修改仍在表单里；"
                        "核对后再点一次“保存”将覆盖对方的修改。"
                    )
                ),
                version_of(issue),
            )
        problems = validate(doc)
        if (
            doc.number != issue.number
            and session.scalar(select(Issue.id).where(Issue.number == doc.number)) is not None
        ):
            problems.insert(0, Problem(("number",), _number_taken(doc)))
        if problems:
            raise EditError(problems)
        doc = copy.deepcopy(doc)
        doc.credits, doc.distribution = dict(issue.credits or {}), dict(issue.distribution or {})
        issue.fill_from_doc(doc)
        issue.editor_note = (doc.editor_note or "").strip() or None
        issue.updated_at = utcnow()
        session.commit()
        return issue
    except IntegrityError:  # a concurrent save took the number between check and commit
        session.rollback()
        raise EditError([Problem(("number",), _number_taken(doc))]) from None
    except BaseException:
        session.rollback()
        raise


def editable_doc(issue: Issue) -> IssueDoc:
    """The issue as the edit form shows it (the editor note included)."""
    return issue.to_doc()


def clean_doc(doc: IssueDoc) -> IssueDoc:
    """Trim what people type: surrounding whitespace of names and titles."""
    doc = copy.deepcopy(doc)
    doc.title, doc.publisher = doc.title.strip(), doc.publisher.strip()
    for section in doc.sections:
        section.name = section.name.strip()
        for article in section.articles:
            article.title = " ".join(article.title.split())
    return doc
