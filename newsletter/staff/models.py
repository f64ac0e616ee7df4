"""Staff accounts and their roles."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from flask_login import UserMixin
from sqlalchemy import JSON, Boolean, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from newsletter.extensions import db
from newsletter.timeutil import utcnow


class Role(StrEnum):
    EDITOR = "editor"      # import, edit, preview, test-send; manage subscribers
    REVIEWER = "reviewer"  # approve or send back an issue
    SENDER = "sender"      # start, schedule, pause, cancel a send
    ADMIN = "admin"        # staff accounts, groups, settings; may do everything


class StaffUser(UserMixin, db.Model):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    roles: Mapped[list] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def has_role(self, *roles: Role | str) -> bool:
        """True if the user holds any of `roles`; admins hold every role."""
        mine = set(self.roles or [])
        return Role.ADMIN in mine or any(str(r) in mine for r in roles)

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active
