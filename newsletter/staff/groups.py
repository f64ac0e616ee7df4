"""Group management for admins: create, rename, merge, the priority flag.

A group's code is its identity (sends keep the codes they went to), so it never changes;
renaming changes the Chinese name people see. Merging moves every member of one group
into another, points scheduled sends at the group that remains, keeps the first's name
(and its aliases) as aliases of the second for the bulletin's foot, and deletes the first.
"""

from __future__ import annotations

import re

from sqlalchemy import Select, delete, exists, func, insert, literal, select, update
from sqlalchemy.orm import Session, aliased

from newsletter.bulletin import groupnames
from newsletter.delivery.models import Send, SendStatus
from newsletter.phrase import N_, P, PhraseError
from newsletter.timeutil import utcnow
from subscribers.models import Distribution, Group, GroupAlias, Membership

CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class GroupError(PhraseError):
    """The group change cannot be made as asked; the message (a phrase) says why."""


class GroupConflict(GroupError):
    """Another group already has that code or name."""


def _name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 128:
        raise GroupError(P(N_("分组名称须为 1–128 个字。")))
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise GroupError(P(N_("分组名称不能包含换行或控制字符。")))
    return name


def of_code(code: str) -> Select[Group]:
    """The query of the group with that code (views: `db.first_or_404(groups.of_code(c))`)."""
    return select(Group).where(Group.code == code)


def by_code(session: Session, code: str) -> Group | None:
    return session.scalar(of_code(code))


def with_counts(session: Session) -> list[tuple[Group, int]]:
    counts = dict(
        session.execute(
            select(Membership.group_id, func.count()).group_by(Membership.group_id)
        ).all()
    )
    groups = session.scalars(select(Group).order_by(Group.position, Group.id))
    return [(g, counts.get(g.id, 0)) for g in groups]


def create_group(
    session: Session,
    code: str,
    name: str,
    distribution: str = Distribution.FA,
    is_priority: bool = False,
    self_service: bool = True,
) -> Group:
    code = (code or "").strip().lower()
    if not CODE_RE.fullmatch(code):
        raise GroupError(
            P(
                N_(
                    "代码只能用小写字母、数字、- 和 _（以字母或数字开头，最多 64 个字符），例如 media-2。"
                )
            )
        )
    name = _name(name)
    if distribution not in {d.value for d in Distribution}:
        raise GroupError(P(N_("分发方式须为“报”或“发”。")))
    if by_code(session, code) is not None:
        raise GroupConflict(P(N_("代码 %(code)s 已被使用。"), code=code))
    if session.scalar(select(Group.id).where(Group.name == name)) is not None:
        raise GroupConflict(P(N_("已有名为“%(name)s”的分组。"), name=name))
    position = (session.scalar(select(func.max(Group.position))) or 0) + 1
    group = Group(
        code=code,
        name=name,
        distribution=distribution,
        is_priority=bool(is_priority),
        self_service=bool(self_service),
        position=position,
    )
    session.add(group)
    session.commit()
    return group


def check_rename(session: Session, group: Group, name: str) -> str:
    """The name `group` may take (stripped), or GroupError: too long, control characters,
    or GroupConflict: another group has it. Writes nothing."""
    name = _name(name)
    if session.scalar(select(Group.id).where(Group.name == name, Group.id != group.id)):
        raise GroupConflict(P(N_("已有名为“%(name)s”的分组。"), name=name))
    return name


def rename_group(session: Session, group: Group, name: str) -> str:
    """Returns the old name."""
    name = check_rename(session, group, name)
    old, group.name = group.name, name
    session.commit()
    return old


def set_priority(session: Session, group: Group, flag: bool) -> None:
    """Members of a priority group get the priority edition (with the 编者按), first."""
    group.is_priority = bool(flag)
    session.commit()


def merge_groups(session: Session, source: Group, target: Group) -> int:
    """Move `source`'s members into `target`, then delete `source`. Returns how many
    memberships were added to `target` (members of both are counted once)."""
    if source.id == target.id:
        raise GroupError(P(N_("不能把分组合并到它自己。")))
    other = aliased(Membership)

    def members(group_id: int) -> int:
        return (
            session.scalar(
                select(func.count()).select_from(Membership).where(Membership.group_id == group_id)
            )
            or 0
        )

    try:
        before = members(target.id)
        session.execute(
            insert(Membership).from_select(
                ["subscriber_id", "group_id", "created_at"],
                select(Membership.subscriber_id, literal(target.id), literal(utcnow())).where(
                    Membership.group_id == source.id,
                    ~exists().where(
                        other.subscriber_id == Membership.subscriber_id, other.group_id == target.id
                    ),
                ),
            )
        )
        added = members(target.id) - before  # (rowcount of INSERT…SELECT is not portable)
        session.execute(delete(Membership).where(Membership.group_id == source.id))
        # The names the foot used for `source` now mean `target`, and so does its own name.
        session.execute(
            update(GroupAlias).where(GroupAlias.group_id == source.id).values(group_id=target.id)
        )
        if (
            session.scalar(
                select(GroupAlias).where(GroupAlias.alias == groupnames.key(source.name))
            )
            is None
        ):
            session.add(
                GroupAlias(
                    alias=groupnames.key(source.name), group_id=target.id, created_by="merge"
                )
            )
        for send in session.scalars(select(Send).where(Send.status == SendStatus.SCHEDULED)):
            codes = list(send.group_codes or [])
            if source.code in codes:
                send.group_codes = list(
                    dict.fromkeys(target.code if c == source.code else c for c in codes)
                )
        session.delete(source)
        session.commit()
    except Exception:
        session.rollback()
        raise
    return added


def aliases_by_group(session: Session) -> dict[int, list[GroupAlias]]:
    """The names editors mapped to each group on the import page (see bulletin.service)."""
    found: dict[int, list[GroupAlias]] = {}
    for alias in session.scalars(select(GroupAlias).order_by(GroupAlias.alias)):
        found.setdefault(alias.group_id, []).append(alias)
    return found


def delete_alias(session: Session, alias_id: int) -> GroupAlias | None:
    """Forget one alias (a wrong mapping); the next import warns about that name again."""
    alias = session.get(GroupAlias, alias_id)
    if alias is not None:
        session.delete(alias)
        session.commit()
    return alias
