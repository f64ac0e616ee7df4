"""RQ jobs and queues: the only module that imports rq.

Jobs are plain functions that take ids, serialized as JSON (never pickles, never tokens or
personal data in Redis); they run on what `newsletter.runtime` gives them: the worker's
settings and session without Flask, or the Flask app they are called in (no Flask import
here: a send worker never loads it). Redis only carries work: the database says what is left, and the
sweep puts back whatever a lost job, a dead worker or a Redis restart left behind.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from redis import Redis
from rq import Queue
from rq.queue import EnqueueData
from rq.serializers import JSONSerializer
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from newsletter import runtime
from newsletter.config import AppConfig
from newsletter.delivery import batch, marks, outbox, pipeline
from newsletter.delivery.message import DkimSigner
from newsletter.delivery.senders import BatchResult, Senders, SystemClock
from newsletter.delivery.transport import SmtpTransport
from newsletter.redis_client import redis_store
from newsletter.render import Edition

if TYPE_CHECKING:
    from newsletter.delivery.relaycheck import CheckResult
    from newsletter.delivery.routing import RelayRouter

SERIALIZER = JSONSerializer

# Kept for their callers: bench/ sets the app its jobs run in; the jobs that need the app
# itself (a scheduled start, a CSV import) ask for it.
set_app = runtime.set_app
_job_app = runtime.job_app
app_for_job = runtime.app_for_job


def redis_connection(config: AppConfig) -> Redis:
    """The shared client of `extensions.redis_store` (kept for callers of this name):
    one pool per process; connecting anew per enqueue made bulk opt-in mail crawl."""
    return redis_store.client(config)


def queue_names(config: AppConfig) -> list[str]:
    """In the order workers drain them: the priority edition's queue first."""
    prefix = config["QUEUE_PREFIX"]
    return [f"{prefix}:priority", f"{prefix}:default"]


def queue_for(config: AppConfig, edition: str, connection: Redis | None = None) -> Queue:
    priority, default = queue_names(config)
    name = priority if edition == Edition.PRIORITY.value else default
    return Queue(name, connection=connection or redis_connection(config), serializer=SERIALIZER)


def queues(config: AppConfig, connection: Redis | None = None) -> list[Queue]:
    """What a worker listens on, priority first."""
    connection = connection or redis_connection(config)
    return [
        Queue(name, connection=connection, serializer=SERIALIZER) for name in queue_names(config)
    ]


def _batch_job_id(send_id: int) -> str:
    # The send's id in the job's id lets the sweep see which sends still have work queued.
    return f"send-{send_id}-{uuid.uuid4().hex[:12]}"


def _batch_job(queue: Queue, send_id: int, ids: list[int], edition: str) -> EnqueueData:
    return Queue.prepare_data(
        send_batch,
        args=(send_id, ids),
        timeout=3600,
        result_ttl=600,
        failure_ttl=7 * 86400,
        description=f"send {send_id}: {len(ids)} {edition}",
        job_id=_batch_job_id(send_id),
    )


def sends_with_jobs(config: AppConfig, connection: Redis | None = None) -> set[int]:
    """Sends with a batch job waiting in a queue (a running one holds a lease instead)."""
    found: set[int] = set()
    for queue in queues(config, connection):
        for job_id in queue.get_job_ids():
            parts = job_id.split("-")
            if len(parts) == 3 and parts[0] == "send" and parts[1].isdigit():
                found.add(int(parts[1]))
    return found


def enqueue_send(send_id: int) -> int:
    """Enqueue a batch job for every delivery of the send that is waiting now.

    Safe to call again at any time (`send resume`): a batch only sends deliveries it can
    still claim, so jobs enqueued twice never mail anyone twice.
    """
    config, session = runtime.current()
    settings = pipeline.PipelineSettings.from_config(config)
    connection = redis_store.client(config)
    queues = {e.value: queue_for(config, e.value, connection) for e in Edition}
    jobs = 0
    pending: dict[str, list[EnqueueData]] = {e.value: [] for e in Edition}
    for edition, ids in pipeline.plan_batches(session, settings, send_id):
        queue = queues[edition]
        pending[edition].append(_batch_job(queue, send_id, ids, edition))
        if len(pending[edition]) >= 100:
            queue.enqueue_many(pending[edition])
            jobs += len(pending[edition])
            pending[edition] = []
    for edition in (Edition.PRIORITY.value, Edition.REGULAR.value):  # priority first
        if pending[edition]:
            queues[edition].enqueue_many(pending[edition])
            jobs += len(pending[edition])
    return jobs


