"""The RQ worker: `python -m newsletter.worker [--burst]` (or `python worker.py`, the shim).

Runs without Flask (issue 16: Flask, Werkzeug, Jinja, Click and the Flask extensions were
~9 MiB of a worker): the settings come from newsletter/config.py as the app's do
(`load_settings`), the database through the same models (`newsletter.runtime`). Only a job
that needs the app itself (a scheduled send starting: it renders; a CSV import; the bounce
mailbox) builds it, once. It preloads delivery before taking jobs, then drains the queues
strictly in order: the priority edition's queue first. A background
thread runs the recovery sweep (expired leases, due retries, stranded sends, due scheduled
sends, lost transactional mail) every few seconds; a Redis lock makes sure only one worker
sweeps at a time. Neither exits when Redis or the database goes away: they wait, with
backoff, and go on.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time

from rq import SimpleWorker

from newsletter import load_settings, runtime
from newsletter.delivery import jobs
from newsletter.heap import freeze_startup_heap
from newsletter.redis_client import redis_store
from newsletter.tracking.jobs import flush_job

log = logging.getLogger("newsletter.worker")


def mailbox_poller(config, stop: threading.Event) -> None:
    """Reads the bounce mailbox every BOUNCE_POLL_SECONDS when BOUNCE_MAILBOX_URL is set."""
    from newsletter.tracking.jobs import poll_mailbox_job

    interval = config["BOUNCE_POLL_SECONDS"]
    while not stop.wait(interval):
        try:
            poll_mailbox_job()
        except Exception:  # a mailbox problem must never take the worker down
            log.exception("bounce mailbox poll failed")


def _start_due_scheduled() -> list[int]:
    """Scheduled sends that are due but whose RQ job was lost (the database says so)."""
    with runtime.job() as (_config, session):
        if not session.scalar(_due_query()):
            return []
    # Only when one is due: starting a send renders it (MJML, premailer), in the app.
    from newsletter.extensions import db
    from newsletter.sends import service as send_service

    app = runtime.app_for_job()
    with app.app_context():
        try:
            return send_service.start_due(db.session, app.config)
        finally:
            db.session.remove()


def _due_query():
    from sqlalchemy import select

    from newsletter.delivery.models import Send, SendStatus
    from newsletter.timeutil import utcnow

    return (
        select(Send.id)
        .where(Send.status == SendStatus.SCHEDULED, Send.scheduled_at <= utcnow())
        .limit(1)
    )


def sweeper(config, stop: threading.Event, interval: float) -> None:
    connection = redis_store.client(config)
    lock = connection.lock(f"{config['QUEUE_PREFIX']}:sweep-lock", timeout=max(interval * 4, 30))
    while not stop.wait(interval):
        try:
            if not lock.acquire(blocking=False):
                continue
        except Exception as exc:  # Redis away: try again next round
            log.warning("sweep waits for Redis: %s", exc)
            continue
        try:
            result = jobs.sweep()
            if result["requeued"] or result["mail"]:
                log.info(
                    "sweep requeued %(requeued)s deliveries in %(jobs)s jobs, %(mail)s emails",
                    result,
                )
            started = _start_due_scheduled()
            if started:
                log.info("sweep started scheduled sends %s", started)
            flush_job()  # tracked opens/clicks from Redis into the database
        except Exception as exc:  # the sweep must never take the worker down
            log.warning("sweep failed (will retry): %s", exc)
        finally:
            try:
                lock.release()
            except Exception:
                pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    parser.add_argument("--sweep-interval", type=float, default=5.0)
    parser.add_argument("--name", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    # No Flask, pages, forms or CLI in a worker; the render engine (MJML, premailer) loads
    # only if a job renders (a scheduled send starting), not to personalise stored renderings.
    config = load_settings()
    runtime.install(runtime.Runtime(config))
    import newsletter.delivery.batch  # noqa: F401  preload what every send job uses

    freeze_startup_heap()  # full collections no longer visit the modules' objects

    connection = redis_store.client(config, blocking=True)
    stop = threading.Event()
    if not args.burst:
        threading.Thread(
            target=sweeper, args=(config, stop, args.sweep_interval), daemon=True
        ).start()
        if config["BOUNCE_MAILBOX_URL"]:
            threading.Thread(target=mailbox_poller, args=(config, stop), daemon=True).start()
    wait, round_ = 0.5, 0
    try:
        while True:
            round_ += 1
            name = args.name if (args.name is None or round_ == 1) else f"{args.name}-{round_}"
            # SimpleWorker runs jobs in this process: the app, its DB pool and the render
            # caches are built once, and a SIGKILL takes the whole worker (no orphaned
            # work-horse keeps sending).
            worker = None
            try:
                worker = SimpleWorker(
                    jobs.queues(config, connection),
                    connection=connection,
                    name=name,
                    serializer=jobs.SERIALIZER,
                )
                worker.work(burst=args.burst, logging_level="WARNING", with_scheduler=True)
            except Exception as exc:  # Redis away at start-up, or while registering
                log.warning("worker stopped: %s", exc)
            if args.burst or (worker is not None and worker._stop_requested):
                break
            # RQ's loop gives up on Redis errors; this one does not: wait, then start again.
            log.warning("worker lost Redis or hit an error; starting again in %.1fs", wait)
            time.sleep(wait)
            wait = min(wait * 2, 30.0)
            if _redis_up(connection):
                wait = 0.5
    finally:
        stop.set()


def _redis_up(connection) -> bool:
    try:
        return bool(connection.ping())
    except Exception:
        return False


if __name__ == "__main__":
    main()
