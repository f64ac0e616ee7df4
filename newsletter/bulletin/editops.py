"""The edit page's structural operations on an `IssueDoc`: move, delete or add a section or
an article (`apply_op`), and move articles between sections (`move_articles`). In place,
no Flask, no database; refusals are `editing.EditError`, notices phrases.
"""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.bulletin.document import ArticleDoc, IssueDoc, SectionDoc
from newsletter.bulletin.editing import EditError
from newsletter.phrase import N_, P, Phrase


@dataclass(frozen=True)
class OpResult:
    doc: IssueDoc
    save: bool  # False: the result is a working copy to finish in the form (a blank item)
    focus: str  # element id on the edit page to scroll back to
    notice: Phrase  # said on the page, in its language


def _swap(items: list, a: int, b: int) -> None:
    items[a], items[b] = items[b], items[a]


def apply_op(doc: IssueDoc, op: str) -> OpResult:
    """Apply one button of the edit page to `doc`, in place.

    Ops: ``save``; ``sec-up:i``, ``sec-down:i``, ``sec-del:i``, ``sec-add``;
    ``art-up:i:j``, ``art-down:i:j``, ``art-del:i:j``, ``art-add:i``. Indices are 0-based
    positions in `doc` as the page showed it. Adding leaves a blank item to fill in
    (``save`` is False).
    """
    name, _, args = (op or "save").partition(":")
    try:
        idx = [int(a) for a in args.split(":")] if args else []
    except ValueError:
        raise EditError(P(N_("无法识别的操作：%(op)s"), op=repr(op))) from None
    secs = doc.sections

    def section(i: int) -> SectionDoc:
        if not 0 <= i < len(secs):
            raise EditError(P(N_("要操作的栏目已不存在，请刷新页面后重试。")))
        return secs[i]

    def article(i: int, j: int) -> list[ArticleDoc]:
        arts = section(i).articles
        if not 0 <= j < len(arts):
            raise EditError(P(N_("要操作的文章已不存在，请刷新页面后重试。")))
        return arts

    match name, len(idx):
        case "save", 0:
            return OpResult(doc, True, "", P(N_("已保存。")))
        case "sec-up", 1:
            section(idx[0])
            if idx[0] > 0:
                _swap(secs, idx[0], idx[0] - 1)
            return OpResult(doc, True, f"s{max(idx[0] - 1, 0)}", P(N_("栏目已上移并保存。")))
        case "sec-down", 1:
            section(idx[0])
            if idx[0] < len(secs) - 1:
                _swap(secs, idx[0], idx[0] + 1)
            return OpResult(
                doc, True, f"s{min(idx[0] + 1, len(secs) - 1)}", P(N_("栏目已下移并保存。"))
            )
        case "sec-del", 1:
            gone = section(idx[0])
            del secs[idx[0]]
            return OpResult(
                doc,
                True,
                "",
                P(
                    N_("栏目「%(name)s」及其 %(n)s 篇文章已删除并保存。"),
                    name=gone.name,
                    n=str(len(gone.articles)),
                ),
            )
        case "sec-add", 0:
            secs.append(SectionDoc("", [ArticleDoc("", [])]))
            return OpResult(
                doc,
                False,
                f"s{len(secs) - 1}",
                P(N_("已在末尾加入新栏目：填写栏目名称和第一篇文章后点“保存”。")),
            )
        case "art-up" | "art-down", 2:
            i, j = idx
            arts = article(i, j)
            k = j - 1 if name == "art-up" else j + 1
            if 0 <= k < len(arts):
                _swap(arts, j, k)
            else:
                k = j
            return OpResult(doc, True, f"s{i}-a{k}", P(N_("文章顺序已调整并保存。")))
        case "art-del", 2:
            i, j = idx
            removed = article(i, j).pop(j)
            return OpResult(
                doc,
                True,
                f"s{i}",
                P(
                    N_("文章「%(title)s」已删除并保存。"),
                    title=removed.title or P(N_("（无标题）")),
                ),
            )
        case "art-add", 1:
            arts = section(idx[0]).articles
            arts.append(ArticleDoc("", []))
            return OpResult(
                doc,
                False,
                f"s{idx[0]}-a{len(arts) - 1}",
                P(N_("已加入一篇空白文章：填写标题和正文后点“保存”。")),
            )
    raise EditError(P(N_("无法识别的操作：%(op)s"), op=repr(op)))


def move_articles(doc: IssueDoc, moves: list[tuple[ArticleDoc, SectionDoc]]) -> int:
    """Move each article to the end of its target section, in place; returns how many moved.

    Articles and sections are named by identity, so this can follow `apply_op`: a move
    whose article or target section was just deleted is dropped.
    """
    moved = 0
    for article, target in moves:
        if not any(s is target for s in doc.sections):
            continue
        source = next((s for s in doc.sections if any(a is article for a in s.articles)), None)
        if source is None or source is target:
            continue
        source.articles[:] = [a for a in source.articles if a is not article]
        target.articles.append(article)
        moved += 1
    return moved
