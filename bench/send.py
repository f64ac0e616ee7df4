"""End-to-end send benchmark: real RQ workers, real Redis, an aiosmtpd sink on loopback.

    python bench/send.py --subscribers 20000 --workers 2
    python bench/send.py --subscribers 100000 --workers 2 [--database postgresql://...]

Seeds subscribers (some in the 报 group, so the priority edition is in the mix), creates a
send of the sample issue, runs W worker processes (`worker.py --burst`), and prints: the time
to create the send, messages per second end to end, the raw limit of this machine measured in
the same run (one persistent smtplib connection pushing the same messages to the same sink),
their ratio, peak RSS of each worker, and the time to the first priority delivery.
"""

from __future__ import annotations

import argparse
import os
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--leaders", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--database", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--raw-messages", type=int, default=3000)
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="nlbench-")
    database = args.database or f"sqlite:///{tmp}/bench.db"
    from newsletter.devsmtp import free_port
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database, "SMTP_PORT": str(port),
           "QUEUE_PREFIX": f"nlbench:{uuid.uuid4().hex[:8]}", "BATCH_SIZE": str(args.batch_size),
           "MAIL_FROM": "行业动态周报 <weekly@bench.example.org>", "SECRET_KEY": "bench",
           "APP_ENV": "testing"}
    os.environ.update(env)
    sink = subprocess.Popen([sys.executable, "-m", "newsletter.devsmtp", "--port", str(port),
                             "--discard"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        run(args, env, port, database)
    finally:
        sink.send_signal(signal.SIGINT)
        out, _ = sink.communicate(timeout=30)
        print(f"sink: {out.strip().splitlines()[-1] if out.strip() else '?'}")


def run(args, env, port: int, database: str) -> None:
    from flask_migrate import upgrade
    from sqlalchemy import func, select

    from newsletter import MIGRATIONS_DIR, create_app
    from newsletter.bulletin.service import load_sample
    from newsletter.delivery import jobs, pipeline
    from newsletter.delivery.models import Delivery, DeliveryState
    from newsletter.extensions import db
    from newsletter.timeutil import utcnow
    from subscribers.seed import seed_groups
    from tests.conftest import approve_for_tests
    from tests.delivery.support import bulk_subscribers

    app = create_app()
    with app.app_context():
        upgrade(directory=MIGRATIONS_DIR, revision="heads")
        seed_groups(db.session)
        load_sample(db.session)
        approve_for_tests(396)  # sending needs an issue approved by a second person
        t = time.perf_counter()
        bulk_subscribers(args.leaders, "leadership", prefix="leader")
        bulk_subscribers(args.subscribers - args.leaders, "members", prefix="member")
        print(f"seeded {args.subscribers} subscribers in {time.perf_counter() - t:.1f}s "
              f"({database.split(':')[0]})")

        settings = pipeline.PipelineSettings.from_config(app.config)
        t = time.perf_counter()
        send = pipeline.create_send(db.session, settings, 396, ["leadership", "members"])
        created = time.perf_counter() - t
        t = time.perf_counter()
        n_jobs = jobs.enqueue_send(send.id)
        enqueued = time.perf_counter() - t
        print(f"send created in {created:.2f}s, {n_jobs} jobs enqueued in {enqueued:.2f}s")

        start_wall = utcnow()
        t0 = time.perf_counter()
        workers = [subprocess.Popen([sys.executable, str(ROOT / "worker.py"), "--burst"],
                                    cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
                   for _ in range(args.workers)]
        peak = {w.pid: 0 for w in workers}
        while any(w.poll() is None for w in workers):
            for w in workers:
                peak[w.pid] = max(peak[w.pid], _rss_kib(w.pid))
            time.sleep(0.2)
        elapsed = time.perf_counter() - t0

        db.session.rollback()
        sent = db.session.scalar(select(func.count()).select_from(Delivery)
                                 .where(Delivery.send_id == send.id,
                                        Delivery.state == DeliveryState.SENT))
        first_priority = db.session.scalar(select(func.min(Delivery.sent_at)).where(
            Delivery.send_id == send.id, Delivery.edition == "priority"))
        last_priority = db.session.scalar(select(func.max(Delivery.sent_at)).where(
            Delivery.send_id == send.id, Delivery.edition == "priority"))
        first_regular = db.session.scalar(select(func.min(Delivery.sent_at)).where(
            Delivery.send_id == send.id, Delivery.edition == "regular"))
        message = _one_message(db.session, settings, send.id)

    raw_rate = _raw_rate(port, message, args.raw_messages)
    e2e_rate = sent / elapsed
    print(f"end to end: {sent} sent in {elapsed:.1f}s = {e2e_rate:.0f} msg/s "
          f"with {args.workers} workers (batch {args.batch_size})")
    print(f"raw smtplib, one connection, same {len(message) // 1024} KB message: "
          f"{raw_rate:.0f} msg/s")
    print(f"ratio end-to-end / raw: {e2e_rate / raw_rate:.2f}")
    for pid, kib in peak.items():
        print(f"worker {pid}: peak RSS {kib / 1024:.0f} MiB")
    if first_priority:
        print(f"first priority delivery {(first_priority - start_wall).total_seconds():.2f}s "
              f"after the workers started; last priority "
              f"{(last_priority - start_wall).total_seconds():.2f}s; first regular "
              f"{(first_regular - start_wall).total_seconds():.2f}s")


def _rss_kib(pid: int) -> int:
    """Peak resident set (VmHWM) of a process, in KiB; 0 once it has exited."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _one_message(session, settings, send_id: int) -> bytes:
    """A message exactly as a worker builds it, for the raw baseline."""
    from sqlalchemy import select

    from newsletter.delivery import pipeline
    from newsletter.delivery.models import Delivery
    from newsletter.render import personalise

    d = session.scalar(select(Delivery).where(Delivery.send_id == send_id,
                                              Delivery.edition == "regular").limit(1))
    _fmt, rendered, template = pipeline._variants.get(session, settings, send_id, d.variant)
    links = pipeline.subscriber_links(settings, d.subscriber_id)
    html, text = personalise(rendered, {**links, "name": d.name, "open_pixel_url": ""})
    return template.build(to_email=d.email, to_name=d.name, message_id="<bench@x>", html=html,
                          text=text, list_unsubscribe=[links["unsubscribe_url"]])


def _raw_rate(port: int, message: bytes, count: int) -> float:
    conn = smtplib.SMTP("127.0.0.1", port)
    conn.ehlo()
    t = time.perf_counter()
    for i in range(count):
        conn.sendmail("weekly@bench.example.org", [f"raw{i}@example.org"], message)
    elapsed = time.perf_counter() - t
    conn.quit()
    return count / elapsed


if __name__ == "__main__":
    main()
