"""Tracking endpoints under load: the shipped web server (newsletter/webserver.py, as the
Procfile starts it, access log included) serves the app on loopback, a second process drives
the open pixel and the click redirect, then the flush writes the events.

    .venv/bin/python bench/tracking.py [--requests 20000] [--concurrency 16] [--rounds 3]
        [--variant 'SERVER OPTIONS']… [--wrk] [--rate N] [--deliveries 2000] [--database-url URL]

Each round runs the same server and client against a constant-answer Flask app
(bench/const_app.py), then the real endpoints, one after the other (the machine is shared:
ratios are taken within a round); `--variant` adds servers measured in every round beside
the shipped one (options over its own, or `gunicorn …` for gunicorn). Prints per pass
requests per second, p50/p90/p99/max latency (ms) as seen by the client, the spread of the
connections' mean latencies (an uneven spread is connections held by a busier process), and
per request the CPU of client and server and their wait for a CPU (schedstat of every
thread); then per server the median and range of the rounds, the ratio, the flush rate, and
checks events recorded == events accepted (the endpoints drop repeats within the
per-delivery and per-link windows before Redis). `--wrk` adds a second measured point per
pass: wrk (C, one thread, the same connections and paths) for as long as the pass took, to
tell the server's latency from the Python client's own CPU on the same 2 cores. `--rate N`
paces the client instead (open loop, N requests a second over the same connections, each
request due at its own time and its latency counted from then, so a stall that delays the
requests behind it counts for each of them, as wrk2 does): latency at a stated load, not
at saturation; the req/s ratio is then ~1 by construction. Each connection first sends
`--warmup` requests (50) that are not measured: a server process's first requests are
slower (its Redis connection, the link table, the recorder's thread: up to ~90 ms). Uses the
real Redis (REDIS_URL, default 127.0.0.1:6379/0) with a queue prefix of its own, and a fresh
SQLite file unless --database-url names another (empty) database.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
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
    per_conn: list[float] = []  # each connection's mean latency
    sched = [0.0, 0.0]  # the client threads' own CPU and wait for a CPU, summed
    errors = []
    lock = threading.Lock()
    # Paced: connection `seed` sends its i-th request at start + (i * concurrency + seed) / rate.
    gap = args.concurrency / args.rate if args.rate else 0.0
    start = [0.0]

    def set_start() -> None:  # run once, when every connection is warm
        start[0] = time.perf_counter() + 0.01

    start_gate = threading.Barrier(args.concurrency + 1, action=set_start)

    def worker(count: int, seed: int) -> None:
        rnd = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
        mine = []
        # Not measured: each server process's first requests (its Redis connection and
        # script, the send's link table, the recorder's thread) took up to ~90 ms, and a
        # paced client counts that stall against every request due meanwhile.
        # A failure counts as an error, as below: a thread that died here would leave the
        # others waiting at the gate for ever.
        for _i in range(args.warmup):
            try:
                conn.request("GET", paths[rnd.randrange(len(paths))], headers={"User-Agent": UA})
                conn.getresponse().read()
            except (OSError, http.client.HTTPException) as exc:
                errors.append(repr(exc))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
        start_gate.wait()
        ran0, queued0 = _thread_sched()
        for _i in range(count):
            path = paths[rnd.randrange(len(paths))]
            t0 = time.perf_counter()
            if gap:
                due = start[0] + _i * gap + seed * gap / args.concurrency
                if due > t0:
                    time.sleep(due - t0)
                t0 = due
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
        ran, queued = _thread_sched()
        with lock:
            latencies.extend(mine)
            per_conn.append(sum(mine) / max(len(mine), 1))
            sched[0] += ran - ran0
            sched[1] += queued - queued0

    threads = [threading.Thread(target=worker, args=(n, i)) for i, n in enumerate(per_thread)]
    for t in threads:
        t.start()
    start_gate.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    latencies.sort()
    per_conn.sort()
    n = len(latencies)
    print(
        json.dumps(
            {
                "sent": n,
                "errors": len(errors),
                "elapsed": elapsed,
                "p50": latencies[n // 2] * 1000,
                "p90": latencies[int(n * 0.9) - 1] * 1000,
                "p99": latencies[int(n * 0.99) - 1] * 1000,
                "max": latencies[-1] * 1000,
                "conn_min": per_conn[0] * 1000,
                "conn_max": per_conn[-1] * 1000,
                "client_cpu": sched[0],
                "client_wait": sched[1],
                "first_errors": errors[:5],
            }
        )
    )


def _thread_sched() -> tuple[float, float]:
    """(seconds on a CPU, seconds runnable waiting for one) of the calling thread."""
    ran, queued, _slices = Path("/proc/thread-self/schedstat").read_text().split()
    return int(ran) / 1e9, int(queued) / 1e9


def _settle(pgid: int, timeout: float = 30) -> None:
    """Wait until the server's processes are idle (each worker has imported the app)."""
    deadline = time.monotonic() + timeout
    last = _group_sched(pgid)[0]
    while time.monotonic() < deadline:
        time.sleep(0.3)
        now = _group_sched(pgid)[0]
        if now - last < 0.03:
            return
        last = now


