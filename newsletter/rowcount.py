"""How many rows an UPDATE or DELETE touched, in a form type checkers follow.

`Session.execute` is typed as answering a `Result`; for an UPDATE, DELETE or INSERT it is
a `CursorResult`, the only kind that has `rowcount`. The guarded UPDATEs (claims, state
changes, leases) decide by this count, so it is read in one place.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import CursorResult, Result


def rowcount(result: Result[Any]) -> int:
    """The rows the statement behind `result` matched (UPDATE, DELETE) or wrote."""
    assert isinstance(result, CursorResult), "only DML answers a row count"
    return result.rowcount
