"""Fault run: one send through real parts while they are broken on purpose.

    .venv/bin/python scripts/fault_run.py [--database sqlite|postgresql] [--readers 5000]

5,000 readers (50 of them in 报, the priority edition), 3 worker processes (`worker.py`),
a SIGKILL of a random worker every few seconds (a fresh one started in its place), a Redis
server of the run's own killed and restarted empty, with --database postgresql a cluster of
the run's own stopped and started again mid-send, and a flaky aiosmtpd relay (451 at RCPT,
connections dropped at DATA). Nobody types `send resume`. At the end it counts, at the server
and in the database: duplicates (and whether each carried the same Message-ID), losses
(sent in the database, never at the server; or never sent at all), wrong states (not final,
or failed although the server has it), and leadership copies that arrived after the first
regular one; and prints them.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import email
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from email import policy
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class FlakyHandler:
    """Accepts everything, except: 3 % of RCPTs get 451, 1 % of DATAs lose the connection."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.accepted: list[tuple[str, str]] = []  # (recipient, Message-ID), in order

    async def handle_RCPT(self, server, session, envelope, address, options):
        if self.random.random() < 0.03:
            return "451 4.7.1 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.random.random() < 0.01:
            server.transport.close()
            return "451 dropped"
        msg = email.message_from_bytes(envelope.content, policy=policy.compat32)
        with self.lock:
            self.accepted.append((envelope.rcpt_tos[0], msg["Message-ID"]))
        await asyncio.sleep(0)
        return f"250 2.0.0 Ok: queued as {uuid.uuid4().hex[:10]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--readers", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--kill-every", type=float, default=4.0)
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    from aiosmtpd.controller import Controller

    from newsletter import workerproc
    from newsletter.devsmtp import free_port
    from tests.pgcluster import PgCluster
    from tests.redisproc import server_argv

    tmp = tempfile.mkdtemp(prefix="nlfault-")
    cluster = PgCluster() if args.database == "postgresql" else None
    database = cluster.url if cluster else f"sqlite:///{tmp}/fault.db"
    redis_port, smtp_port = free_port(), free_port()
    redis_cmd = server_argv(tmp, "--port", str(redis_port))
    redis = subprocess.Popen(redis_cmd, stdout=subprocess.DEVNULL)
    handler = FlakyHandler(args.seed)
    relay = Controller(
        handler, hostname="127.0.0.1", port=smtp_port, data_size_limit=10 * 1024 * 1024
    )
    relay.start()
    env = {
        **os.environ,
        "APP_ENV": "testing",
        "DATABASE_URL": database,
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "SMTP_PORT": str(smtp_port),
        "QUEUE_PREFIX": f"nlfault:{uuid.uuid4().hex[:6]}",
        "SECRET_KEY": "fault-run-" * 4,
        "MAIL_FROM": "行业动态周报 <weekly@fault.example.org>",
        "BATCH_SIZE": "100",
        "LEASE_SECONDS": "10",
        "RETRY_BASE_SECONDS": "1",
        "RETRY_MAX_SECONDS": "5",
        "TRACKING_ENABLED": "off",
    }
    os.environ.update(env)
    workers: list[subprocess.Popen] = []
    logs = open(f"{tmp}/workers.log", "wb")  # noqa: SIM115

    def start_worker() -> None:
        workers.append(
            subprocess.Popen(
                workerproc.command("--sweep-interval", "1"),
                env=env,
                cwd=ROOT,
                stdout=logs,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    try:
        send_id, leaders = setup(args, database)
        t0 = time.monotonic()
        for _ in range(args.workers):
            start_worker()
        kills, events = 0, []
        redis_done = pg_done = False
        while True:
            time.sleep(args.kill_every * rng.uniform(0.6, 1.4))
            elapsed = time.monotonic() - t0
            if kills < args.kills:
                victim = rng.choice([w for w in workers if w.poll() is None])
                os.killpg(victim.pid, signal.SIGKILL)
                victim.wait()
                kills += 1
                start_worker()
            if not redis_done and elapsed > 8:
                redis.kill()
                redis.wait()
                time.sleep(2)
                redis = subprocess.Popen(redis_cmd, stdout=subprocess.DEVNULL)
                redis_done = True
                events.append(f"Redis killed and restarted empty at {elapsed:.0f}s")
            if cluster and not pg_done and elapsed > 16:
                cluster.stop()
                time.sleep(5)
                cluster.start()
                pg_done = True
                events.append(f"PostgreSQL stopped 5 s at {elapsed:.0f}s")
            done = finished(send_id)
            if done or elapsed > 900:
                break
        total = time.monotonic() - t0
        report(args, send_id, leaders, handler, kills, events, total, done)
    finally:
        for w in workers:
            try:
                os.killpg(w.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        relay.stop()
        redis.kill()
        if cluster:
            cluster.destroy()


def setup(args, database: str) -> tuple[int, set[str]]:
    from flask_migrate import upgrade

    from newsletter import MIGRATIONS_DIR, create_app
    from newsletter.bulletin.service import load_sample
    from newsletter.extensions import db
    from newsletter.sends import service
    from subscribers.seed import seed_groups
    from tests.conftest import approve_for_tests
    from tests.delivery.support import bulk_subscribers

    app = create_app()
    with app.app_context():
        upgrade(directory=MIGRATIONS_DIR, revision="heads")
        seed_groups(db.session)
        load_sample(db.session)
        approve_for_tests(396)
        leaders = set(bulk_subscribers(50, "leadership", prefix="leader"))
        bulk_subscribers(args.readers - 50, "members", prefix="member")
        started = service.send_issue(
            db.session, app.config, 396, ["leadership", "members"], via="cli"
        )
        print(
            f"{args.database}: send {started.send.id} of {args.readers} readers, "
            f"{started.jobs} jobs",
            flush=True,
        )
        send_id = started.send.id
        db.session.remove()
        db.engine.dispose()
    _APP.append(app)
    return send_id, leaders


_APP: list = []


def finished(send_id: int) -> bool:
    from sqlalchemy.exc import DBAPIError

    from newsletter.delivery.models import Send, SendStatus
    from newsletter.extensions import db

    with _APP[0].app_context():
        try:
            return db.session.get(Send, send_id).status == SendStatus.DONE
        except DBAPIError:
            return False
        finally:
            db.session.remove()


def report(args, send_id, leaders, handler, kills, events, total, done) -> None:
    from sqlalchemy import select

    from newsletter.delivery.models import Delivery, DeliveryEvent, DeliveryState
    from newsletter.extensions import db

    with _APP[0].app_context():
        rows = {
            d.email: d
            for d in db.session.scalars(select(Delivery).where(Delivery.send_id == send_id))
        }
        in_doubt_events = db.session.scalar(
            select(db.func.count())
            .select_from(DeliveryEvent)
            .where(DeliveryEvent.kind == "in_doubt")
        )
    at_server = collections.defaultdict(list)
    for rcpt, msgid in handler.accepted:
        at_server[rcpt].append(msgid)
    dups = {r: ids for r, ids in at_server.items() if len(ids) > 1}
    same_id = sum(1 for ids in dups.values() if len(set(ids)) == 1)
    states = collections.Counter(d.state for d in rows.values())
    lost_sent = [e for e, d in rows.items() if d.state == DeliveryState.SENT and e not in at_server]
    never = [e for e, d in rows.items() if e not in at_server and d.state != DeliveryState.SENT]
    wrong = [
        e
        for e, d in rows.items()
        if d.state not in DeliveryState.final()
        or (d.state != DeliveryState.SENT and e in at_server)
    ]
    order = [r for r, _ in handler.accepted]
    first_regular = next((i for i, r in enumerate(order) if r not in leaders), len(order))
    late_leaders = sum(1 for r in leaders if r in at_server and order.index(r) > first_regular)
    print(f"--- fault run ({args.database}, {args.readers} readers, {args.workers} workers) ---")
    print(f"finished: {done} in {total:.0f}s; SIGKILLs: {kills}; " + "; ".join(events))
    print(f"database states: {dict(states)}; in-doubt events: {in_doubt_events}")
    print(f"at the server: {len(at_server)} readers, {len(handler.accepted)} messages")
    print(
        f"duplicates: {sum(len(v) - 1 for v in dups.values())} "
        f"({len(dups)} readers; {same_id} of them with one Message-ID)"
    )
    print(f"losses: {len(lost_sent)} marked sent but not at the server; {len(never)} never sent")
    print(f"wrong states: {len(wrong)}")
    print(f"leadership copies after the first regular one: {late_leaders} of {len(leaders)}")


if __name__ == "__main__":
    main()
