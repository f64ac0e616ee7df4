"""Entry points that run the tracking work: the periodic/queued event flush, the mailbox poll.

Plain functions taking nothing but ids (RQ's advice; enqueueing stays in delivery/jobs.py,
the only rq import). `flush_job` may be run by RQ, by the worker's periodic thread, or by
`flask tracking flush`; a Redis lock lets one run at a time (two would still be correct,
only slower). The flush runs on `newsletter.runtime` (in a worker: without Flask); the
mailbox poll, inside the app (its unsubscribe handling is the reader side's service).
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from redis import Redis
from redis.exceptions import LockError

from newsletter import runtime
from newsletter.redis_client import redis_store
from newsletter.tracking import events, recorder
from newsletter.tracking.links import TrackingSettings

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)


def redis_for(app: Flask) -> Redis:
    """The app's shared client (extensions.redis_store): the endpoints reuse its pool."""
    return redis_store.client(app.config)


def flush_job(limit: int | None = None) -> dict[str, int | str]:
    """Flush buffered open/click events into the database; returns the counts."""
    with runtime.job() as (config, session):
        settings = TrackingSettings.from_config(config)
        redis = redis_store.client(config)
        recorder.push_all()  # what this process's endpoints still hold, if any
        lock = redis.lock(f"{settings.events_key}:flush-lock", timeout=300)
        if not lock.acquire(blocking=True, blocking_timeout=10):
            return {"skipped": "another flush is running"}
        try:
            result = events.flush(session, redis, settings, limit=limit)
        finally:
            with contextlib.suppress(LockError):  # expired while we worked
                lock.release()
    if result.read:
        log.info("tracking flush: %s", result.__dict__)
    return result.__dict__


def poll_mailbox_job(url: str | None = None) -> dict[str, int | str]:
    """Read the bounce mailbox once (tracking.mailbox.poll) under a Redis lock, so two
    workers never read it at once; MailboxError when it cannot be read as configured."""
    from newsletter.extensions import db
    from newsletter.tracking.mailbox import MailboxSettings, poll

    app = runtime.app_for_job()
    with app.app_context():
        settings = MailboxSettings.from_config(app.config, url)
        lock = redis_for(app).lock(f"{app.config['QUEUE_PREFIX']}:mailbox-lock", timeout=600)
        if not lock.acquire(blocking=True, blocking_timeout=10):
            return {"skipped": "another poll is running"}
        try:
            result = poll(db.session, settings, TrackingSettings.from_config(app.config))
        finally:
            with contextlib.suppress(LockError):
                lock.release()
            db.session.remove()
    if result:
        log.info("mailbox poll: %s", result)
    return {**result}
