"""Time helpers: the database stores naive UTC; people see Asia/Shanghai (configurable)."""

from __future__ import annotations

import datetime as dt
from typing import overload
from zoneinfo import ZoneInfo


def utcnow() -> dt.datetime:
    """Naive UTC now: what every timestamp column stores, on SQLite and PostgreSQL alike."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@overload
def to_local(value: dt.datetime, tz: str = ...) -> dt.datetime: ...
@overload
def to_local(value: None, tz: str = ...) -> None: ...
def to_local(value: dt.datetime | None, tz: str = "Asia/Shanghai") -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(tz))
