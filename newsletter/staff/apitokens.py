"""Per-staff API tokens: made once (the plain token is shown a single time), stored as a
SHA-256 hash, scoped by role, revocable.

A token acts with the scopes it was given AND its owner's current roles: taking a role
from a person takes it from their tokens too; deactivating them stops every token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.phrase import N_, P, PhraseError
from newsletter.staff.models import ApiToken, Role, StaffUser
from newsletter.timeutil import utcnow

PREFIX = "nl_"
MAX_NAME = 100
MAX_DAYS = 366
# last_used_at is written at most this often per token (not one write per API call).
TOUCH_EVERY = dt.timedelta(seconds=60)


class TokenError(PhraseError):
    """The token cannot be made or changed as asked; the message (a phrase) says why."""


def hash_token(plain: str) -> str:
    return hashlib.sha256(plain.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(
    session: Session, user: StaffUser, name: str, scopes, days: int | None = None
) -> tuple[ApiToken, str]:
    """(token row, plain token). Scopes must be roles the owner holds (admins: any)."""
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise TokenError(P(N_("请为令牌起一个名字（1–%(n)s 个字，不含换行）。"), n=str(MAX_NAME)))
    scopes = sorted(set(scopes or []))
    known = {r.value for r in Role}
    if not scopes or any(s not in known for s in scopes):
        raise TokenError(P(N_("请至少选择一个权限范围（editor、reviewer、sender、admin）。")))
    beyond = [s for s in scopes if not user.has_role(s)]
    if beyond:
        raise TokenError(P(N_("您没有这些角色，不能授予令牌：%(roles)s"), roles="、".join(beyond)))
    if days is not None and not 1 <= days <= MAX_DAYS:
        raise TokenError(P(N_("有效期须在 1 到 %(n)s 天之间（或不设期限）。"), n=str(MAX_DAYS)))
    plain = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        staff_id=user.id,
        name=name,
        prefix=plain[:10],
        token_hash=hash_token(plain),
        scopes=scopes,
        created_at=utcnow(),
        expires_at=utcnow() + dt.timedelta(days=days) if days else None,
    )
    session.add(token)
    session.commit()
    return token, plain


def authenticate(session: Session, plain: str) -> ApiToken | None:
    """The usable token for this plain text, or None (unknown, revoked, expired, owner off)."""
    if not plain or not plain.startswith(PREFIX) or len(plain) > 200:
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(plain)))
    now = utcnow()
    if token is None or not token.usable(now) or not token.staff.active:
        return None
    if token.last_used_at is None or now - token.last_used_at > TOUCH_EVERY:
        token.last_used_at = now
        session.commit()
    return token


def effective_scopes(token: ApiToken) -> set[str]:
    """What the token may do now: its scopes that its owner still holds; admin means all."""
    owner = token.staff
    scopes = {s for s in token.scopes or [] if owner.has_role(s)}
    return {r.value for r in Role} if Role.ADMIN.value in scopes else scopes


def tokens_of(session: Session, user: StaffUser | None = None) -> list[ApiToken]:
    query = select(ApiToken).order_by(ApiToken.id.desc())
    if user is not None:
        query = query.where(ApiToken.staff_id == user.id)
    return list(session.scalars(query))


def revoke(session: Session, token: ApiToken) -> bool:
    """False if it was revoked already."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = utcnow()
    session.commit()
    return True
