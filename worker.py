"""RQ worker entry: `python worker.py [--burst]`.

Creates the app once (without its web parts) and preloads delivery before taking jobs,
then drains the queues strictly in order: the priority edition's queue first. A background
thread runs the recovery sweep (stale claims of dead workers, due retries) every few seconds;
a Redis lock makes sure only one worker sweeps at a time.
"""

from __future__ import annotations

import argparse
import logging
import threading

from rq import Queue, SimpleWorker

from newsletter import create_app
from newsletter.delivery import jobs
from newsletter.extensions import redis_store
from newsletter.tracking.jobs import flush_job

log = logging.getLogger("newsletter.worker")


def mailbox_poller(app, stop: threading.Event) -> None:
    """Reads the bounce mailbox every BOUNCE_POLL_SECONDS when BOUNCE_MAILBOX_URL is set."""
    from newsletter.tracking.jobs import poll_mailbox_job

    interval = app.config["BOUNCE_POLL_SECONDS"]
    while not stop.wait(interval):
        try:
            poll_mailbox_job()
        except Exception:  # a mailbox problem must never take the worker down
            log.exception("bounce mailbox poll failed")


def sweeper(app, stop: threading.Event, interval: float) -> None:
    connection = redis_store.client(app.config)
    lock = connection.lock(f"{app.config['QUEUE_PREFIX']}:sweep-lock", timeout=max(interval * 4, 30))
    while not stop.wait(interval):
        if lock.acquire(blocking=False):
            try:
                result = jobs.sweep()
                if result["requeued"]:
                    log.info("sweep requeued %(requeued)s deliveries in %(jobs)s jobs", result)
                with app.app_context():
                    flush_job()  # tracked opens/clicks from Redis into the database
            except Exception:  # the sweep must never take the worker down
                log.exception("sweep failed")
            finally:
                try:
                    lock.release()
                except Exception:
                    pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    parser.add_argument("--sweep-interval", type=float, default=5.0)
    parser.add_argument("--name", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    # No pages, forms or CLI in a worker; the render engine (MJML, premailer) loads only if
    # a job renders (a scheduled send starting), not to personalise stored renderings.
    app = create_app(web=False)
    jobs.set_app(app)
    import newsletter.delivery.pipeline  # noqa: F401  preload what every send job uses

    connection = redis_store.client(app.config, blocking=True)
    queues = [Queue(name, connection=connection) for name in jobs.queue_names(app.config)]
    stop = threading.Event()
    if not args.burst:
        threading.Thread(target=sweeper, args=(app, stop, args.sweep_interval),
                         daemon=True).start()
        if app.config["BOUNCE_MAILBOX_URL"]:
            threading.Thread(target=mailbox_poller, args=(app, stop), daemon=True).start()
    # SimpleWorker runs jobs in this process: the app, its DB pool and the render caches are
    # built once, and a SIGKILL takes the whole worker (no orphaned work-horse keeps sending).
    worker = SimpleWorker(queues, connection=connection, name=args.name)
    try:
        worker.work(burst=args.burst, logging_level="WARNING", with_scheduler=True)
    finally:
        stop.set()


if __name__ == "__main__":
    main()