def _group_sched(pgid: int) -> tuple[float, float]:
    """The same summed over every thread of every process in a process group (gunicorn's
    arbiter and its workers): what the server ran and waited for a CPU so far."""
    ran = queued = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if int((proc / "stat").read_text().rsplit(")", 1)[1].split()[2]) != pgid:
                continue
            for task in (proc / "task").iterdir():
                r, q, _slices = (task / "schedstat").read_text().split()
                ran += int(r) / 1e9
                queued += int(q) / 1e9
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
    return ran, queued


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
    p = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    p.add_argument("--requests", type=int, default=20000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--rounds", type=int, default=3, help="constant/real passes, interleaved")
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="GUNICORN_ARGS",
        help="server options over the shipped ones (newsletter/webserver.py), e.g. "
        "'--workers 3', or 'gunicorn -k gthread -w 2 --threads 4' for gunicorn "
        "(repeatable; each measured in every round beside the shipped server)",
    )
    p.add_argument(
        "--wrk",
        action="store_true",
        help="a second measured point: after each pass, wrk (C, one thread) drives the same "
        "server over the same number of connections for as long as the pass took",
    )
    p.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="pace the client: N requests a second in all (open loop; latency from each "
        "request's due time); 0: as fast as the server answers",
    )
    p.add_argument(
        "--warmup",
        type=int,
        default=50,
        help="requests per connection before the measured ones (not counted)",
    )
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
    if args.wrk and shutil.which("wrk") is None:
        raise SystemExit("--wrk needs wrk on the PATH (Debian: apt-get install wrk)")

    from newsletter.devsmtp import free_port

    tmp = Path(tempfile.mkdtemp(prefix="bench-tracking-"))
    args.database_url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    args.port = free_port()
    paths = prepare(args)
    (tmp / "paths.json").write_text(json.dumps(paths))
    env = build_env(args)
    from redis import Redis

    from newsletter import webserver

    redis = Redis.from_url(args.redis_url)
    variants = ["", *args.variant]  # "": the shipped server as it is
    apps = (("constant", "bench.const_app:create_app"), ("tracking", webserver.APP))
    runs: dict[tuple[str, str], list[dict]] = {(v, a): [] for v in variants for a, _ in apps}
    served = 0
    print(f"load average before: {_loadavg()}")
    for n in range(args.rounds):
        for variant in variants:
            for label, spec in apps:
                r = serve_and_drive(args, env, tmp, paths, spec, variant.split())
                runs[variant, label].append(r)
                # + the start-up check's request and the warm-up ones
                warm = 1 + args.warmup * args.concurrency
                served += r["sent"] + warm if label == "tracking" else 0
                print(f"round {n + 1} {variant or 'shipped':<24} {label:<8} {_row(r)}", flush=True)
                if args.wrk:
                    w = r["wrk"]
                    served += w["sent"] if label == "tracking" else 0
                    print(
                        f"round {n + 1} {variant or 'shipped':<24} {label:<8} wrk: "
                        f"{_rate(w):5.0f} req/s p50 {w['p50']:5.2f} p99 {w['p99']:5.2f} "
                        f"max {w['max']:6.1f} ms; server CPU {w['server_cpu_ms']:.3f} ms/request; "
                        f"errors {w['errors']}",
                        flush=True,
                    )
    print(f"load average after: {_loadavg()}")
    buffered = redis.xlen(f"{args.prefix}:tracking:events")
    flushed, flush_s, recorded = flush_all(args)
    for key in redis.scan_iter(f"{args.prefix}*"):
        redis.delete(key)
    print(
        f"\nshipped server: granian {_shipped()}; client {args.concurrency} keep-alive "
        f"connections{f', paced at {args.rate:g} req/s' if args.rate else ''}, "
        f"{args.requests} requests a pass, {args.rounds} rounds, "
        f"{args.deliveries} deliveries, DB {args.database_url.split(':')[0]}"
    )
    failed = False
    for variant in variants:
        const, ours = runs[variant, "constant"], runs[variant, "tracking"]
        ratios = [_rate(o) / _rate(c) for c, o in zip(const, ours)]
        print(f"{variant or 'shipped config'}:")
        for label, rs in (("constant-answer app", const), ("tracking endpoints", ours)):
            print(
                f"  {label:<20} {_spread([_rate(r) for r in rs], '.0f')} req/s, "
                f"p50 {_spread([r['p50'] for r in rs])} ms, "
                f"p99 {_spread([r['p99'] for r in rs])} ms, "
                f"CPU/request client {_spread([r['client_cpu_ms'] for r in rs], '.3f')} "
                f"server {_spread([r['server_cpu_ms'] for r in rs], '.3f')} ms"
            )
        if args.wrk:
            for label, rs in (("constant (wrk)", const), ("tracking (wrk)", ours)):
                w = [r["wrk"] for r in rs]
                print(
                    f"  {label:<20} {_spread([_rate(r) for r in w], '.0f')} req/s, "
                    f"p50 {_spread([r['p50'] for r in w])} ms, "
                    f"p99 {_spread([r['p99'] for r in w])} ms, "
                    f"CPU/request server {_spread([r['server_cpu_ms'] for r in w], '.3f')} ms"
                )
        print(
            f"  ratio tracking / constant (same round): {_spread(ratios)} (target ≥ 0.8); "
            f"tracking p99 {_spread([r['p99'] for r in ours])} ms (target ≤ 10)"
        )
        failed |= any(r["errors"] or r.get("wrk", {}).get("errors") for r in const + ours)
    print(
        f"events accepted   {buffered} of {served} requests (the rest within the "
        f"per-delivery/per-link windows, dropped before the database)"
    )
    print(
        f"flush             {flushed} events in {flush_s:.2f} s ({flushed / max(flush_s, 1e-9):.0f} events/s)"
    )
    print(
        f"events recorded   {recorded} = events accepted {buffered}: "
        f"{'OK' if recorded == buffered else 'MISMATCH'}"
    )
    if failed or recorded != buffered:
        sys.exit(1)