CONTROL_ACTIONS = ("pause", "resume", "cancel")


def control_send(send_id: int, action: str) -> None:
    """Pause, resume or cancel a send; resuming also re-enqueues its waiting deliveries.
    Raises pipeline.SendError when the send's state does not allow it."""
    from newsletter.delivery import control

    _config, session = runtime.current()
    if action == "pause":
        control.pause_send(session, send_id)
    elif action == "resume":
        control.resume_send(session, send_id)
        enqueue_send(send_id)
    elif action == "cancel":
        control.cancel_send(session, send_id)
    else:
        raise ValueError(f"unknown action {action!r}")


def schedule_start(send_id: int, at: dt.datetime, starter: Callable[[int], object]) -> str:
    """Ask RQ's scheduler to run `starter(send_id)` at `at` (naive UTC). The send service passes
    its starter (sends.service.start_scheduled_job): delivery does not know the service.
    Moving a send schedules again; the job that fires at the old time finds the send not
    due and does nothing."""
    queue = queue_for(runtime.current()[0], Edition.PRIORITY.value)
    job = queue.enqueue_at(at.replace(tzinfo=dt.UTC), starter, send_id, job_timeout=3600)
    return job.id  # if Redis loses it, the sweep starts the send when the database says


def send_batch(send_id: int, delivery_ids: list[int]) -> dict[str, object]:
    """The RQ job: deliver one batch over one SMTP connection.

    No RQ retries: a batch that fails as a whole (the database went away, say) gives its
    leases back if it can, and otherwise they expire; the sweep requeues from the rows."""
    with runtime.job() as (config, session):
        settings = pipeline.PipelineSettings.from_config(config)
        router = relay_router(config)
        senders = Senders(
            transport=None,
            signer=DkimSigner.from_config(config),
            router=router,
            on_pause=notify_pause,
            preflight=lambda: relay_check(config, router),
            timezone=config.get("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai"),
        )
        try:
            result = _deliver_riding_out_the_database(
                session, settings, senders, send_id, delivery_ids
            )
        finally:
            router.close()
        if result.yielded:  # gave way to priority deliveries: go round again, behind them
            queue = queue_for(config, Edition.REGULAR.value)
            queue.enqueue_many([_batch_job(queue, send_id, result.yielded, "regular")])
    return result.__dict__


def relay_router(config: AppConfig) -> RelayRouter:
    """The relays of RELAYS_FILE (or the SMTP_* one) with their limits and the domains'
    paces, counted in Redis; one SMTP connection per relay, opened when first used."""
    from newsletter.delivery.relays import load
    from newsletter.delivery.routing import RelayRouter

    return RelayRouter(
        redis_connection(config),
        config["QUEUE_PREFIX"],
        load(config),
        lambda relay: SmtpTransport(relay.smtp_settings()),
    )


def relay_check(config: AppConfig, router: RelayRouter) -> list[CheckResult]:
    """`relays check` of every relay the send will use (before its first message)."""
    from newsletter.delivery.relaycheck import check_from_config

    if not config.get("RELAY_CHECK_BEFORE_SEND", True):
        return []
    return check_from_config(config, relay_config=router.pool.config)


