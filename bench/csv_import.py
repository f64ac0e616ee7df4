"""Benchmark the subscriber CSV import (and the staff list) at 100 k rows.

    .venv/bin/python bench/csv_import.py [--rows 100000] [--postgres postgresql://root@127.0.0.1:5432/test]

Builds a fresh database (a temporary SQLite file, or a new PostgreSQL database that is
dropped afterwards), writes a GBK-encoded CSV like the ones Excel saves in China (1 % bad
rows, some duplicates), and times the import as the background job runs it: decode, check
every row, upsert in chunks. Prints rows per second for a first import (all new) and a
re-import (all existing), then the staff list's query times on the resulting table.

The floor, in a database of its own: the same decode + parse + checks, then a bare bulk insert
of the good rows and their memberships (COPY on PostgreSQL, executemany on SQLite, no look-ups)
and one commit. The first import's rate over the floor's is printed (target ≥ 0.5).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from flask_babel import force_locale
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from newsletter import MIGRATIONS_DIR, create_app
from newsletter.extensions import db

GROUPS = ["媒体", "高校", "research", "tech;investors", "协会会员单位；社团"]


def make_csv(rows: int) -> bytes:
    lines = ["email,name,organisation,groups"]
    for i in range(rows):
        if i % 100 == 37:
            lines.append(f"not-an-address-{i},坏行{i},某单位,媒体")  # 1 % bad
        elif i % 500 == 11:
            lines.append(f"reader{i - 1}@example.com,重复{i},某单位,媒体")  # duplicates
        else:
            lines.append(f"reader{i}@example.com,读者{i},某某单位{i % 977},{GROUPS[i % 5]}")
    return ("\r\n".join(lines) + "\r\n").encode("gbk")


def run_import(data: bytes, mode: str = "confirmed") -> tuple[float, dict]:
    from subscribers import importread, importwrite

    t = time.perf_counter()
    with force_locale("zh_CN"):
        text_ = importread.decode(data)
        t_decoded = time.perf_counter()
        rows, result = importread.parse(text_, importread.group_lookup(db.session))
        t_parsed = time.perf_counter()
        importwrite.apply(db.session, rows, mode, result)
    t_done = time.perf_counter()
    return t_done - t, {
        "decode": t_decoded - t,
        "parse+check": t_parsed - t_decoded,
        "write": t_done - t_parsed,
        "created": result.created,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "skipped": result.skipped,
    }


def run_floor(data: bytes) -> float:
    """Seconds for the same parse and checks plus a bare bulk insert of the good rows."""
    from sqlalchemy import select

    from newsletter.timeutil import utcnow
    from subscribers import importread
    from subscribers.bulk import bulk_load
    from subscribers.models import Group, Subscriber

    t = time.perf_counter()
    with force_locale("zh_CN"):
        rows, _result = importread.parse(
            importread.decode(data), importread.group_lookup(db.session)
        )
    now = utcnow()
    bulk_load(
        db.session,
        "subscribers",
        (
            "email",
            "name",
            "organisation",
            "status",
            "created_at",
            "confirmed_at",
            "locale",
            "format",
            "tracking_opt_out",
            "source",
        ),
        (
            (
                r.email,
                r.name,
                r.organisation,
                "active",
                now,
                now,
                "zh_CN",
                "html",
                False,
                "import-attested",
            )
            for r in rows
        ),
    )
    ids = dict(db.session.execute(select(Subscriber.email, Subscriber.id)).all())
    group_ids = dict(db.session.execute(select(Group.code, Group.id)).all())
    bulk_load(
        db.session,
        "memberships",
        ("subscriber_id", "group_id", "created_at"),
        ((ids[r.email], group_ids[c], now) for r in rows for c in r.groups),
    )
    db.session.commit()
    return time.perf_counter() - t


def timed(fn, n: int = 5) -> float:
    fn()  # warm
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def list_queries() -> None:
    from subscribers import admin

    db.session.expire_all()
    max_id = db.session.scalar(text("SELECT max(id) FROM subscribers"))
    cases = {
        "first page": (admin.ListFilter(), None),
        "page near the end": (admin.ListFilter(), 200),
        "search '读者9999'": (admin.ListFilter(q="读者9999"), None),
        "group 高校": (admin.ListFilter(group="universities"), None),
        "group + status + deep": (admin.ListFilter(group="media", status="active"), max_id // 2),
        "status pending (none)": (admin.ListFilter(status="pending"), None),
    }
    print("staff list (50 rows + total count), median of 5:")
    for name, (f, before) in cases.items():
        ms = timed(lambda f=f, before=before: admin.list_page(db.session, f, before=before))
        print(f"  {name:<24} {ms:8.1f} ms")
    t = time.perf_counter()
    size = sum(len(chunk) for chunk in admin.export_csv(db.session, admin.ListFilter()))
    elapsed = time.perf_counter() - t
    total = db.session.scalar(text("SELECT count(*) FROM subscribers"))
    print(
        f"CSV export of all {total} rows: {elapsed:.2f} s ({total / elapsed:,.0f} rows/s, "
        f"{size / 1e6:.1f} MB)"
    )


def fresh_app(args, tmp: str, cleanups: list):
    if args.postgres:
        server = make_url(args.postgres).set(drivername="postgresql+psycopg")
        name = f"nl_bench_{uuid.uuid4().hex[:8]}"
        admin_engine = create_engine(server, isolation_level="AUTOCOMMIT")
        with admin_engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))

        def drop() -> None:
            with admin_engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

        cleanups.append(drop)
        url = server.set(database=name).render_as_string(hide_password=False)
    else:
        url = f"sqlite:///{tmp}/bench-{uuid.uuid4().hex[:6]}.db"
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "TESTING": True,
            "QUEUE_PREFIX": f"bench:{uuid.uuid4().hex[:6]}",
        }
    )
    with app.app_context():
        from flask_migrate import upgrade

        from subscribers.seed import seed_groups

        upgrade(directory=MIGRATIONS_DIR, revision="heads")
        seed_groups(db.session)
    return app


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--postgres", help="server URL; scratch databases are created on it")
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory()
    cleanups: list = []
    data = make_csv(args.rows)
    from subscribers import importread

    with force_locale("zh_CN"):  # warm up the checks (and their imports) for both timings
        importread.parse(importread.decode(make_csv(2000)), {"media": "media"})
    try:
        with fresh_app(args, tmp.name, cleanups).app_context():
            floor = run_floor(data)
            db.session.remove()
            db.engine.dispose()
        with fresh_app(args, tmp.name, cleanups).app_context():
            print(
                f"{'PostgreSQL' if args.postgres else 'SQLite'}: {args.rows:,} rows, "
                f"{len(data) / 1e6:.1f} MB GBK CSV"
            )
            print(
                f"bulk-insert floor (same parse + checks, bare bulk insert): {floor:.2f} s = "
                f"{args.rows / floor:,.0f} rows/s"
            )
            for label in ("first import (all new)", "re-import (all existing)"):
                seconds, info = run_import(data)
                print(
                    f"{label}: {seconds:.2f} s = {args.rows / seconds:,.0f} rows/s  "
                    + "  ".join(
                        f"{k} {v:.2f}s" if isinstance(v, float) else f"{k} {v}"
                        for k, v in info.items()
                    )
                )
                if label.startswith("first"):
                    print(f"first import / floor: {floor / seconds:.2f} (target ≥ 0.5)")
            list_queries()
            db.session.remove()
            db.engine.dispose()
    finally:
        for cleanup in cleanups:
            cleanup()
        tmp.cleanup()


if __name__ == "__main__":
    main()
