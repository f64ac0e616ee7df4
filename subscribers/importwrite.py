"""CSV import of subscribers, writing: upsert the checked rows (importread.parse's) by email.

Set-based: the checked rows go into a temporary staging table in one COPY (PostgreSQL) or
one executemany (SQLite); three joins find what exists (subscribers, suppressions,
memberships); the new subscribers are inserted from the staging table in one
INSERT … SELECT … RETURNING, their memberships and the added ones in one more bulk load;
changed names go in one executemany. One transaction: an import is all there or not at all.
Measured (bench/csv_import.py): per-chunk IN lists and inserts cost 5 s of write per 30 k
rows on PostgreSQL; this is a few tenths of a second. Addresses that unsubscribed or are on
the suppression list are never subscribed again by an import.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    cast,
    insert,
    literal,
    null,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from newsletter.phrase import N_, P
from newsletter.timeutil import utcnow
from subscribers.bulk import bulk_load
from subscribers.importread import ImportResult, Row
from subscribers.models import (
    Group,
    Membership,
    Subscriber,
    SubscriberStatus,
    Suppression,
    email_hash,
)

ANALYZE_AFTER = 5000  # new rows after which PostgreSQL's statistics are refreshed
CONFIRMED, OPT_IN = "confirmed", "opt_in"
UNSUBSCRIBED_LIKE = (
    SubscriberStatus.UNSUBSCRIBED,
    SubscriberStatus.BOUNCED,
    SubscriberStatus.SUPPRESSED,
)

_stage_meta = MetaData()
STAGE = Table(
    "_import_rows",
    _stage_meta,
    Column("line", Integer, primary_key=True),
    Column("email", String(320)),
    Column("email_hash", String(64)),
    Column("name", String(200)),
    Column("organisation", String(200)),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
NEW = Table(
    "_import_new",
    _stage_meta,
    Column("line", Integer, primary_key=True),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)


def apply(
    session: Session,
    rows: list[Row],
    mode: str,
    result: ImportResult,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Upsert the rows by email in one transaction, then report progress once."""
    if mode not in (CONFIRMED, OPT_IN):
        raise ValueError(f"unknown import mode {mode!r}")
    group_ids = dict(session.execute(select(Group.code, Group.id)).all())
    try:
        _write(session, rows, mode, group_ids, result)
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        _drop_stage(session)
    if progress:
        progress(result.skipped + len(rows))
    result.errors.sort(key=lambda e: e["line"])
    if result.created >= ANALYZE_AFTER and session.get_bind().dialect.name == "postgresql":
        # Fresh statistics now, not at autovacuum's next round: the staff list's plans
        # depend on them (measured: 240 ms -> 30 ms for a filtered count at 100 k rows).
        session.execute(text("ANALYZE subscribers"))
        session.execute(text("ANALYZE memberships"))
        session.commit()
    return result


def _drop_stage(session: Session) -> None:
    # PostgreSQL drops them at commit (ON COMMIT DROP) or rollback; SQLite keeps temporary
    # tables for the connection's life, and the connection goes back to the pool.
    if session.get_bind().dialect.name != "postgresql":
        for table in (STAGE, NEW):
            session.execute(text(f"DROP TABLE IF EXISTS temp.{table.name}"))
        session.commit()


def _write(
    session: Session, rows: list[Row], mode: str, group_ids: dict[str, int], result: ImportResult
) -> None:
    if not rows:
        return
    now = utcnow()
    conn = session.connection()
    STAGE.create(conn)
    NEW.create(conn)
    bulk_load(
        session,
        STAGE.name,
        ("line", "email", "email_hash", "name", "organisation"),
        ((r.line, r.email, email_hash(r.email), r.name, r.organisation) for r in rows),
    )
    if conn.dialect.name == "postgresql":
        session.execute(text(f"ANALYZE {STAGE.name}"))
    s: Table = Subscriber.__table__  # type: ignore[assignment]  # a mapped class's Table
    st = STAGE
    existing = {
        e.email: e
        for e in session.execute(
            select(s.c.id, s.c.email, s.c.status, s.c.name, s.c.organisation).join(
                st, st.c.email == s.c.email
            )
        )
    }
    suppressed = set(
        session.scalars(
            select(st.c.email).join(
                Suppression.__table__, Suppression.__table__.c.email_hash == st.c.email_hash
            )
        )
    )
    m = Membership.__table__
    have = set(
        session.execute(
            select(m.c.subscriber_id, m.c.group_id)
            .join(s, s.c.id == m.c.subscriber_id)
            .join(st, st.c.email == s.c.email)
        ).all()
    )

    new_rows, updates, memberships = [], [], []
    for row in rows:
        old = existing.get(row.email)
        if (old is not None and old.status in UNSUBSCRIBED_LIKE) or row.email in suppressed:
            result.error(row.line, P(N_("该地址已退订或在屏蔽名单中，不会被重新订阅")))
            continue
        if old is None:
            if not row.groups:
                result.error(row.line, P(N_("未指定分组（可在导入页选择默认分组）")))
                continue
            new_rows.append(row)
            continue
        values: dict[str, object] = {}
        if row.name and row.name != old.name:
            values["name"] = row.name
        if row.organisation and row.organisation != old.organisation:
            values["organisation"] = row.organisation
        if mode == CONFIRMED and old.status == SubscriberStatus.PENDING:
            values.update(status=SubscriberStatus.ACTIVE, confirmed_at=now)
        added = [(old.id, group_ids[c]) for c in row.groups if (old.id, group_ids[c]) not in have]
        memberships += added
        if values:
            updates.append({"id": old.id, **values})
        if values or added:
            result.updated += 1
        else:
            result.unchanged += 1

    if updates:  # one executemany per set of changed columns
        session.execute(update(Subscriber), updates)
    if new_rows:
        confirmed = mode == CONFIRMED
        bulk_load(session, NEW.name, ("line",), ((r.line,) for r in new_rows))
        status = SubscriberStatus.ACTIVE if confirmed else SubscriberStatus.PENDING
        inserted = session.execute(
            insert(s)
            .from_select(
                [
                    "email",
                    "name",
                    "organisation",
                    "status",
                    "confirmed_at",
                    "created_at",
                    "locale",
                    "format",
                    "tracking_opt_out",
                    "source",
                ],
                select(
                    st.c.email,
                    st.c.name,
                    st.c.organisation,
                    literal(str(status), String),
                    literal(now, DateTime) if confirmed else cast(null(), DateTime),
                    literal(now, DateTime),
                    literal("zh_CN", String),
                    literal("html", String),
                    literal(False, Boolean),
                    literal("import-attested" if confirmed else "import-opt-in", String),
                ).join(NEW, NEW.c.line == st.c.line),
            )
            .returning(s.c.id, s.c.email)
        ).all()
        ids = dict((email, sid) for sid, email in inserted)
        for r in new_rows:
            memberships += [(ids[r.email], group_ids[c]) for c in r.groups]
            if not confirmed:
                result.mail_to.append(
                    Subscriber(id=ids[r.email], email=r.email, name=r.name, locale="zh_CN")
                )
        result.created += len(new_rows)
    if memberships:
        bulk_load(
            session,
            "memberships",
            ("subscriber_id", "group_id", "created_at"),
            ((sid, gid, now) for sid, gid in dict.fromkeys(memberships)),
        )