def _deliver_riding_out_the_database(
    session: Session,
    settings: pipeline.PipelineSettings,
    senders: Senders,
    send_id: int,
    delivery_ids: list[int],
) -> BatchResult:
    """deliver_batch; if the database goes away, wait for it (with backoff, for as long
    as it takes), record a message the server took meanwhile, give back the rest, and run
    the batch once more. Any other failure gives the leases back and fails the job (the
    sweep requeues from the rows)."""
    for round_ in range(2):
        token = secrets.token_hex(16)
        try:
            return batch.deliver_batch(session, settings, senders, send_id, delivery_ids, token)
        except (marks.UnrecordedSend, DBAPIError) as exc:
            session.rollback()
            if round_:
                raise
            wait_for_database(session)
            if isinstance(exc, marks.UnrecordedSend):
                marks.record_late(session, exc)
            batch.release_claims(session, token)
        except Exception:
            session.rollback()
            batch.release_claims(session, token)
            raise
    raise AssertionError("unreachable: the second round returns or raises")


def wait_for_database(session: Session, max_wait: float = 30.0) -> None:
    """Block until the database answers again (never gives up: a worker rides it out)."""
    import logging
    import time

    from sqlalchemy import text

    delay = 0.5
    while True:
        try:
            session.execute(text("SELECT 1"))
            session.rollback()
            return
        except DBAPIError as exc:
            session.rollback()
            logging.getLogger(__name__).warning(
                "database unavailable, retrying in %.1fs: %s", delay, str(exc).splitlines()[0]
            )
            time.sleep(delay)
            delay = min(delay * 2, max_wait)


def notify_pause(send_id: int) -> None:
    """Mail the send's creator and the admins that the breaker paused it, and why."""
    from newsletter.delivery.notices import pause_notice

    config, session = runtime.current()
    for to, subject, text in pause_notice(session, send_id, config):
        enqueue_transactional(to, subject, text)


def sweep() -> dict[str, int]:
    """Periodic recovery (worker.py runs it, one worker at a time): expired leases, due
    retries, auto-resumed and stranded sends, due scheduled sends, lost transactional mail."""
    with runtime.job() as (config, session):
        settings = pipeline.PipelineSettings.from_config(config)
        connection = redis_connection(config)
        groups = batch.recover(
            session, settings, sends_with_jobs=sends_with_jobs(config, connection)
        )
        jobs = 0
        for (send_id, edition), ids in sorted(
            groups.items(), key=lambda kv: kv[0][1] != "priority"
        ):
            queue = queue_for(config, edition, connection)
            datas = [
                _batch_job(queue, send_id, ids[i : i + settings.batch_size], edition)
                for i in range(0, len(ids), settings.batch_size)
            ]
            queue.enqueue_many(datas)
            jobs += len(datas)
        mail = outbox.due(session, SystemClock().now())
        if mail:
            queue = queue_for(config, Edition.PRIORITY.value, connection)
            queue.enqueue_many([_transactional_job(i) for i in mail])
    return {"requeued": sum(len(v) for v in groups.values()), "jobs": jobs, "mail": len(mail)}


def _transactional_job(outbox_id: int) -> EnqueueData:
    return Queue.prepare_data(
        send_transactional,
        args=(outbox_id,),
        result_ttl=3600,
        failure_ttl=7 * 86400,
        job_id=f"mail-{outbox_id}-{uuid.uuid4().hex[:8]}",
    )


def enqueue_transactional(
    to_email: str, subject: str, text: str, html: str | None = None, to_name: str = ""
) -> str:
    """Queue a one-off email (confirmation link, fresh preference link, password reset).

    The email is written to the outbox table first (header values checked: no injection);
    the job on the priority queue carries only its id (a reader waiting for a confirmation
    should not wait for the weekly). If Redis is down or loses the job, the sweep sends it.
    Returns the RQ job id (or "" when Redis could not take it now).
    """
    config, session = runtime.current()
    outbox_id = outbox.add(session, to_email, subject, text, html, to_name=to_name)
    queue = queue_for(config, Edition.PRIORITY.value)
    try:
        return queue.enqueue_many([_transactional_job(outbox_id)])[0].id
    except Exception:  # Redis away: the row is safe, the sweep will enqueue it
        import logging

        logging.getLogger(__name__).warning(
            "outbox %s waits for the sweep: Redis unavailable", outbox_id
        )
        return ""


def send_transactional(outbox_id: int) -> str:
    """The RQ job behind enqueue_transactional: send one outbox row (if nobody else is)."""
    with runtime.job() as (config, session):
        return outbox.deliver(session, outbox_id, config)
