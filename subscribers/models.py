"""Subscriber-side models: Group, Subscriber, Membership, Suppression."""

from __future__ import annotations

import datetime as dt
import hashlib
from enum import StrEnum

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from newsletter.extensions import db
from newsletter.timeutil import utcnow


class Distribution(StrEnum):
    """The two lists at the bulletin's foot: 报 (reported to) and 发 (distributed to)."""

    BAO = "报"
    FA = "发"


class SubscriberStatus(StrEnum):
    PENDING = "pending"          # awaiting double opt-in; never gets the weekly
    ACTIVE = "active"
    PAUSED = "paused"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    SUPPRESSED = "suppressed"


def normalise_email(address: str) -> str:
    """The form an address is compared and stored in: trimmed and lower-cased."""
    return address.strip().lower()


def email_hash(address: str) -> str:
    return hashlib.sha256(normalise_email(address).encode()).hexdigest()


class Group(db.Model):
    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    distribution: Mapped[str] = mapped_column(String(8), default=Distribution.FA)
    is_priority: Mapped[bool] = mapped_column(Boolean, default=False)
    # Self-service groups may be chosen by readers on the public pages; 报 is staff-assigned.
    self_service: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)

    def __repr__(self) -> str:
        return f"<Group {self.code}>"


class Subscriber(db.Model):
    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored normalised (lower-case), so the unique index is case-insensitive on every DB.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    organisation: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default=SubscriberStatus.PENDING, index=True)
    locale: Mapped[str] = mapped_column(String(16), default="zh_CN")
    # Preferences the reader sets in the preference center.
    format: Mapped[str] = mapped_column(String(8), default="html")       # "html" or "text"
    sections: Mapped[list | None] = mapped_column(JSON, nullable=True)   # None: every section
    paused_until: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    tracking_opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)

    memberships: Mapped[list["Membership"]] = relationship(
        back_populates="subscriber", cascade="all, delete-orphan"
    )

    @property
    def groups(self) -> list[Group]:
        return [m.group for m in self.memberships]

    def __repr__(self) -> str:
        return f"<Subscriber {self.email}>"


class Membership(db.Model):
    __tablename__ = "memberships"

    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    subscriber: Mapped[Subscriber] = relationship(back_populates="memberships")
    group: Mapped[Group] = relationship(lazy="joined")


class Suppression(db.Model):
    """Addresses that must never be mailed again, kept as a hash so erasure keeps nothing."""

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("email_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email_hash: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
