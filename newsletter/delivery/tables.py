"""The delivery pipeline's tables as Core, and how its query modules run statements.

The statements a batch runs every few messages (store, lookups, leases) are built once at
import from these Core tables: a statement object memoises its cache key, so running it
again skips construction, coercion and keying, and a Core statement skips the ORM layer.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Executable,
    Table,
    and_,
    or_,
)
from sqlalchemy.orm import Session

from newsletter.delivery.models import (
    Delivery,
    DeliveryEvent,
    DeliveryState,
    Send,
)
from newsletter.orm import Base

PAGE = 1000


def changed(
    session: Session, statement: Executable, params: dict[str, object] | None = None
) -> int:
    """Run an UPDATE or DELETE (with `params` for its bound values) and say how many rows
    it changed."""
    result = session.execute(statement, params)
    assert isinstance(result, CursorResult)  # what DML answers (typed as a plain Result)
    return result.rowcount


def changed_many(session: Session, statement: Executable, rows: list[dict[str, object]]) -> int:
    """Run an UPDATE once per parameter set (one executemany) and say how many rows it
    changed in all (SQLite and psycopg both sum the counts)."""
    result = session.execute(statement, rows)
    assert isinstance(result, CursorResult)
    return result.rowcount


def count_of(session: Session, statement: Executable) -> int:
    """A `SELECT count(...)`'s number (a count row always comes back)."""
    return session.scalar(statement) or 0


def _table(model: type[Base]) -> Table:
    """A model's table, as Core (the ORM types `__table__` as any FROM clause)."""
    table = model.__table__
    assert isinstance(table, Table)  # Core: statements built once, run without the ORM layer
    return table


DELIVERIES, SENDS, EVENTS = _table(Delivery), _table(Send), _table(DeliveryEvent)


def ready(now: dt.datetime, in_doubt_ready: bool = True) -> ColumnElement[bool]:
    """Waiting and not leased: queued, a deferred one whose time has come, and (policy
    `resend`) one in doubt."""
    return or_(
        Delivery.state == DeliveryState.QUEUED,
        and_(
            Delivery.state == DeliveryState.DEFERRED,
            or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
        ),
        *([Delivery.state == DeliveryState.IN_DOUBT] if in_doubt_ready else []),
    )
