"""API resources: issues (import, get, list), subscribers (CRUD), groups."""

from __future__ import annotations

from flask import request
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from newsletter.api.core import (
    MAX_BODY_BYTES,
    MAX_ID,
    ApiError,
    actor,
    base64_field,
    bool_field,
    bp,
    code_list,
    iso,
    json_body,
    page_args,
    paged,
    query_text,
    record,
    required_text,
    scope_required,
    text_field,
)
from newsletter.bulletin import limits
from newsletter.bulletin.document import check_size
from newsletter.bulletin.models import Issue
from newsletter.bulletin.parser import IssueParseError
from newsletter.bulletin.service import IssueImportError, IssueTooLarge, read_upload, store_doc
from newsletter.extensions import db
from newsletter.review import service as review
from newsletter.review.models import IssueReview, ReviewAction
from newsletter.staff import groups as group_service
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
        raise ApiError(404, f"no issue number {number}")
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
        raise ApiError(400, "send either text or file (base64), not both or neither")
    if "text" in body:
        if (request.content_length or 0) > MAX_BODY_BYTES:  # only a file may be bigger
            raise ApiError(
                413,
                f"request body too large (limit {MAX_BODY_BYTES // 1024} KB "
                "for text; send a larger issue as file)",
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
        raise ApiError(
            422, str(exc), "parse_error", line=exc.line, page=exc.page, where=exc.where
        ) from exc
    except IssueTooLarge as exc:
        db.session.rollback()
        raise ApiError(413, str(exc), "too_large") from exc
    except IssueImportError as exc:
        db.session.rollback()
        raise ApiError(409, str(exc)) from exc
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
        raise ApiError(404, f"no subscriber {subscriber_id}")
    return sub


def _groups(codes: list[str]) -> list[Group]:
    found = {g.code: g for g in db.session.scalars(select(Group).where(Group.code.in_(codes)))}
    unknown = [c for c in codes if c not in found]
    if unknown:
        raise ApiError(422, f"unknown group code(s): {', '.join(unknown)}")
    return [found[c] for c in codes]


def _choice(body: dict, key: str, allowed: tuple[str, ...]) -> str | None:
    if key in body and body[key] not in allowed:
        raise ApiError(400, f"{key} must be one of: {', '.join(allowed)}")
    return body.get(key)


def _checked(value: str | None, label: str) -> str | None:
    if value is None:
        return None
    try:
        return subscriber_service.check_text(value, label)
    except subscriber_service.SubscriptionError as exc:
        raise ApiError(400, str(exc)) from exc


@bp.get("/subscribers")
@scope_required(Role.EDITOR)
def subscribers_list() -> ResponseReturnValue:
    """Subscribers, newest first; ?q= (email, name, organisation), ?group=, ?status=."""
    limit, after = page_args()
    status = request.args.get("status")
    if status is not None and status not in subscriber_admin.STATUSES:
        raise ApiError(400, f"status must be one of: {', '.join(subscriber_admin.STATUSES)}")
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
        raise ApiError(400, "email must be a string of at most 320 characters")
    try:
        email = subscriber_service.check_address(body["email"])
    except subscriber_service.SubscriptionError as exc:
        raise ApiError(422, str(exc)) from exc
    codes = code_list(body, "groups")
    if not codes:
        raise ApiError(400, "groups must name at least one group code")
    groups = _groups(codes)
    status = _choice(body, "status", ("pending", "active")) or "pending"
    fmt = _choice(body, "format", subscriber_service.FORMATS) or "html"
    locale = _choice(body, "locale", subscriber_service.LOCALES) or "zh_CN"
    name = _checked(text_field(body, "name", 200, default=""), "姓名")
    organisation = _checked(text_field(body, "organisation", 200, default=""), "单位")
    if subscriber_service.is_suppressed(db.session, email):
        raise ApiError(
            409, "this address unsubscribed or is suppressed; it cannot be added", "suppressed"
        )
    if db.session.scalar(select(Subscriber.id).where(Subscriber.email == email)):
        raise ApiError(409, "a subscriber with this email exists", "exists")
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
        raise ApiError(409, "a subscriber with this email exists", "exists") from None
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
    name = _checked(text_field(body, "name", 200), "姓名")
    organisation = _checked(text_field(body, "organisation", 200), "单位")
    fmt = _choice(body, "format", subscriber_service.FORMATS)
    locale = _choice(body, "locale", subscriber_service.LOCALES)
    codes = code_list(body, "groups")
    if codes is not None and not codes:
        raise ApiError(400, "groups must name at least one group code")
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


# --- groups ---------------------------------------------------------------------------------


def group_out(group: Group, members: int | None = None) -> dict:
    if members is None:
        members = db.session.scalar(
            select(func.count()).select_from(Membership).where(Membership.group_id == group.id)
        )
    return {
        "code": group.code,
        "name": group.name,
        "distribution": group.distribution,
        "is_priority": group.is_priority,
        "self_service": group.self_service,
        "members": members,
    }


def _group(code: str) -> Group:
    group = group_service.by_code(db.session, code)
    if group is None:
        raise ApiError(404, f"no group {code!r}")
    return group


@bp.get("/groups")
@scope_required(*ANY)
def groups_list() -> ResponseReturnValue:
    return {"items": [group_out(g, n) for g, n in group_service.with_counts(db.session)]}


@bp.post("/groups")
@scope_required(Role.ADMIN)
def groups_create() -> ResponseReturnValue:
    body = json_body(
        {"code", "name", "distribution", "is_priority", "self_service"}, {"code", "name"}
    )
    code = required_text(body, "code", 64)
    name = required_text(body, "name", 128)
    distribution = _choice(body, "distribution", ("报", "发")) or "发"
    try:
        group = group_service.create_group(
            db.session,
            code,
            name,
            distribution,
            bool_field(body, "is_priority", False),
            bool_field(body, "self_service", True),
        )
    except group_service.GroupError as exc:
        raise _group_error(exc) from exc
    record("group.created", group.code, {"name": group.name})
    return group_out(group, 0), 201


def _group_error(exc: group_service.GroupError) -> ApiError:
    return ApiError(409 if isinstance(exc, group_service.GroupConflict) else 422, str(exc))


@bp.patch("/groups/<code>")
@scope_required(Role.ADMIN)
def groups_update(code: str) -> ResponseReturnValue:
    """Rename and/or set the priority flag."""
    group = _group(code)
    body = json_body({"name", "is_priority"})
    name = text_field(body, "name", 128)
    priority = bool_field(body, "is_priority")
    try:
        if name is not None:
            group_service.check_rename(db.session, group, name)  # before anything is written
    except group_service.GroupError as exc:
        raise _group_error(exc) from exc
    if name is not None:
        group_service.rename_group(db.session, group, name)
    if priority is not None:
        group_service.set_priority(db.session, group, priority)
    record("group.updated", group.code, {"fields": sorted(body)})
    return group_out(group)


@bp.post("/groups/<code>/merge")
@scope_required(Role.ADMIN)
def groups_merge(code: str) -> ResponseReturnValue:
    """Move every member of this group into `into`, then delete this group."""
    source = _group(code)
    body = json_body({"into"}, {"into"})
    into = required_text(body, "into", 64)
    target = group_service.by_code(db.session, into)
    if target is None:
        raise ApiError(422, f"no group {into!r} to merge into")
    try:
        added = group_service.merge_groups(db.session, source, target)
    except group_service.GroupError as exc:
        raise ApiError(422, str(exc)) from exc
    record("group.merged", target.code, {"from": code, "added": added})
    return {"group": group_out(target), "added": added}
