"""`bench/send.py --relays N`: one send spread over N relays, each a sink process of its own
with its own limit (messages per second in the relays file, enforced by our pool in Redis).

    python bench/send.py --relays 3 --relay-rate 40 --subscribers 3000 --workers 2

Printed: the whole send's messages per second against the sum of the relays' limits (the
ratio says how much of what the relays allow the pipeline uses), each relay's share and
rate against its own limit, and the forecast (delivery.forecast, made before the send from
the same relays file) against the actual duration of the same run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(args, children, tmp: Path) -> None:
    from newsletter.devsmtp import free_port

    rates = [args.relay_rate * (i + 1) for i in range(args.relays)]
    sinks, ports = [], []
    for _ in rates:
        port = free_port()
        sink = children.start(
            [
                sys.executable,
                str(ROOT / "bench" / "sink.py"),
                "--port",
                str(port),
                "--kind",
                args.sink,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        if sink.stdout.readline().strip() != "ready":
            raise SystemExit("a sink did not start")
        sinks.append(sink)
        ports.append(port)
    relays_file = tmp / "relays.toml"
    relays_file.write_text(
        "".join(
            f'[[relay]]\nname = "relay{i}"\nhost = "127.0.0.1"\nport = {port}\n'
            f"per_second = {rate}\nweight = {rate}\n\n"
            for i, (port, rate) in enumerate(zip(ports, rates))
        ),
        "utf-8",
    )
    try:
        result = _send(args, children, tmp, relays_file)
    finally:
        received = []
        for sink in sinks:
            children.stop(sink)
            lines = sink.stdout.read().strip().splitlines()
            received.append(int(lines[-1].split()[1]) if lines else 0)
    limit = sum(rates)
    rate = result["sent"] / result["elapsed"]
    print(
        f"\n{args.relays} relays, limits {' + '.join(map(str, rates))} = {limit} msg/s; "
        f"{args.workers} workers, {args.subscribers} subscribers"
    )
    print(
        f"send: {result['sent']} sent in {result['elapsed']:.1f}s = {rate:.1f} msg/s; "
        f"/ sum of limits = {rate / limit:.2f}"
    )
    for i, (n, r) in enumerate(zip(received, rates)):
        print(
            f"    relay{i}: {n} messages ({n / max(sum(received), 1):.0%}), "
            f"{n / result['elapsed']:.1f} msg/s against its {r}/s "
            f"(ratio {n / result['elapsed'] / r:.2f})"
        )
    print(
        f"forecast {result['forecast']:.1f}s, actual {result['elapsed']:.1f}s: actual / "
        f"forecast = {result['elapsed'] / max(result['forecast'], 0.001):.2f}"
    )


def _send(args, children, tmp: Path, relays_file: Path) -> dict:
    import logging

    from flask_migrate import upgrade
    from sqlalchemy import func, select

    from newsletter import MIGRATIONS_DIR, create_app, workerproc
    from newsletter.bulletin.service import load_sample
    from newsletter.delivery import jobs, pipeline
    from newsletter.delivery.models import Delivery, DeliveryState
    from newsletter.delivery.planning import forecast_for
    from newsletter.extensions import db
    from subscribers.seed import seed_groups
    from tests.conftest import approve_for_tests
    from tests.delivery.support import bulk_subscribers

    tag = uuid.uuid4().hex[:8]
    database = f"sqlite:///{tmp / f'relays-{tag}.db'}"
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "QUEUE_PREFIX": f"nlbench:{tag}",
        "BATCH_SIZE": str(args.batch_size),
        "RELAYS_FILE": str(relays_file),
        "MAIL_FROM": "行业动态周报 <weekly@bench.example.org>",
        "SECRET_KEY": "bench-" + tag,
        "APP_ENV": "testing",
        "SMTP_PORT": "1",
    }
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from newsletter import config as config_module

    app = create_app(config_module.from_environment(env))
    jobs.set_app(app)
    with app.app_context():
        upgrade(directory=MIGRATIONS_DIR, revision="heads")
        seed_groups(db.session)
        load_sample(db.session)
        approve_for_tests(396)
        bulk_subscribers(args.leaders, "leadership", prefix="leader")
        bulk_subscribers(args.subscribers - args.leaders, "members", prefix="member")
        groups = ["leadership", "members"]
        forecast = forecast_for(db.session, app.config, jobs.redis_connection(app.config), groups)
        settings = pipeline.PipelineSettings.from_config(app.config)
        send = pipeline.create_send(db.session, settings, 396, groups)
        jobs.enqueue_send(send.id)
        t0 = time.perf_counter()
        workers = [
            children.start(
                workerproc.command("--burst"),
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(args.workers)
        ]
        for w in workers:
            children.wait_rusage(w)
        elapsed = time.perf_counter() - t0
        db.session.rollback()
        sent = db.session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.send_id == send.id, Delivery.state == DeliveryState.SENT)
        )
        db.session.remove()
        db.engine.dispose()
    return {"sent": sent, "elapsed": elapsed, "forecast": forecast.seconds}
