"""RQ jobs and queues: the only module that imports rq.

Jobs are plain functions that take ids; they find the app that `worker.py` created once
(or create one from the environment), so a job never carries objects across Redis.
"""

from __future__ import annotations

import secrets

from flask import Flask, current_app, has_app_context
from redis import Redis
from rq import Queue, Retry

from newsletter.delivery import pipeline, ratelimit
from newsletter.delivery.message import DkimSigner
from newsletter.delivery.transport import SmtpSettings, SmtpTransport
from newsletter.extensions import db, redis_store
from newsletter.render import Edition

_app: Flask | None = None


def set_app(app: Flask) -> None:
    """Called by worker.py: jobs run inside this app (created once, before any job)."""
    global _app
    _app = app


def _job_app() -> Flask:
    global _app
    if _app is None:
        from newsletter import create_app
        _app = create_app()
    return _app


def redis_connection(config) -> Redis:
    """The shared client of `extensions.redis_store` (kept for callers of this name):
    one pool per process; connecting anew per enqueue made bulk opt-in mail crawl."""
    return redis_store.client(config)


def queue_names(config) -> list[str]:
    """In the order workers drain them: the priority edition's queue first."""
    prefix = config["QUEUE_PREFIX"]
    return [f"{prefix}:priority", f"{prefix}:default"]


def queue_for(config, edition: str, connection: Redis | None = None) -> Queue:
    priority, default = queue_names(config)
    name = priority if edition == Edition.PRIORITY.value else default
    return Queue(name, connection=connection or redis_store.client(config))


def enqueue_send(send_id: int) -> int:
    """Enqueue a batch job for every delivery of the send that is waiting now.

    Safe to call again at any time (`send resume`): a batch only sends deliveries it can
    still claim, so jobs enqueued twice never mail anyone twice.
    """
    config = current_app.config
    settings = pipeline.PipelineSettings.from_config(config)
    connection = redis_store.client(config)
    queues = {e.value: queue_for(config, e.value, connection) for e in Edition}
    jobs = 0
    pending: dict[str, list] = {e.value: [] for e in Edition}
    for edition, ids in pipeline.plan_batches(db.session, settings, send_id):
        queue = queues[edition]
        pending[edition].append(Queue.prepare_data(
            send_batch, args=(send_id, ids), timeout=3600, result_ttl=600,
            failure_ttl=7 * 86400, description=f"send {send_id}: {len(ids)} {edition}",
            retry=BATCH_RETRY,
        ))
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

    if action == "pause":
        control.pause_send(db.session, send_id)
    elif action == "resume":
        control.resume_send(db.session, send_id)
        enqueue_send(send_id)
    elif action == "cancel":
        control.cancel_send(db.session, send_id)
    else:
        raise ValueError(f"unknown action {action!r}")


def schedule_start(send_id: int, at) -> str:
    """Ask RQ's scheduler to start the send at `at` (naive UTC). Moving a send schedules
    again; the job that fires at the old time finds the send not due and does nothing."""
    import datetime as dt

    queue = queue_for(current_app.config, Edition.PRIORITY.value)
    job = queue.enqueue_at(at.replace(tzinfo=dt.UTC), start_scheduled_send, send_id,
                           job_timeout=3600)
    return job.id


def start_scheduled_send(send_id: int) -> dict:
    """The scheduled job: write the deliveries of a due send and enqueue its batches."""
    app = current_app._get_current_object() if has_app_context() else _job_app()
    with app.app_context():
        settings = pipeline.PipelineSettings.from_config(app.config)
        started = pipeline.start_scheduled(db.session, settings, send_id)
        jobs = enqueue_send(send_id) if started else 0
        db.session.remove()
    return {"started": started, "jobs": jobs}


# A batch that fails as a whole (the database went away, say) is retried by RQ; its claims
# are given back first, so the retry (or the sweep) sends what was not sent.
BATCH_RETRY = Retry(max=3, interval=[2, 10, 30])


def send_batch(send_id: int, delivery_ids: list[int]) -> dict:
    """The RQ job: deliver one batch over one SMTP connection."""
    app = current_app._get_current_object() if has_app_context() else _job_app()
    with app.app_context():
        settings = pipeline.PipelineSettings.from_config(app.config)
        with SmtpTransport(SmtpSettings.from_config(app.config)) as transport:
            senders = pipeline.Senders(
                transport=transport,
                limiter=ratelimit.from_config(redis_store.client(app.config), app.config),
                signer=DkimSigner.from_config(app.config),
            )
            token = secrets.token_hex(16)
            try:
                result = pipeline.deliver_batch(db.session, settings, senders, send_id,
                                                delivery_ids, token)
            except Exception:
                db.session.rollback()
                pipeline.release_claims(db.session, token)
                raise
            finally:
                db.session.remove()
        if result.yielded:  # gave way to priority deliveries: go round again, behind them
            queue_for(app.config, Edition.REGULAR.value).enqueue(
                send_batch, send_id, result.yielded, job_timeout=3600, retry=BATCH_RETRY)
    return result.__dict__


def sweep() -> dict:
    """Periodic recovery (worker.py runs it): stale claims and due retries re-enqueued."""
    app = current_app._get_current_object() if has_app_context() else _job_app()
    with app.app_context():
        settings = pipeline.PipelineSettings.from_config(app.config)
        groups = pipeline.recover(db.session, settings)
        connection = redis_store.client(app.config)
        jobs = 0
        for (send_id, edition), ids in groups.items():
            queue = queue_for(app.config, edition, connection)
            for start in range(0, len(ids), settings.batch_size):
                queue.enqueue(send_batch, send_id, ids[start:start + settings.batch_size],
                              job_timeout=3600, retry=BATCH_RETRY)
                jobs += 1
        db.session.remove()
    return {"requeued": sum(len(v) for v in groups.values()), "jobs": jobs}


def enqueue_transactional(to_email: str, subject: str, text: str, html: str | None = None,
                          to_name: str = "") -> str:
    """Queue a one-off email (confirmation link, fresh preference link, password reset).

    Goes on the priority queue: a reader waiting for a confirmation should not wait for
    the weekly. Returns the RQ job id.
    """
    from newsletter.delivery.message import check_header_value

    for value, what in ((to_email, "address"), (to_name, "name"), (subject, "subject")):
        check_header_value(value, what)  # refuse header injection before anything is queued
    config = current_app.config
    queue = queue_for(config, Edition.PRIORITY.value)
    job = queue.enqueue(send_transactional, to_email, to_name, subject, text, html,
                        retry=Retry(max=5, interval=[10, 30, 60, 300, 900]),
                        result_ttl=3600, failure_ttl=7 * 86400)
    return job.id


def send_transactional(to_email: str, to_name: str, subject: str, text: str,
                       html: str | None) -> str:
    """The RQ job behind enqueue_transactional; transient SMTP errors make RQ retry it."""
    from newsletter.delivery.message import MessageTemplate

    app = current_app._get_current_object() if has_app_context() else _job_app()
    with app.app_context():
        template = MessageTemplate(app.config["MAIL_FROM"], subject, app.config["LIST_ID"])
        message = template.build(to_email=to_email, to_name=to_name,
                                 message_id=template.new_message_id("tx"), html=html, text=text,
                                 list_unsubscribe=[])
        with SmtpTransport(SmtpSettings.from_config(app.config)) as transport:
            return transport.send(template.from_address, to_email, message)
