"""The audit log in sentences a person reads, and the recorders the entry points call.

Entries stay structured (action, target, detail); `describe()` turns one into a sentence
in the page's language when it is shown ("王编辑 导入第 399 期（5 个栏目，8 篇）"), so old
entries read well too. The entry points (pages, API, CLI) call the `record_*` functions
here, which store what the sentence needs:

* `record_import(issue, created)`: an issue imported (or its draft updated)
* `record_send(send, recipients=…)`: a send created or scheduled — the one call for the
  "send an issue" service, whichever door (page, API, CLI) it came through
* `record_count(issue_number, groups, recipients)`: the audience counted (nothing sent)
* `record_personal_read(kind, target, count)`: personal data handed out (API reads)
"""

from __future__ import annotations

import getpass
import re
from typing import TYPE_CHECKING

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.staff import audit
from newsletter.staff.models import AuditEntry, StaffUser

if TYPE_CHECKING:  # the bulletin and delivery import this module's callers, not this one
    from newsletter.bulletin.models import Issue
    from newsletter.delivery.models import Send


def _cli_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001  no login name (a container): still say it was the CLI
        return ""


def _record(
    action: str,
    target: str,
    detail: dict[str, object],
    actor: StaffUser | None = None,
    via: str | None = None,
) -> AuditEntry:
    detail = {k: v for k, v in detail.items() if v is not None}
    from flask import has_request_context

    if not has_request_context() and actor is None:
        detail.setdefault("os_user", _cli_user())
    return audit.record(action, target, detail, actor=actor, via=via)


def record_import(
    issue: Issue,
    created: bool,
    *,
    actor: StaffUser | None = None,
    via: str | None = None,
    source: str = "",
) -> AuditEntry:
    return _record(
        "issue.imported" if created else "issue.updated",
        f"issue:{issue.number}",
        {
            "issue": issue.number,
            "sections": len(issue.sections),
            "articles": sum(len(s.articles) for s in issue.sections),
            "source": source[:200] or None,
        },
        actor,
        via,
    )


def record_send(
    send: Send,
    *,
    recipients: int | None = None,
    actor: StaffUser | None = None,
    via: str | None = None,
) -> AuditEntry:
    """A send was created (queued now, or scheduled): who sent which issue to whom."""
    if recipients is None and send.scheduled_at is None:
        from sqlalchemy import func

        from newsletter.delivery.models import Delivery
        from newsletter.extensions import db

        recipients = db.session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.send_id == send.id)
        )
    return _record(
        "send.scheduled" if send.scheduled_at else "send.created",
        f"send:{send.id}",
        {
            "issue": send.issue.number,
            "groups": list(send.group_codes or []),
            "recipients": recipients,
            "test": bool(send.is_test) or None,
            "scheduled_at": send.scheduled_at.isoformat() if send.scheduled_at else None,
        },
        actor,
        via,
    )


def record_count(
    issue_number: int,
    groups: list[str],
    recipients: int,
    *,
    actor: StaffUser | None = None,
    via: str | None = None,
) -> AuditEntry:
    return _record(
        "send.counted",
        f"issue:{issue_number}",
        {"issue": issue_number, "groups": list(groups), "recipients": recipients},
        actor,
        via,
    )


def record_personal_read(kind: str, target: str, count: int | None = None) -> AuditEntry:
    """kind: subscriber.read, subscriber.listed, subscriber.exported."""
    return _record(f"api.{kind}", target, {"count": count}, None, None)


# --- reading -----------------------------------------------------------------------------


