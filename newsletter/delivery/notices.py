"""What staff are told when the circuit breaker pauses a send (plain text, zh-CN)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.delivery.models import Send
from newsletter.timeutil import to_local


def pause_notice(session: Session, send_id: int, config) -> list[tuple[str, str, str]]:
    """(to, subject, text) for the send's creator and every active admin, once each."""
    from newsletter.staff.models import Role, StaffUser

    send = session.get(Send, send_id, populate_existing=True)
    if send is None:
        return []
    to = [
        u.email
        for u in session.scalars(select(StaffUser).where(StaffUser.active))
        if Role.ADMIN in (u.roles or [])
    ]
    if "@" in (send.created_by or ""):
        to.insert(0, send.created_by)
    number = send.issue.number if send.issue is not None else "?"
    subject = f"行业动态周报 · 发送 #{send_id}（第 {number} 期）已自动暂停"
    tz = config["BABEL_DEFAULT_TIMEZONE"]
    when = (
        to_local(send.resume_at, tz).strftime("%Y-%m-%d %H:%M") + "（北京时间）"
        if send.resume_at
        else None
    )
    text = (
        f"发送 #{send_id}（第 {number} 期）已被自动暂停，没有任何读者被标记为失败或退订。\n\n"
        f"原因：{send.paused_reason}\n服务器的答复：{send.paused_detail}\n\n"
        + (
            f"系统将在 {when} 自动重试。\n"
            if when
            else "请检查中继设置（地址、端口、账号、发件人地址）后在发送页面点击“继续”，"
            "或运行 flask send resume "
            f"{send_id}。\n"
        )
        + f"\n发送页面：{config['BASE_URL']}/sends/{send_id}\n"
    )
    return [(address, subject, text) for address in dict.fromkeys(to)]
