"""API resources: issues (import, get, list), subscribers (CRUD); groups in groups.py."""

from __future__ import annotations

from flask import request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from newsletter.api.core import (
    MAX_BODY_BYTES,
    MAX_ID,
    ApiError,
    actor,
    base64_field,
    bool_field,
    bp,
    choice,
    code_list,
    iso,
    json_body,
    no_groups,
    one_of,
    page_args,
    paged,
    query_text,
    record,
    required_text,
    scope_required,
    text_field,
)
from newsletter.api.errors import of, said_list
from newsletter.bulletin import limits
from newsletter.bulletin.document import check_size
from newsletter.bulletin.models import Issue
from newsletter.bulletin.parser import IssueParseError
from newsletter.bulletin.service import IssueImportError, IssueTooLarge, read_upload, store_doc
from newsletter.display import say, say_parser
from newsletter.extensions import db
from newsletter.phrase import N_, P, Phrase
from newsletter.review import service as review
from newsletter.review.models import IssueReview, ReviewAction
from newsletter.staff.models import Role, StaffUser
from subscribers import admin as subscriber_admin
from subscribers import mail
from subscribers import service as subscriber_service
from subscribers.models import Group, Membership, Subscriber

MAX_ISSUE_TEXT = 1024 * 1024
ANY = ()  # any valid token


# --- issues ---------------------------------------------------------------------------------


def issue_summary(issue: Issue) -> dict:
    return {
        "number": issue.number,
        "date": issue.date.isoformat(),
        "title": issue.title,
        "status": review.workflow_state(db.session, issue).value,
        "sections": len(issue.sections),
        "articles": sum(len(s.articles) for s in issue.sections),
        "updated_at": iso(issue.updated_at),
    }


def issue_detail(issue: Issue) -> dict:
    data = issue_summary(issue)
    doc = issue.to_doc()
    r = db.session.get(IssueReview, issue.id)
    approver = db.session.get(StaffUser, r.approved_by_id) if r and r.approved_by_id else None
    data.update(
        {
            "publisher": doc.publisher,
            "summary": list(doc.summary),
            "content": [
                {
                    "name": s.name,
                    "articles": [
                        {"title": a.title, "paragraphs": list(a.paragraphs)} for a in s.articles
                    ],
                }
                for s in doc.sections
            ],
            "credits": {k: v for k, v in doc.credits.items()},
            "distribution": {k: list(v) for k, v in doc.distribution.items()},
            "editor_note": issue.editor_note,
            "approved_by": approver.email if approver else None,
            "approved_at": iso(r.approved_at) if r else None,
        }
    )
    return data


def _issue(number: int) -> Issue:
    issue = (
        db.session.scalar(select(Issue).where(Issue.number == number)) if number <= MAX_ID else None
    )
    if issue is None:
        raise ApiError(404, P(N_("没有第 %(number)s 期。"), number=str(number)))
    return issue


@bp.get("/issues")
@scope_required(*ANY)
def issues_list() -> ResponseReturnValue:
    """Issues, newest number first."""
    limit, after = page_args()
    query = select(Issue).order_by(Issue.number.desc()).limit(limit + 1)
    if after is not None:
        query = query.where(Issue.number < after)
    return paged(list(db.session.scalars(query)), limit, lambda i: i.number, issue_summary)


@bp.get("/issues/<int:number>")
@scope_required(*ANY)
def issues_get(number: int) -> ResponseReturnValue:
    return issue_detail(_issue(number))


