"""Send-side models: Send, SendVariant (rendered once per send), Delivery, DeliveryEvent,
Lease (a worker's renewable hold on a batch), OutboxMessage (transactional mail)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from newsletter.orm import Model
from newsletter.timeutil import utcnow


class SendStatus(StrEnum):
    SCHEDULED = "scheduled"  # waits for scheduled_at; deliveries are written when it fires
    QUEUED = "queued"
    SENDING = "sending"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    DONE = "done"


class DeliveryState(StrEnum):
    QUEUED = "queued"  # waiting for a worker
    SENDING = "sending"  # leased by a worker; being handed to SMTP
    IN_DOUBT = "in_doubt"  # its worker died while handing it over: maybe delivered
    DEFERRED = "deferred"  # a transient failure; retried after next_attempt_at
    SENT = "sent"  # accepted by the SMTP server
    FAILED = "failed"  # permanent failure, or retries exhausted
    BOUNCED = "bounced"  # a bounce came back after acceptance
    CANCELLED = "cancelled"  # the send was cancelled before this one went out

    @classmethod
    def final(cls) -> frozenset[DeliveryState]:
        """States nothing more happens to. IN_DOUBT is final only when the in-doubt
        policy is `hold` (see `settled`); with `resend` it waits to be sent again."""
        return frozenset({cls.SENT, cls.FAILED, cls.BOUNCED, cls.CANCELLED})

    @classmethod
    def settled(cls, hold_in_doubt: bool) -> frozenset[DeliveryState]:
        return cls.final() | ({cls.IN_DOUBT} if hold_in_doubt else set())


class EventKind(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"
    BOUNCED = "bounced"
    OPENED = "opened"
    CLICKED = "clicked"
    UNSUBSCRIBED = "unsubscribed"
    COMPLAINED = "complained"


class Send(Model):
    __tablename__ = "sends"
    __table_args__ = (UniqueConstraint("idempotency_key", name="uq_sends_idempotency_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=SendStatus.QUEUED)
    group_codes: Mapped[list] = mapped_column(JSON, default=list)
    is_test: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(320), default="")
    scheduled_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    # Why the circuit breaker paused it (zh-CN, for staff) and the server's answer; with
    # resume_at set, the sweep resumes it then by itself (a relay that is down for now).
    paused_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # The same reason as data (newsletter/phrase.py: message id + parameters), so each
    # page says it in its reader's language; the zh-CN text above serves mails and the CLI.
    paused_words: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    paused_detail: Mapped[str | None] = mapped_column(String(500), nullable=True)
    paused_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    resume_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    pauses: Mapped[int] = mapped_column(Integer, default=0)
    # A digest of the caller's idempotency key (the form's one-time nonce, the API's
    # Idempotency-Key header): a double click or a retried request finds this send
    # instead of creating a second one. Unique, so even two at once make one.
    idempotency_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Asked for "only those who have not received it yet" (a follow-up of a sent issue).
    only_new: Mapped[bool] = mapped_column(Boolean, default=False)

    issue = relationship("Issue")
    variants: Mapped[list[SendVariant]] = relationship(
        back_populates="send", cascade="all, delete-orphan"
    )


class SendVariant(Model):
    """One variant of the issue as rendered for this send, with per-recipient placeholders.

    A variant is an edition x format x section choice (`key`, see sends.writer.variant_key).
    Rendering happens once per variant when the send is created; workers only substitute
    placeholders. Freezing it here also means an edit made while a send runs cannot split
    the audience.
    """

    __tablename__ = "send_variants"
    __table_args__ = (UniqueConstraint("send_id", "key", name="uq_send_variants_send_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    send_id: Mapped[int] = mapped_column(ForeignKey("sends.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    edition: Mapped[str] = mapped_column(String(16))
    format: Mapped[str] = mapped_column(String(8), default="html")
    sections: Mapped[list | None] = mapped_column(JSON, nullable=True)
    subject: Mapped[str] = mapped_column(String(300))
    html: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)

    send: Mapped[Send] = relationship(back_populates="variants")


class Delivery(Model):
    """One email of one send to one address: exactly one row, whatever happens."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("send_id", "email"),
        Index("ix_deliveries_send_state", "send_id", "state"),
        # The priority gate asks "is any priority delivery still waiting?" before each batch.
        Index("ix_deliveries_edition_state", "edition", "state"),
        Index("ix_deliveries_claim_token", "claim_token"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    send_id: Mapped[int] = mapped_column(ForeignKey("sends.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL"), nullable=True, index=True
    )
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200), default="")
    edition: Mapped[str] = mapped_column(String(16))
    variant: Mapped[str] = mapped_column(String(255), default="")
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claim_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    # Written when the delivery is leased, before DATA: a resend carries the same id.
    message_id: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    queue_id: Mapped[str | None] = mapped_column(String(100), nullable=True)  # the relay's
    # The first transient failure: retries go on until it is RETRY_WINDOW_HOURS old.
    first_failed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    in_doubt_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    smtp_response: Mapped[str | None] = mapped_column(String(500), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)

    send: Mapped[Send] = relationship()


class DeliveryEvent(Model):
    __tablename__ = "delivery_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Lease(Model):
    """A worker's hold on the deliveries it claimed (they carry its token). The worker renews
    it as it works; the sweep takes back only deliveries whose lease has expired."""

    __tablename__ = "delivery_leases"

    token: Mapped[str] = mapped_column(String(32), primary_key=True)
    send_id: Mapped[int] = mapped_column(ForeignKey("sends.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    # Set when the worker begins handing messages over: a dead lease that never started
    # has nothing in doubt.
    started: Mapped[bool] = mapped_column(Boolean, default=False)
    # With grouped sent marks: the highest delivery id the worker may have handed over
    # without writing its outcome yet (delivery.marks); the sweep holds up to it in doubt.
    reach: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class OutboxState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class OutboxMessage(Model):
    """A transactional email (confirmation, password reset, staff notice). The row is the
    truth: the RQ job carries only its id, and the sweep sends rows whose job was lost."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_state_next", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    to_email: Mapped[str] = mapped_column(String(320))
    to_name: Mapped[str] = mapped_column(String(200), default="")
    subject: Mapped[str] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text, nullable=True)
    state: Mapped[str] = mapped_column(String(16), default=OutboxState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    message_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
