"""Staff accounts and their roles, per-staff API tokens, and the audit log."""

from __future__ import annotations

import datetime as dt
import hashlib
from enum import StrEnum

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from newsletter.orm import Model
from newsletter.phrase import NC_
from newsletter.timeutil import utcnow


class Role(StrEnum):
    EDITOR = "editor"  # import, edit, preview, test-send; manage subscribers
    REVIEWER = "reviewer"  # approve or send back an issue
    SENDER = "sender"  # start, schedule, pause, cancel a send
    ADMIN = "admin"  # staff accounts, groups, settings; may do everything


# 复核 and 发送 are also verbs and page names ("Review", "Sends"): the roles have a context.
ROLE_CONTEXT = "staff role"
ROLE_LABELS: dict[str, str] = {  # keyed by Role, which is a str
    Role.EDITOR: NC_("staff role", "编辑"),
    Role.REVIEWER: NC_("staff role", "复核"),
    Role.SENDER: NC_("staff role", "发送"),
    Role.ADMIN: NC_("staff role", "管理员"),
}


class StaffUser(Model):
    """A staff account; also Flask-Login's user (get_id, is_active, is_authenticated,
    is_anonymous, and equality by id as its UserMixin has), without importing Flask-Login:
    the send worker loads these models and no Flask."""

    __tablename__ = "staff_users"
    __hash__ = object.__hash__

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    roles: Mapped[list] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    # Bumped by sign-out, deactivation and a new password: sessions naming an older
    # version end (server-side invalidation; a copied cookie dies with its session).
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    def set_password(self, password: str) -> None:
        from werkzeug.security import generate_password_hash

        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        from werkzeug.security import check_password_hash

        return check_password_hash(self.password_hash, password)

    def has_role(self, *roles: Role | str) -> bool:
        """True if the user holds any of `roles`; admins hold every role."""
        mine = set(self.roles or [])
        return Role.ADMIN in mine or any(str(r) in mine for r in roles)

    @property
    def password_stamp(self) -> str:
        """Changes whenever the password does: signed links and sessions carry it, so a
        new password ends every older session and makes reset links single-use."""
        return hashlib.sha256(self.password_hash.encode()).hexdigest()[:16]

    def get_id(self) -> str:  # what Flask-Login keeps in the session cookie
        return f"{self.id}:{self.password_stamp}:{self.session_version or 0}"

    @property
    def display_name(self) -> str:
        return self.name.strip() or self.email.split("@", 1)[0]

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return self.is_active

    @property
    def is_anonymous(self) -> bool:
        return False

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StaffUser):
            return self.get_id() == other.get_id()
        return NotImplemented


class ApiToken(Model):
    """A per-staff API token. Only the SHA-256 of the token is stored; the token itself is
    shown once, when it is made. Scopes are roles: a token can do what its scopes AND its
    owner's current roles both allow."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))  # shown in lists: "nl_AbC1…"
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)

    staff: Mapped[StaffUser] = relationship()

    def usable(self, now: dt.datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class AuditEntry(Model):
    """One staff action: who, what, when, from where. Rows are only ever inserted: the ORM
    refuses to change or delete them, and a database trigger refuses UPDATE."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    # No foreign key: the log outlives whatever it names.
    actor_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    actor_email: Mapped[str] = mapped_column(String(320), default="")
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    via: Mapped[str] = mapped_column(String(8), default="web")  # web, api, cli


class AuditLogIsAppendOnly(RuntimeError):
    pass


@event.listens_for(AuditEntry, "before_update")
def _refuse_update(mapper, connection, target):
    raise AuditLogIsAppendOnly("audit log entries cannot be changed")


@event.listens_for(AuditEntry, "before_delete")
def _refuse_delete(mapper, connection, target):
    raise AuditLogIsAppendOnly("audit log entries cannot be deleted")