@bp.post("/issues")
@scope_required(Role.EDITOR)
def issues_import() -> ResponseReturnValue:
    """Import an issue: `text` (plain text) or `file` (base64 of a .docx, a PDF or a text
    file in any accepted encoding); `dry_run` parses and warns without storing."""
    body = json_body({"text", "file", "dry_run"})
    if ("text" in body) == ("file" in body):
        raise ApiError(400, P(N_("请发送 text 或 file（base64）其中之一，不能两个都发或都不发")))
    if "text" in body:
        if (request.content_length or 0) > MAX_BODY_BYTES:  # only a file may be bigger
            raise ApiError(
                413,
                P(
                    N_("请求体太大（text 上限 %(kb)s KB；更大的周报请以 file 发送）"),
                    kb=str(MAX_BODY_BYTES // 1024),
                ),
                "too_large",
            )
        data = required_text(body, "text", MAX_ISSUE_TEXT, multiline=True).encode("utf-8")
    else:
        data = base64_field(body, "file", limits.MAX_FILE_BYTES)
    dry_run = bool_field(body, "dry_run", False)
    try:
        result = read_upload(db.session, data)
        if dry_run:
            check_size(result.doc)
            return {
                "document": result.doc.to_json(),
                "warnings": [n.to_json() for n in result.notices],
            }, 200
        issue, created = store_doc(db.session, result.doc)
    except IssueParseError as exc:
        db.session.rollback()
        said = P(
            N_("%(where)s：%(message)s"), where=exc.where_words, message=say_parser(exc.message)
        )
        raise ApiError(
            422, said, "parse_error", line=exc.line, page=exc.page, where=exc.where_words
        ) from exc
    except IssueTooLarge as exc:
        db.session.rollback()
        raise ApiError(413, said_list(m for _path, m in exc.problems), "too_large") from exc
    except IssueImportError as exc:
        db.session.rollback()
        raise ApiError(409, say_parser(say(exc.phrase))) from exc
    review.note_edit(db.session, issue, actor(), ReviewAction.IMPORTED)
    record(
        "issue.imported",
        f"issue:{issue.number}",
        {
            "created": created,
            "issue": issue.number,
            "sections": len(issue.sections),
            "articles": sum(len(s.articles) for s in issue.sections),
        },
    )
    return (
        {
            "issue": issue_detail(issue),
            "created": created,
            "warnings": [n.to_json() for n in result.notices],
        },
        201 if created else 200,
    )


# --- subscribers ----------------------------------------------------------------------------

SUB_FIELDS = {"email", "name", "organisation", "groups", "status", "format", "locale"}


def subscriber_out(sub: Subscriber) -> dict:
    return {
        "id": sub.id,
        "email": sub.email,
        "name": sub.name,
        "organisation": sub.organisation,
        "status": sub.status,
        "format": sub.format,
        "locale": sub.locale,
        "groups": [g.code for g in sub.groups],
        "created_at": iso(sub.created_at),
        "confirmed_at": iso(sub.confirmed_at),
    }


def _subscriber(subscriber_id: int) -> Subscriber:
    sub = db.session.get(Subscriber, subscriber_id) if subscriber_id <= MAX_ID else None
    if sub is None:
        raise ApiError(404, P(N_("没有编号为 %(id)s 的订阅者"), id=str(subscriber_id)))
    return sub


def _groups(codes: list[str]) -> list[Group]:
    found = {g.code: g for g in db.session.scalars(select(Group).where(Group.code.in_(codes)))}
    unknown = [c for c in codes if c not in found]
    if unknown:
        raise ApiError(422, P(N_("没有这些分组：%(codes)s"), codes=", ".join(unknown)))
    return [found[c] for c in codes]


def _exists() -> Phrase:
    return P(N_("已有使用这个邮箱的订阅者"))


def _checked(value: str | None, label: str) -> str | None:
    """The text as stored; a refusal in the request's language (the label said in it too)."""
    if value is None:
        return None
    try:
        return subscriber_service.check_text(value, label)
    except subscriber_service.SubscriptionError as exc:
        raise ApiError(400, of(exc)) from exc


@bp.get("/subscribers")
@scope_required(Role.EDITOR)
def subscribers_list() -> ResponseReturnValue:
    """Subscribers, newest first; ?q= (email, name, organisation), ?group=, ?status=."""
    limit, after = page_args()
    status = request.args.get("status")
    if status is not None and status not in subscriber_admin.STATUSES:
        raise ApiError(400, one_of("status", subscriber_admin.STATUSES))
    f = subscriber_admin.ListFilter(
        q=query_text("q", 200), group=query_text("group", 64, 1), status=status or ""
    )
    query = select(Subscriber).where(*f.conditions()).order_by(Subscriber.id.desc())
    if after is not None:
        query = query.where(Subscriber.id < after)
    rows = list(db.session.scalars(query.limit(limit + 1)))
    answer = paged(rows, limit, lambda s: s.id, subscriber_out)
    # Personal data leaving the system: audited like the pages' exports.
    record(
        "subscriber.listed",
        "subscribers",
        {"count": min(len(rows), limit), "query": sorted(request.args)[:10]},
    )
    return answer


@bp.post("/subscribers")
@scope_required(Role.EDITOR)
def subscribers_create() -> ResponseReturnValue:
    """Add a subscriber: "pending" (default) mails a confirmation link; "active" attests
    that consent was given elsewhere."""
    body = json_body(SUB_FIELDS, {"email", "groups"})
    if not isinstance(body["email"], str) or len(body["email"]) > 320:
        raise ApiError(400, P(N_("email 必须是不超过 320 个字符的字符串")))
    try:
        email = subscriber_service.check_address(body["email"])
    except subscriber_service.SubscriptionError as exc:
        raise ApiError(422, of(exc)) from exc
    codes = code_list(body, "groups")
    if not codes:
        raise ApiError(400, no_groups())
    groups = _groups(codes)
    status = choice(body, "status", ("pending", "active")) or "pending"
    fmt = choice(body, "format", subscriber_service.FORMATS) or "html"
    locale = choice(body, "locale", subscriber_service.LOCALES) or "zh_CN"
    name = _checked(text_field(body, "name", 200, default=""), _("姓名"))
    organisation = _checked(text_field(body, "organisation", 200, default=""), _("单位"))
    if subscriber_service.is_suppressed(db.session, email):
        raise ApiError(409, P(N_("这个地址已退订或被屏蔽，不能添加")), "suppressed")
    if db.session.scalar(select(Subscriber.id).where(Subscriber.email == email)):
        raise ApiError(409, _exists(), "exists")
    from newsletter.timeutil import utcnow

    sub = Subscriber(
        email=email,
        name=name,
        organisation=organisation,
        status=status,
        format=fmt,
        locale=locale,
        source=f"api-{status}",
        confirmed_at=utcnow() if status == "active" else None,
    )
    sub.memberships = [Membership(group=g) for g in groups]
    db.session.add(sub)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ApiError(409, _exists(), "exists") from None
    if status == "pending":
        mail.send_confirmation(sub)
    record("subscriber.created", f"subscriber:{sub.id}", {"status": status, "groups": codes})
    return subscriber_out(sub), 201


@bp.get("/subscribers/<int:subscriber_id>")
@scope_required(Role.EDITOR)
def subscribers_get(subscriber_id: int) -> ResponseReturnValue:
    sub = _subscriber(subscriber_id)
    record("subscriber.read", f"subscriber:{sub.id}")
    return subscriber_out(sub)


@bp.patch("/subscribers/<int:subscriber_id>")
@scope_required(Role.EDITOR)
def subscribers_update(subscriber_id: int) -> ResponseReturnValue:
    """Change name, organisation, groups, format or language (status is the reader's)."""
    sub = _subscriber(subscriber_id)
    body = json_body(SUB_FIELDS - {"email", "status"})
    name = _checked(text_field(body, "name", 200), _("姓名"))
    organisation = _checked(text_field(body, "organisation", 200), _("单位"))
    fmt = choice(body, "format", subscriber_service.FORMATS)
    locale = choice(body, "locale", subscriber_service.LOCALES)
    codes = code_list(body, "groups")
    if codes is not None and not codes:
        raise ApiError(400, no_groups())
    groups = _groups(codes) if codes is not None else None
    # Everything is checked: now write, all in one commit.
    if name is not None:
        sub.name = name
    if organisation is not None:
        sub.organisation = organisation
    if fmt is not None:
        sub.format = fmt
    if locale is not None:
        sub.locale = locale
    if groups is not None:
        wanted = {g.id for g in groups}
        for m in list(sub.memberships):
            if m.group_id not in wanted:
                sub.memberships.remove(m)
        have = {m.group_id for m in sub.memberships}
        sub.memberships += [Membership(group=g) for g in groups if g.id not in have]
    db.session.commit()
    record("subscriber.updated", f"subscriber:{sub.id}", {"fields": sorted(body)})
    return subscriber_out(sub)


@bp.delete("/subscribers/<int:subscriber_id>")
@scope_required(Role.EDITOR)
def subscribers_delete(subscriber_id: int) -> ResponseReturnValue:
    """Erase the subscriber's personal data; the address stays suppressed (hashed)."""
    sub = _subscriber(subscriber_id)
    subscriber_admin.erase(db.session, sub)
    record("subscriber.erased", f"subscriber:{subscriber_id}")
    return "", 204