def _rate(r: dict) -> float:
    return r["sent"] / r["elapsed"]


def _spread(values: list[float], fmt: str = ".2f") -> str:
    """The median of the rounds and, with more than one, their range."""
    v = sorted(values)
    mid = v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2
    return f"{mid:{fmt}}" + (f" ({v[0]:{fmt}}–{v[-1]:{fmt}})" if len(v) > 1 else "")


def _row(r: dict) -> str:
    return (
        f"{_rate(r):5.0f} req/s p50 {r['p50']:5.2f} p90 {r['p90']:5.2f} p99 {r['p99']:5.2f} "
        f"max {r['max']:6.1f} ms; connections' means {r['conn_min']:.1f}–{r['conn_max']:.1f} ms; "
        f"per request: client CPU {r['client_cpu_ms']:.3f} waits {r['client_wait_ms']:.3f}, "
        f"server CPU {r['server_cpu_ms']:.3f} waits {r['server_wait_ms']:.3f} ms; "
        f"errors {r['errors']}"
    )


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _shipped() -> str:
    from newsletter.webserver import command

    return " ".join(command([])[3:-1])


# wrk's request: a random tracked path of the same list, the same User-Agent.
WRK_SCRIPT = """
local paths = {}
init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
end
request = function()
  return wrk.format("GET", paths[math.random(#paths)], {["User-Agent"] = "%s"})
end
done = function(summary, latency, requests)
  io.write(string.format("WRK %%d %%d %%f %%f %%f %%f\\n", summary.requests,
    summary.errors.status + summary.errors.read + summary.errors.write + summary.errors.connect
    + summary.errors.timeout, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(99) / 1e3, latency.max / 1e3))
end
"""


