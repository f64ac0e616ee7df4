"""Tracking tables: the link table of a send, and the index of recorded tracking events.

`TrackedLink` is what makes the click redirect safe: a click URL names (delivery, n) and
the target comes from here, never from the request. `TrackedEvent` sits beside each
DeliveryEvent the tracking code writes: its `key` makes the flush and the bounce intake
idempotent, and its columns (link, bot flag, bounce class) are what the reports group by.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.orm import Model
from newsletter.timeutil import utcnow


class TrackedLink(Model):
    __tablename__ = "tracked_links"
    __table_args__ = (UniqueConstraint("send_id", "n", name="uq_tracked_links_send_n"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    send_id: Mapped[int] = mapped_column(ForeignKey("sends.id", ondelete="CASCADE"))
    n: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(Text)
    article: Mapped[str | None] = mapped_column(String(32), nullable=True)  # anchor "a-5"
    label: Mapped[str] = mapped_column(String(300), default="")  # article title or link text


class TrackedEvent(Model):
    __tablename__ = "tracked_events"
    __table_args__ = (
        Index("ix_tracked_events_send_kind", "send_id", "kind"),
        Index("ix_tracked_events_delivery", "delivery_id"),
    )

    # The event's own id (made where it was observed): inserting it twice is refused.
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("delivery_events.id", ondelete="CASCADE"), index=True
    )
    send_id: Mapped[int] = mapped_column(ForeignKey("sends.id", ondelete="CASCADE"))
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    link_n: Mapped[int | None] = mapped_column(Integer, nullable=True)
    bot: Mapped[str] = mapped_column(String(32), default="")  # why it is not a reader
    bounce: Mapped[str] = mapped_column(String(8), default="")  # hard / soft / delay
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
