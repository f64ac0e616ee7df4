"""The queues drained in the test's own process: what `python worker.py --burst` does (RQ's
SimpleWorker over the priority queue, then the default one, with the scheduler's one pass
over due jobs), on the real Redis, to the test's real SMTP server and database, without
starting a Python process (1-3 s each, most of a short mail test).

For tests that need the queued mail or batches *done*, not a worker's life: faults, crashes,
restarts, two workers at once and long-running workers keep `run_worker` (real processes).
The jobs run in the test's app (`jobs.app_for_job` takes the current one): `run_worker`'s
processes get the same settings through `worker_env`.
"""

from __future__ import annotations

import signal

import pytest


def drain_queues(app) -> None:
    """Run every job the test's queues hold until they are empty, as a burst worker would."""
    from rq import SimpleWorker

    from newsletter.delivery import jobs
    from newsletter.extensions import redis_store

    forget_process_state()
    connection = redis_store.client(app.config, blocking=True)
    worker = SimpleWorker(
        jobs.queues(app.config, connection), connection=connection, serializer=jobs.SERIALIZER
    )
    # RQ installs its own SIGINT/SIGTERM handlers for the worker's life; give pytest's back.
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        worker.work(burst=True, logging_level="WARNING", with_scheduler=True)
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
        forget_process_state()


def forget_process_state() -> None:
    """What a worker process keeps by send id, which a new process starts without: the
    breaker's streaks and the rendered variants. Tests reuse send ids (SQLite numbers
    from 1 again in emptied tables): a variant cached by an earlier test's send 1 carried
    that test's MAIL_FROM into the next one."""
    from newsletter.delivery import pipeline, senders

    senders._STREAKS.clear()
    pipeline._variants._cache.clear()


@pytest.fixture
def run_jobs(app):
    """`run_jobs()` drains the queues in process (see the module docstring)."""
    return lambda: drain_queues(app)