def drive_wrk(args, tmp: Path, paths: list[str], pgid: int, seconds: float) -> dict:
    """The same server driven by wrk: what the server gives a client that costs ~nothing."""
    script = tmp / "paths.lua"
    script.write_text(WRK_SCRIPT % UA)
    (tmp / "paths.txt").write_text("\n".join(paths) + "\n")
    ran0, _q = _group_sched(pgid)
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{args.concurrency}",
            f"-d{max(1, round(seconds))}s",
            "-s",
            str(script),
            f"http://127.0.0.1:{args.port}",
            "--",
            str(tmp / "paths.txt"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    ran, _q = _group_sched(pgid)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("WRK "))
    sent, errors, elapsed, p50, p99, top = line.split()[1:]
    return {
        "sent": int(sent),
        "errors": int(errors),
        "elapsed": float(elapsed),
        "p50": float(p50),
        "p99": float(p99),
        "max": float(top),
        "server_cpu_ms": (ran - ran0) * 1000 / max(int(sent), 1),
    }


def serve_and_drive(
    args, env: dict, tmp: Path, paths: list[str], app_spec: str, extra: list[str]
) -> dict:
    """The shipped server (`extra` options over its own) serving `app_spec` (a factory) on
    the port, the client driving it; the client's figures, and the CPU and
    the wait for a CPU per request of client and server (schedstat)."""
    from bench.procs import Children

    children = Children()
    if extra[:1] == ["gunicorn"]:  # a comparison: gunicorn with the options given
        cmd = [str(ROOT / ".venv" / "bin" / "gunicorn"), "-b", f"127.0.0.1:{args.port}"]
        cmd += [*extra[1:], f"{app_spec}()"]
    else:  # the shipped server (newsletter/webserver.py), `extra` options over its own
        cmd = [sys.executable, "-m", "newsletter.webserver", "--app", app_spec]
        cmd += ["--host", "127.0.0.1", "--port", str(args.port), *extra]
    # The access log goes where the shipped server sends it (stdout): to a file here.
    with open(tmp / "server.log", "ab") as log:
        server = children.start(cmd, cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        deadline = time.time() + 30
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=2)
                conn.request("GET", paths[0], headers={"User-Agent": UA})
                conn.getresponse().read()
                conn.close()
                break
            except OSError:
                if time.time() > deadline:
                    raise SystemExit("gunicorn did not come up") from None
                time.sleep(0.2)
        _settle(server.pid)  # every worker booted (the first answer needs only one)
        ran0, queued0 = _group_sched(server.pid)
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
                "--rate",
                str(args.rate),
                "--warmup",
                str(args.warmup),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        ran, queued = _group_sched(server.pid)
        r = json.loads(out.stdout)
        per = 1000 / r["sent"]
        r.update(
            client_cpu_ms=r["client_cpu"] * per,
            client_wait_ms=r["client_wait"] * per,
            server_cpu_ms=(ran - ran0) * per,
            server_wait_ms=(queued - queued0) * per,
        )
        if args.wrk:
            r["wrk"] = drive_wrk(args, tmp, paths, server.pid, r["elapsed"])
        return r
    finally:
        children.stop(server, grace=15)


if __name__ == "__main__":
    main()
