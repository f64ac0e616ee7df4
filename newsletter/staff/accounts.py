"""Staff accounts: create, change roles, (de)activate, unlock, and passwords set through
signed emailed links (a new account gets an invitation link; anyone may ask for a reset).

Plain functions taking the session; `AccountError` carries a message a person can act on.
Links carry the account's password stamp, so they stop working once used (the password,
and so the stamp, changed) and a new password ends every older session.
"""

from __future__ import annotations

import secrets

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.phrase import N_, P, PhraseError
from newsletter.staff.models import Role, StaffUser

MIN_PASSWORD = 10
MAX_PASSWORD = 200
RESET, INVITE = "reset", "invite"
MAX_AGE = {RESET: 3600, INVITE: 3 * 86400}
_SALT = "staff-password-link"
_COMMON = {
    "1234567890",
    "0123456789",
    "password123",
    "qwertyuiop",
    "1qaz2wsx3edc",
    "abcdefghij",
    "iloveyou12",
    "a123456789",
    "12345678910",
    "password12",
}


class AccountError(PhraseError):
    """The account change cannot be made as asked; the message (a phrase) says why."""


# --- checks -------------------------------------------------------------------------------


def check_email(raw: str) -> str:
    raw = (raw or "").strip()
    if any(ch in raw for ch in "\r\n\x00"):
        raise AccountError(P(N_("邮箱不能包含换行或控制字符。")))
    try:
        result = validate_email(raw, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        raise AccountError(P(N_("“%(email)s”不是有效的邮箱地址。"), email=raw[:80])) from None
    return result.normalized.lower()


def check_name(name: str) -> str:
    name = (name or "").strip()
    if len(name) > 200:
        raise AccountError(P(N_("姓名最多 200 个字。")))
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise AccountError(P(N_("姓名不能包含换行或控制字符。")))
    return name


def check_roles(roles) -> list[str]:
    known = {r.value for r in Role}
    unknown = [r for r in roles if r not in known]
    if unknown:
        raise AccountError(P(N_("未知角色：%(roles)s"), roles="、".join(map(str, unknown))))
    return sorted(set(roles))


def check_password(password: str, confirm: str | None = None, email: str = "") -> str:
    password = password or ""
    if confirm is not None and password != confirm:
        raise AccountError(P(N_("两次输入的密码不一致。")))
    if len(password) < MIN_PASSWORD:
        raise AccountError(P(N_("密码至少需要 %(n)s 个字符。"), n=str(MIN_PASSWORD)))
    if len(password) > MAX_PASSWORD:
        raise AccountError(P(N_("密码最多 %(n)s 个字符。"), n=str(MAX_PASSWORD)))
    if (
        password.lower() in _COMMON
        or len(set(password)) < 4
        or (
            email
            and email.split("@")[0].lower() in password.lower()
            and len(email.split("@")[0]) >= 4
        )
    ):
        raise AccountError(P(N_("密码太容易被猜到，请换一个（不要用邮箱名、连续或重复的字符）。")))
    return password


# --- accounts -------------------------------------------------------------------------------


def by_email(session: Session, email: str) -> StaffUser | None:
    return session.scalar(select(StaffUser).where(StaffUser.email == email.strip().lower()))


def active_admins(session: Session) -> list[StaffUser]:
    return [
        u
        for u in session.scalars(select(StaffUser).where(StaffUser.active.is_(True)))
        if Role.ADMIN in (u.roles or [])
    ]


def create_account(session: Session, email: str, name: str, roles) -> StaffUser:
    """A new account with no usable password: send it an invitation link."""
    email, name, roles = check_email(email), check_name(name), check_roles(roles)
    if not roles:
        raise AccountError(P(N_("请至少选择一个角色。")))
    if by_email(session, email) is not None:
        raise AccountError(P(N_("%(email)s 已有账号。"), email=email))
    user = StaffUser(email=email, name=name, roles=roles, active=True, failed_logins=0)
    user.set_password(secrets.token_urlsafe(32))  # unknown to anyone: the link sets one
    session.add(user)
    session.commit()
    return user


def update_account(
    session: Session,
    user: StaffUser,
    *,
    name: str,
    roles,
    active: bool,
    acting: StaffUser | None = None,
) -> list[str]:
    """Change name, roles, active; returns what changed. The last active admin stays one."""
    name, roles = check_name(name), check_roles(roles)
    if not roles:
        raise AccountError(P(N_("请至少选择一个角色。")))
    was_admin = user.active and Role.ADMIN in (user.roles or [])
    if was_admin and (not active or Role.ADMIN not in roles):
        others = [u for u in active_admins(session) if u.id != user.id]
        if not others:
            raise AccountError(P(N_("不能移除最后一位管理员：请先把管理员角色交给另一位同事。")))
    if acting is not None and acting.id == user.id and not active:
        raise AccountError(P(N_("不能停用自己的账号。")))
    changes = []
    if name != user.name:
        changes.append("name")
    if roles != sorted(user.roles or []):
        changes.append("roles")
    if bool(active) != user.active:
        changes.append("active")
    user.name, user.roles, user.active = name, roles, bool(active)
    if "active" in changes and not user.active:
        user.session_version = (user.session_version or 0) + 1
    session.commit()
    return changes


def unlock(session: Session, user: StaffUser) -> None:
    from newsletter.staff import lockout

    lockout.clear(user.email)
    user.failed_logins = 0
    user.locked_until = None
    session.commit()


def end_sessions(session: Session, user: StaffUser) -> None:
    """Every session of this account ends on its next request, copies of the cookie too
    (sign-out, deactivation, new password): the session names the version it began in."""
    user.session_version = (user.session_version or 0) + 1
    session.commit()


# --- password links -----------------------------------------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def make_link_token(user: StaffUser, purpose: str = RESET) -> str:
    return _serializer().dumps({"u": user.id, "s": user.password_stamp, "p": purpose})


def user_from_link(session: Session, token: str) -> tuple[StaffUser, str]:
    """(user, purpose) of a password link; AccountError if altered, expired or used."""
    try:
        data = _serializer().loads(token, max_age=max(MAX_AGE.values()))
        purpose = data["p"]
        _serializer().loads(token, max_age=MAX_AGE[purpose])
        user = session.get(StaffUser, int(data["u"]))
    except SignatureExpired:
        raise AccountError(P(N_("这个链接已过期，请重新申请重设密码。"))) from None
    except (BadSignature, KeyError, TypeError, ValueError):
        raise AccountError(P(N_("这个链接无效：可能复制不完整，或已被改动。"))) from None
    if user is None or not user.active or user.password_stamp != data.get("s"):
        raise AccountError(P(N_("这个链接已失效（已经用过，或账号已停用）。请重新申请重设密码。")))
    return user, purpose


def set_password(session: Session, user: StaffUser, password: str, confirm: str) -> None:
    user.set_password(check_password(password, confirm, user.email))
    user.failed_logins = 0
    user.locked_until = None
    session.commit()


def send_password_link(user: StaffUser, purpose: str = RESET) -> str:
    """Queue the email with the link (the priority queue); returns the job id."""
    from newsletter.delivery.jobs import enqueue_transactional

    # A plain path (not url_for): this also runs outside requests (the CLI).
    link = f"{current_app.config['BASE_URL']}/staff/password/{make_link_token(user, purpose)}"
    hours = MAX_AGE[purpose] // 3600
    base = current_app.config["BASE_URL"]
    if purpose == INVITE:
        from newsletter.display import label

        roles = "、".join(label("role", r) for r in (user.roles or [])) or "—"
        subject = "行业动态周报 · 订阅服务：邀请您开通员工账号"
        text = (
            f"{user.display_name}，您好：\n\n"
            f"管理员为您开通了《行业动态周报》订阅服务的员工账号（{user.email}，角色：{roles}）。"
            f"请打开下面的链接，为账号设置密码：\n\n{link}\n\n"
            f"链接 {hours} 小时内有效，只能使用一次；过期后请联系管理员重新发送邀请。\n"
            f"设好密码后，从这里登录：{base}/staff/login\n"
        )
    else:
        subject = "行业动态周报 · 订阅服务：重设密码"
        text = (
            f"{user.display_name}，您好：\n\n"
            "有人（希望是您）申请重设《行业动态周报》订阅服务员工账号的密码。"
            f"请打开下面的链接设置新密码：\n\n{link}\n\n"
            f"链接 {hours} 小时内有效，只能使用一次。如果不是您本人申请，请忽略本邮件，"
            "您的密码不会改变。\n"
        )
    return enqueue_transactional(user.email, subject, text, to_name=user.name)


def request_reset(session: Session, email: str) -> bool:
    """Mail a reset link if `email` is an active account. The caller shows the same page
    either way (whether an address has an account is not told)."""
    try:
        email = check_email(email)
    except AccountError:
        return False
    user = by_email(session, email)
    if user is None or not user.active:
        return False
    send_password_link(user, RESET)
    return True
