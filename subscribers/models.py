"""Subscriber-side models: Group, Subscriber, Membership, Suppression."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from newsletter.orm import Model
from newsletter.timeutil import utcnow


class Distribution(StrEnum):
    """The two lists at the bulletin's foot: 报 (reported to) and 发 (distributed to)."""

    BAO = "报"
    FA = "发"


class SubscriberStatus(StrEnum):
    PENDING = "pending"  # awaiting double opt-in; never gets the weekly
    ACTIVE = "active"
    PAUSED = "paused"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    SUPPRESSED = "suppressed"


class SuppressionReason(StrEnum):
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"  # a hard bounce
    COMPLAINED = "complained"  # marked as spam
    ERASED = "erased"  # personal data deleted on request
    MANUAL = "manual"  # added by staff (e.g. asked by phone)


def normalise_email(address: str) -> str:
    """The form an address is compared and stored in: trimmed and lower-cased."""
    return address.strip().lower()


def email_hash(address: str) -> str:
    return hashlib.sha256(normalise_email(address).encode()).hexdigest()


# Anything shaped like an address (a DSN's "<reader@example.org>: User unknown", a VERP
# sender "bounce+17-ab@…"), including the local part of a bare "user@" left by truncation.
_ADDRESS_RE = re.compile(r"[^\s<>()\[\]\"',;:]+@[^\s<>()\[\]\"',;:]*")
ADDRESS_REMOVED = "〔地址已隐去〕"


def scrub_addresses(text: str | None) -> str:
    """`text` with every email address replaced: the suppression list keeps hashes only."""
    return _ADDRESS_RE.sub(ADDRESS_REMOVED, text or "")


class Group(Model):
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


class GroupAlias(Model):
    """Another name for a group, as the bulletin's foot writes it ("理事会" for 协会领导):
    confirmed once by an editor on the import page, used by every later import."""

    __tablename__ = "group_aliases"

    id: Mapped[int] = mapped_column(primary_key=True)
    alias: Mapped[str] = mapped_column(String(128), unique=True)  # stored as groupnames.key()
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    created_by: Mapped[str] = mapped_column(String(320), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    group: Mapped[Group] = relationship()


class Subscriber(Model):
    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored normalised (lower-case), so the unique index is case-insensitive on every DB.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    organisation: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default=SubscriberStatus.PENDING, index=True)
    locale: Mapped[str] = mapped_column(String(16), default="zh_CN")
    # Preferences the reader sets in the preference center.
    format: Mapped[str] = mapped_column(String(8), default="html")  # "html" or "text"
    sections: Mapped[list | None] = mapped_column(JSON, nullable=True)  # None: every section
    paused_until: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    tracking_opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    unsubscribed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    # Where the consent came from: "form", "import-attested", "import-opt-in", "staff".
    source: Mapped[str] = mapped_column(String(32), default="", server_default="")

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="subscriber", cascade="all, delete-orphan"
    )
    requests: Mapped[list[SubscriptionRequest]] = relationship(
        back_populates="subscriber", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def groups(self) -> list[Group]:
        return [m.group for m in self.memberships]

    def __repr__(self) -> str:
        return f"<Subscriber {self.email}>"


class Membership(Model):
    __tablename__ = "memberships"
    # The staff list filters by group and pages by subscriber id: one index serves both.
    __table_args__ = (Index("ix_memberships_group_subscriber", "group_id", "subscriber_id"),)

    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    subscriber: Mapped[Subscriber] = relationship(back_populates="memberships")
    group: Mapped[Group] = relationship(lazy="joined")


class SubscriptionRequest(Model):
    """What a /subscribe submission asked for an address already on file: kept here, not
    written to the subscriber, until the mailbox owner confirms (a stranger typing someone's
    address changes nothing). The confirmation link applies the request it was sent for."""

    __tablename__ = "subscription_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    choices: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    subscriber: Mapped[Subscriber] = relationship(back_populates="requests")


class Suppression(Model):
    """Addresses that must never be mailed again, kept as a hash so erasure keeps nothing."""

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("email_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email_hash: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # Where it came from, so a mistaken wave can be lifted (subscribers.suppression): the
    # classifier's verdict ("hard_bounce", or "soft_streak", "complaint", "manual"), the send
    # and delivery that caused it, and the subscriber's status before it was changed.
    verdict: Mapped[str] = mapped_column(String(32), default="")
    send_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    delivery_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    previous_status: Mapped[str | None] = mapped_column(String(16), nullable=True)

    @validates("detail")
    def _scrub(self, _key: str, value: str | None) -> str:
        # Every writer (bounce intake, the pipeline, staff) goes through here.
        return scrub_addresses(value)[:500]


class ImportStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class SubscriberImport(Model):
    """One CSV import: its file until it has run, its progress, and its outcome.

    The uploaded bytes live here (not on the web server's disk) so a worker on another
    machine can read them; they are dropped once the import has finished.
    """

    __tablename__ = "subscriber_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(String(255), default="")
    data: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)
    mode: Mapped[str] = mapped_column(String(16))  # "confirmed" or "opt_in"
    default_group: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=ImportStatus.QUEUED)
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    processed_rows: Mapped[int] = mapped_column(Integer, default=0)
    created_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_count: Mapped[int] = mapped_column(Integer, default=0)
    unchanged_count: Mapped[int] = mapped_column(Integer, default=0)
    skipped_count: Mapped[int] = mapped_column(Integer, default=0)
    mailed_count: Mapped[int] = mapped_column(Integer, default=0)
    # [{"line": 7, "reason": "..."}], at most MAX_REPORTED_ERRORS of them.
    errors: Mapped[list] = mapped_column(JSON, default=list)
    message: Mapped[str] = mapped_column(String(500), default="")
    # The same message as data (newsletter/phrase.py), so each page says it in its reader's
    # language; the zh-CN text above serves the CLI and the JSON of the progress bar.
    message_words: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    staff_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
