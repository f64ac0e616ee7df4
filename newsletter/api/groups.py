"""API groups: list, create, rename and set priority, merge."""

from __future__ import annotations

from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from newsletter.api.core import (
    ApiError,
    bool_field,
    bp,
    choice,
    json_body,
    record,
    required_text,
    scope_required,
    text_field,
)
from newsletter.extensions import db
from newsletter.phrase import N_, P
from newsletter.staff import groups as group_service
from newsletter.staff.models import Role
from subscribers.models import Group, Membership


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
        raise ApiError(404, P(N_("没有代码为 %(code)s 的分组。"), code=code))
    return group


@bp.get("/groups")
@scope_required()
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
    distribution = choice(body, "distribution", ("报", "发")) or "发"
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
    return ApiError(409 if isinstance(exc, group_service.GroupConflict) else 422, exc.phrase)


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
        raise ApiError(422, P(N_("没有要并入的分组 %(code)s"), code=into))
    try:
        added = group_service.merge_groups(db.session, source, target)
    except group_service.GroupError as exc:
        raise ApiError(422, exc.phrase) from exc
    record("group.merged", target.code, {"from": code, "added": added})
    return {"group": group_out(target), "added": added}