def _n(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _issue(d: dict, target: str) -> str:
    number = d.get("issue")
    if number is None:
        m = re.search(r"(?:issue:|number=)(\d+)", target or "")
        number = m.group(1) if m else "?"
    return _("第 %(n)s 期", n=number)


def _who(entry: AuditEntry, names: dict[int, str]) -> str:
    if entry.actor_id in names:
        return names[entry.actor_id]
    if entry.actor_email:
        return entry.actor_email
    user = (entry.detail or {}).get("os_user")
    return _("命令行（%(u)s）", u=user) if user else _("命令行")


def _groups(d: dict) -> str:
    codes = d.get("groups") or []
    return _("%(n)s 个分组", n=len(codes))


def _send_sentence(d: dict, target: str) -> str:
    what = _issue(d, target)
    if d.get("test"):
        return _("测试发送%(issue)s", issue=what)
    people = d.get("recipients")
    if d.get("scheduled_at"):
        return _(
            "安排向 %(g)s发送%(issue)s（%(at)s）",
            g=_groups(d),
            issue=what,
            at=_when_iso(d["scheduled_at"]),
        )
    if people is None:
        return _("向 %(g)s发送%(issue)s", g=_groups(d), issue=what)
    return _("向 %(g)s发送%(issue)s（%(p)s 人）", g=_groups(d), issue=what, p=_n(people))


def _when_iso(value: str) -> str:
    import datetime as dt

    from newsletter.display import when

    try:
        return when(dt.datetime.fromisoformat(value))
    except (TypeError, ValueError):
        return str(value)


def _what(entry: AuditEntry) -> str:
    """The sentence without its subject: "导入第 399 期（5 个栏目，8 篇）"."""
    action, d, target = entry.action, entry.detail or {}, entry.target or ""
    base, _sep, outcome = action.partition(":")
    base = base.removeprefix("api.")
    if base in ("issue.imported", "issue.updated", "bulletin.issue_import"):
        if "articles" in d:
            again = base == "issue.updated" or d.get("created") is False
            verb = _("重新导入") if again else _("导入")
            return _(
                "%(verb)s%(issue)s（%(s)s 个栏目，%(a)s 篇）",
                verb=verb,
                issue=_issue(d, target),
                s=d.get("sections", "?"),
                a=d.get("articles", "?"),
            )
        return _("导入一期周报")
    if base in ("send.created", "send.scheduled"):
        return _send_sentence(d, target)
    if base == "send.counted" or (base == "sends.new_send" and d.get("button") != "confirm"):
        if "recipients" in d:
            return _(
                "统计%(issue)s的收件人（%(p)s 人，未发送）",
                issue=_issue(d, target),
                p=_n(d["recipients"]),
            )
        return _("统计%(issue)s的收件人（未发送）", issue=_issue(d, target))
    if base == "sends.new_send":
        return _("发送%(issue)s", issue=_issue(d, target))
    simple = {
        "review.submitted": _("提交%(issue)s复核"),
        "review.approved": _("批准%(issue)s"),
        "review.sent_back": _("退回%(issue)s修改"),
        "bulletin.issue_edit_save": _("编辑%(issue)s"),
        "bulletin.issue_test_send": _("测试发送%(issue)s"),
    }
    if base in simple:
        text = simple[base] % {"issue": _issue(d, target)}
        if base == "review.sent_back" and d.get("comment"):
            text += _("：%(c)s", c=d["comment"])
        return text
    m = re.search(r"(?:send:|send_id=)(\d+)", target)
    send_id = m.group(1) if m else "?"
    if base == "sends.act":
        m = re.search(r"action=(\w+)", target)
        base = "sends." + (m.group(1) if m else "act")
    controls = {
        "pause": _("暂停发送 #%(id)s"),
        "resume": _("继续发送 #%(id)s"),
        "cancel": _("取消发送 #%(id)s"),
        "rescheduled": _("改期发送 #%(id)s"),
        "act": _("控制发送 #%(id)s"),
    }
    for key, text in controls.items():
        if base.endswith(key) and base.startswith(("send.", "sends.")):
            return text % {"id": send_id}
    others = {
        "subscriber.read": _("查看订阅者 %(t)s 的个人数据"),
        "subscriber.listed": _("列出订阅者（%(c)s 人）"),
        "subscriber.exported": _("导出订阅者数据"),
        "subscribers.export_csv": _("导出订阅者名单（CSV）"),
        "subscribers.export_json": _("导出一位订阅者的个人数据"),
        "reports.send_csv": _("导出发送报告（CSV）"),
        "subscriber.created": _("新增订阅者"),
        "subscriber.updated": _("修改订阅者"),
        "subscriber.erased": _("删除订阅者的个人数据"),
        "login": _("登录"),
        "logout": _("退出登录"),
        "login.failed": _("登录失败"),
        "login.locked": _("登录失败次数过多，账号被锁定"),
        "login.rate_limited": _("登录尝试过于频繁，被暂时拒绝"),
        "password.reset_requested": _("申请重设密码"),
        "password.changed": _("修改了密码"),
        "password.reset": _("通过链接重设了密码"),
        "password.invite": _("通过邀请链接设置了密码"),
        "account.created": _("新建员工账号 %(t)s"),
        "account.updated": _("修改员工账号 %(t)s"),
        "account.unlocked": _("解除员工账号 %(t)s 的锁定"),
        "group.created": _("新建分组 %(t)s"),
        "group.updated": _("修改分组 %(t)s"),
        "group.renamed": _("重命名分组 %(t)s"),
        "group.priority": _("修改分组 %(t)s 的领导版设置"),
        "group.merged": _("把分组合并进 %(t)s"),
        "token.created": _("新建 API 令牌"),
        "token.revoked": _("吊销 API 令牌"),
    }
    if base in others:
        return others[base] % {"t": target, "c": d.get("count", "?")}
    return _("操作 %(a)s", a=base)


def describe(entry: AuditEntry, names: dict[int, str]) -> tuple[str, str]:
    """(who, what happened) in the page's language."""
    what = _what(entry)
    outcome = entry.action.partition(":")[2]
    if outcome == "denied":
        what = _("试图%(w)s（无权限，被拒绝）", w=what)
    elif outcome == "refused":
        what = _("试图%(w)s（未成功）", w=what)
    return _who(entry, names), what


def actor_names(session: Session, entries: list[AuditEntry]) -> dict[int, str]:
    ids = {e.actor_id for e in entries if e.actor_id is not None}
    if not ids:
        return {}
    return {
        u.id: u.display_name
        for u in session.scalars(select(StaffUser).where(StaffUser.id.in_(ids)))
    }
