"""Set-based writes: many rows into one table in one statement's worth of round trips.

PostgreSQL gets them through COPY (psycopg 3's `cursor.copy`, rows streamed in the binary-free
text format), SQLite through one `executemany` of a prepared INSERT. Both run on the
session's own connection, inside its transaction: nothing is committed here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from sqlalchemy.orm import Session

_SQLITE_DT = "%Y-%m-%d %H:%M:%S.%f"


def bulk_load(
    session: Session, table: str, columns: Sequence[str], rows: Iterable[Sequence]
) -> None:
    """Append `rows` (tuples in `columns` order) to `table`; names are trusted identifiers."""
    conn = session.connection()
    cols = ", ".join(columns)
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        assert raw is not None  # a live connection has its driver connection
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" * len(columns))
    # Datetimes as SQLAlchemy's SQLite type writes them (sqlite3's own adapter drops the
    # microseconds when they are zero, and is deprecated).
    rows = [
        tuple(v.strftime(_SQLITE_DT) if isinstance(v, dt.datetime) else v for v in row)
        for row in rows
    ]
    if rows:
        conn.exec_driver_sql(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)
