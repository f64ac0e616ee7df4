"""Tracking endpoints under load: gunicorn serves the app on loopback, a second process
drives the open pixel and the click redirect, then the flush writes the events.

    .venv/bin/python bench/tracking.py [--requests 20000] [--concurrency 16]
        [--workers 2] [--threads 4] [--deliveries 2000] [--database-url URL]

Runs the same gunicorn and client against a constant-answer Flask app (bench/const_app.py)
first, then the real endpoints; prints requests per second, p50/p99 latency (ms) as seen by
the client, their ratio, the flush rate, and checks events recorded == events accepted (the
endpoints drop repeats within the per-delivery and per-link windows before Redis). Uses the real Redis (REDIS_URL, default
127.0.0.1:6379/0) with a queue prefix of its own, and a fresh SQLite file unless
--database-url names another (empty) database.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"


def build_env(args) -> dict:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": args.database_url,
            "REDIS_URL": args.redis_url,
            "QUEUE_PREFIX": args.prefix,
            "SECRET_KEY": "bench-secret",
            "APP_ENV": "testing",
            "BASE_URL": f"http://127.0.0.1:{args.port}",
        }
    )
    return env


def prepare(args) -> list[str]:
    """Migrate, write one send with `deliveries` sent deliveries and 3 links; return paths."""
    import datetime as dt

    from flask_migrate import upgrade

    from newsletter import MIGRATIONS_DIR, create_app
    from newsletter.bulletin.service import load_sample
    from newsletter.delivery.models import Delivery, Send, SendStatus
    from newsletter.extensions import db
    from newsletter.timeutil import utcnow
    from newsletter.tracking.links import click_base_url, open_pixel_url, store_links

    os.environ.update(build_env(args))
    app = create_app()
    with app.app_context():
        upgrade(directory=MIGRATIONS_DIR, revision="heads")
        issue = load_sample(db.session)
        sent_at = utcnow() - dt.timedelta(hours=1)
        send = Send(
            issue_id=issue.id,
            group_codes=[],
            status=SendStatus.DONE,
            created_at=sent_at,
            started_at=sent_at,
        )
        db.session.add(send)
        db.session.flush()
        store_links(
            db.session,
            send.id,
            [
                {"n": n, "url": f"https://example.org/a/{n}", "article": f"a-{n}", "label": ""}
                for n in (1, 2, 3)
            ],
        )
        db.session.execute(
            db.insert(Delivery),
            [
                {
                    "send_id": send.id,
                    "email": f"b{i}@example.com",
                    "name": "",
                    "edition": "regular",
                    "state": "sent",
                    "sent_at": sent_at,
                    "created_at": sent_at,
                    "updated_at": sent_at,
                }
                for i in range(args.deliveries)
            ],
        )
        db.session.commit()
        ids = list(db.session.scalars(db.select(Delivery.id).where(Delivery.send_id == send.id)))
        paths = []
        for did in ids:
            paths.append(open_pixel_url(app.config, send.id, did).split(str(args.port), 1)[1])
            paths.append(
                click_base_url(app.config, send.id, did).split(str(args.port), 1)[1]
                + f"/{random.randint(1, 3)}"
            )
        db.engine.dispose()
    return paths


def drive(args) -> None:
    """The second process: `requests` GETs over `concurrency` keep-alive connections."""
    paths = json.loads(Path(args.paths_file).read_text())
    per_thread = [args.requests // args.concurrency] * args.concurrency
    per_thread[0] += args.requests - sum(per_thread)
    latencies: list[float] = []
    errors = []
    lock = threading.Lock()
    start_gate = threading.Barrier(args.concurrency + 1)

    def worker(count: int, seed: int) -> None:
        rnd = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
        mine = []
        start_gate.wait()
        for _i in range(count):
            path = paths[rnd.randrange(len(paths))]
            t0 = time.perf_counter()
            try:
                conn.request("GET", path, headers={"User-Agent": UA})
                resp = conn.getresponse()
                resp.read()
                if resp.status not in (200, 302):
                    errors.append(resp.status)
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException) as exc:
                errors.append(repr(exc))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(n, i)) for i, n in enumerate(per_thread)]
    for t in threads:
        t.start()
    start_gate.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    latencies.sort()
    print(
        json.dumps(
            {
                "sent": len(latencies),
                "errors": len(errors),
                "elapsed": elapsed,
                "p50": latencies[len(latencies) // 2] * 1000,
                "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
                "first_errors": errors[:5],
            }
        )
    )


def flush_all(args) -> tuple[int, float, int]:
    from newsletter import create_app
    from newsletter.delivery.models import DeliveryEvent
    from newsletter.extensions import db
    from newsletter.tracking.jobs import flush_job

    app = create_app()
    t0 = time.perf_counter()
    flushed = 0
    with app.app_context():
        while True:
            result = flush_job()
            flushed += result.get("written", 0)
            if not result.get("read"):
                break
        elapsed = time.perf_counter() - t0
        recorded = db.session.scalar(
            db.select(db.func.count())
            .select_from(DeliveryEvent)
            .where(DeliveryEvent.kind.in_(["opened", "clicked"]))
        )
    return flushed, elapsed, recorded


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=20000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--deliveries", type=int, default=2000)
    p.add_argument("--database-url", default="")
    p.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    p.add_argument("--drive", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--paths-file", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--prefix", default=f"bench:{uuid.uuid4().hex[:8]}", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.drive:
        return drive(args)

    from newsletter.devsmtp import free_port

    tmp = Path(tempfile.mkdtemp(prefix="bench-tracking-"))
    args.database_url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    args.port = free_port()
    paths = prepare(args)
    (tmp / "paths.json").write_text(json.dumps(paths))
    env = build_env(args)
    from redis import Redis

    redis = Redis.from_url(args.redis_url)
    const = serve_and_drive(args, env, tmp, paths, "bench.const_app:create_app()")
    ours = serve_and_drive(args, env, tmp, paths, "newsletter:create_app()")
    buffered = redis.xlen(f"{args.prefix}:tracking:events")
    flushed, flush_s, recorded = flush_all(args)
    for key in redis.scan_iter(f"{args.prefix}*"):
        redis.delete(key)
    print(
        f"gunicorn gthread {args.workers}x{args.threads}, client {args.concurrency} "
        f"keep-alive connections, {args.deliveries} deliveries, DB {args.database_url.split(':')[0]}"
    )
    for label, r in (("constant-answer app", const), ("tracking endpoints", ours)):
        print(
            f"{label:<20} {r['sent']} requests (errors {r['errors']}) in {r['elapsed']:.2f} s = "
            f"{r['sent'] / r['elapsed']:.0f} req/s, p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms"
        )
    ratio = (ours["sent"] / ours["elapsed"]) / (const["sent"] / const["elapsed"])
    print(
        f"ratio tracking / constant: {ratio:.2f} (target ≥ 0.8); p99 {ours['p99']:.2f} ms "
        f"(target ≤ 10)"
    )
    print(
        f"events accepted   {buffered} of {ours['sent'] + 1} requests (the rest within the "
        f"per-delivery/per-link windows, dropped before the database)"
    )
    print(
        f"flush             {flushed} events in {flush_s:.2f} s ({flushed / max(flush_s, 1e-9):.0f} events/s)"
    )
    print(
        f"events recorded   {recorded} = events accepted {buffered}: "
        f"{'OK' if recorded == buffered else 'MISMATCH'}"
    )
    if ours["errors"] or const["errors"] or recorded != buffered:
        sys.exit(1)


def serve_and_drive(args, env: dict, tmp: Path, paths: list[str], app_spec: str) -> dict:
    """gunicorn serving `app_spec` on the port, the client driving it; the client's figures."""
    from bench.procs import Children

    children = Children()
    server = children.start(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "-b",
            f"127.0.0.1:{args.port}",
            "-w",
            str(args.workers),
            "-k",
            "gthread",
            "--threads",
            str(args.threads),
            "--keep-alive",
            "5",
            "--log-level",
            "warning",
            app_spec,
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.time() + 30
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=2)
                conn.request("GET", paths[0], headers={"User-Agent": UA})
                conn.getresponse().read()
                break
            except OSError:
                if time.time() > deadline:
                    raise SystemExit("gunicorn did not come up") from None
                time.sleep(0.2)
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--drive",
                "--paths-file",
                str(tmp / "paths.json"),
                "--port",
                str(args.port),
                "--requests",
                str(args.requests),
                "--concurrency",
                str(args.concurrency),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(out.stdout)
    finally:
        children.stop(server, grace=15)


if __name__ == "__main__":
    main()
