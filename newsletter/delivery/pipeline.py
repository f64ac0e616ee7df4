"""The send pipeline: create a send, plan its batches, deliver a batch, recover.

listmonk's separation: this module talks to the database only through `store` and to
SMTP only through `transport`; queueing lives in `jobs` (the only rq import). Nothing here
knows about HTTP or Flask requests: functions take a session and plain settings.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import hmac
import random
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from newsletter.bulletin.models import Issue, IssueStatus
from newsletter.delivery import store
from newsletter.delivery.message import DkimSigner, MessageTemplate
from newsletter.delivery.ratelimit import RateLimiter
from newsletter.delivery.models import (
    DeliveryState, Send, SendStatus, SendVariant,
)
from newsletter.delivery.transport import PermanentError, SmtpTransport, TransientError
from newsletter.render import Edition, RenderedEdition, personalise, render_edition
from newsletter.timeutil import utcnow
from newsletter.tracking.bounces import REF_HEADER
from newsletter.tracking.links import (
    TrackingSettings, rewrite_links, store_links, tracking_values,
)
from subscribers import tokens


log = logging.getLogger(__name__)


class SendError(ValueError):
    """A send cannot be created or changed as asked; the message says why."""


@dataclass(frozen=True)
class PipelineSettings:
    secret_key: str
    base_url: str
    mail_from: str
    list_id: str
    batch_size: int = 200
    max_attempts: int = 5
    retry_base_seconds: float = 30.0
    retry_max_seconds: float = 3600.0
    claim_timeout_seconds: float = 300.0
    unsubscribe_mailto: str = ""
    tracking: TrackingSettings | None = None

    @classmethod
    def from_config(cls, config) -> "PipelineSettings":
        return cls(
            secret_key=config["SECRET_KEY"],
            base_url=config["BASE_URL"],
            mail_from=config["MAIL_FROM"],
            list_id=config["LIST_ID"],
            batch_size=config["BATCH_SIZE"],
            max_attempts=config["MAX_ATTEMPTS"],
            retry_base_seconds=config["RETRY_BASE_SECONDS"],
            retry_max_seconds=config["RETRY_MAX_SECONDS"],
            claim_timeout_seconds=config["CLAIM_TIMEOUT_SECONDS"],
            unsubscribe_mailto=config["UNSUBSCRIBE_MAILTO"],
            tracking=TrackingSettings.from_config(config),
        )


def archive_url(settings: PipelineSettings, number: int) -> str:
    return f"{settings.base_url}/archive/{number}"


# --- creating a send ------------------------------------------------------------------

def variant_key(edition: str, fmt: str, sections: list[str] | None) -> str:
    """Names one rendering: edition x format x section choice (None: every section)."""
    return f"{edition}|{fmt}|" + ("*" if sections is None else ",".join(sections))


def _sections_for(all_sections: list[str], chosen: list[str] | None) -> list[str] | None:
    """The reader's choice restricted to this issue, in issue order; None when it is all."""
    if chosen is None:
        return None
    kept = [name for name in all_sections if name in set(chosen)]
    return None if len(kept) == len(all_sections) else kept


def create_send(session: Session, settings: PipelineSettings, issue_number: int,
                group_codes: list[str], *, test_addresses: list[str] | None = None,
                test_edition: str = "regular", created_by: str = "",
                scheduled_at: dt.datetime | None = None) -> Send:
    """Write the send, its rendered variants and one delivery per recipient.

    All in one transaction: a send either exists with all its deliveries or not at all.
    Each distinct variant (edition x format x sections) is rendered exactly once here.
    A test send mails the given addresses (marked as a test) instead of the groups.
    With `scheduled_at` (naive UTC) only the send is written, status SCHEDULED: its
    recipients are chosen when it starts (`start_scheduled`), so late subscribers get it.
    """
    issue = session.scalar(select(Issue).where(Issue.number == issue_number))
    if issue is None:
        raise SendError(f"no issue number {issue_number}")
    if not test_addresses:
        _check_groups(session, group_codes)
        from newsletter.review.service import ensure_sendable  # the 责编/复核 approval
        ensure_sendable(session, issue)  # NotApproved (a SendError) unless approved as is
    if test_edition not in {e.value for e in Edition}:
        raise SendError(f"unknown edition {test_edition!r}")
    send = Send(issue_id=issue.id, group_codes=list(group_codes), is_test=bool(test_addresses),
                status=SendStatus.SCHEDULED if scheduled_at else SendStatus.QUEUED,
                created_by=created_by, scheduled_at=scheduled_at)
    session.add(send)
    session.flush()
    if scheduled_at is None:
        _populate(session, settings, send, issue, test_addresses, test_edition)
    session.commit()
    return send


def _check_groups(session: Session, group_codes: list[str]) -> None:
    from subscribers.models import Group
    known = set(session.scalars(select(Group.code).where(Group.code.in_(group_codes))))
    unknown = [c for c in group_codes if c not in known]
    if unknown or not group_codes:
        raise SendError(f"unknown group codes: {', '.join(unknown) or '(none given)'}")


def start_scheduled(session: Session, settings: PipelineSettings, send_id: int) -> bool:
    """Turn a due scheduled send into a queued one with its deliveries; False if it is
    not (or no longer) due: moved, cancelled, or already started by another process."""
    now = utcnow()
    claimed = session.execute(
        update(Send).where(Send.id == send_id, Send.status == SendStatus.SCHEDULED,
                           Send.scheduled_at <= now)
        .values(status=SendStatus.QUEUED).execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        session.rollback()
        return False
    send = session.get(Send, send_id)
    session.refresh(send)
    from newsletter.review.service import NotApproved, ensure_sendable
    try:
        ensure_sendable(session, send.issue)  # changed since it was scheduled? then not
    except NotApproved as exc:
        send.status, send.finished_at = SendStatus.CANCELLED, utcnow()
        session.commit()
        log.warning("scheduled send %s cancelled at start: %s", send_id, exc)
        return False
    try:
        _populate(session, settings, send, send.issue, None, Edition.REGULAR.value)
        session.commit()
    except Exception:
        session.rollback()
        raise
    return True


def _populate(session: Session, settings: PipelineSettings, send: Send, issue: Issue,
              test_addresses: list[str] | None, test_edition: str) -> None:
    doc = issue.to_doc()
    all_sections = [s.name for s in doc.sections]
    rendered_keys: set[str] = set()
    links: list[dict] = []  # one click table for every variant of the send

    def variant(edition: str, fmt: str, sections: list[str] | None) -> str:
        nonlocal links
        key = variant_key(edition, fmt, sections)
        if key not in rendered_keys:
            rendered = render_edition(doc, Edition(edition), sections=sections,
                                      archive_url=archive_url(settings, issue.number))
            html, links = rewrite_links(rendered.html, links)
            subject = ("[测试] " + rendered.subject) if test_addresses else rendered.subject
            session.add(SendVariant(send_id=send.id, key=key, edition=edition, format=fmt,
                                    sections=sections, subject=subject, html=html,
                                    text=rendered.text))
            rendered_keys.add(key)
        return key

    def row(sid, email, name, edition, key) -> dict:
        now = utcnow()
        return {"send_id": send.id, "subscriber_id": sid, "email": email, "name": name,
                "edition": edition, "variant": key, "state": DeliveryState.QUEUED,
                "created_at": now, "updated_at": now}

    if test_addresses:
        key = variant(test_edition, "html", None)
        store.insert_deliveries(session, [row(None, a.strip().lower(), "", test_edition, key)
                                          for a in dict.fromkeys(test_addresses)])
        store_links(session, send.id, links)
        return
    batch: list[dict] = []
    for r in store.recipients(session, send.group_codes):
        edition = (Edition.PRIORITY if r.priority else Edition.REGULAR).value
        key = variant(edition, r.format, _sections_for(all_sections, r.sections))
        batch.append(row(r.subscriber_id, r.email, r.name, edition, key))
        if len(batch) >= store.PAGE:
            store.insert_deliveries(session, batch)
            batch = []
    store.insert_deliveries(session, batch)
    store_links(session, send.id, links)


def plan_batches(session: Session, settings: PipelineSettings,
                 send_id: int) -> Iterator[tuple[str, list[int]]]:
    """(edition, delivery ids) for every delivery a worker may take now: priority first."""
    now = utcnow()
    for edition in (Edition.PRIORITY, Edition.REGULAR):
        batch: list[int] = []
        for delivery_id in store.waiting_ids(session, send_id, edition.value, now):
            batch.append(delivery_id)
            if len(batch) >= settings.batch_size:
                yield edition.value, batch
                batch = []
        if batch:
            yield edition.value, batch


# --- delivering a batch ---------------------------------------------------------------

def subscriber_links(settings: PipelineSettings, subscriber_id: int | None) -> dict[str, str]:
    if subscriber_id is None:  # a test address: links that lead nowhere harmful
        return {"unsubscribe_url": f"{settings.base_url}/unsubscribe/test",
                "preferences_url": f"{settings.base_url}/preferences/test"}
    unsub = tokens.make_token(settings.secret_key, tokens.UNSUBSCRIBE, subscriber_id)
    prefs = tokens.make_token(settings.secret_key, tokens.PREFERENCES, subscriber_id)
    return {"unsubscribe_url": f"{settings.base_url}/unsubscribe/{unsub}",
            "preferences_url": f"{settings.base_url}/preferences/{prefs}"}


def unsubscribe_mailto(settings: PipelineSettings, subscriber_id: int | None) -> str:
    """The List-Unsubscribe mailto: its subject carries the reader's signed token, so the
    mailbox poller (tracking.mailbox) unsubscribes the right reader whoever writes."""
    token = (tokens.make_token(settings.secret_key, tokens.UNSUBSCRIBE, subscriber_id)
             if subscriber_id is not None else "test")
    return f"mailto:{settings.unsubscribe_mailto}?subject=unsubscribe%20{token}"


def verp_address(settings: PipelineSettings, template: MessageTemplate, delivery_id: int) -> str:
    """The envelope sender that names the delivery, signed so bounces cannot be forged."""
    sig = hmac.new(settings.secret_key.encode(), str(delivery_id).encode(),
                   hashlib.sha256).hexdigest()[:10]
    local, _, domain = template.from_address.partition("@")
    return f"{local}+b{delivery_id}-{sig}@{domain or template.domain}"


class _Variants:
    """Per-process cache of a send's rendered variants and their message templates."""

    def __init__(self) -> None:
        self._cache: dict[int, dict[str, tuple[str, RenderedEdition, MessageTemplate]]] = {}

    def get(self, session: Session, settings: PipelineSettings, send_id: int, key: str):
        if send_id not in self._cache:
            if len(self._cache) > 8:
                self._cache.clear()
            self._cache[send_id] = {
                v.key: (v.format, RenderedEdition.from_stored(v.subject, v.html, v.text),
                        MessageTemplate(settings.mail_from, v.subject, settings.list_id))
                for v in session.scalars(select(SendVariant).where(SendVariant.send_id == send_id))
            }
        return self._cache[send_id][key]


_variants = _Variants()


def backoff(settings: PipelineSettings, attempts: int) -> dt.timedelta:
    base = settings.retry_base_seconds * (2 ** max(attempts - 1, 0))
    delay = min(base, settings.retry_max_seconds) * random.uniform(0.8, 1.2)
    return dt.timedelta(seconds=delay)


@dataclass
class Senders:
    """What a batch sends through: one SMTP connection, the shared rate limit, DKIM."""

    transport: SmtpTransport
    limiter: "RateLimiter | None" = None
    signer: DkimSigner | None = None


@dataclass
class BatchResult:
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    skipped: int = 0
    # Regular deliveries handed back because priority ones are waiting: the job enqueues
    # them again behind the priority queue instead of holding its worker.
    yielded: list[int] = field(default_factory=list)


# How often (in messages) a batch looks up whether its send was paused or cancelled, and
# whether a priority send now needs the way: a query each time, so not every message.
CHECK_EVERY = 10


def deliver_batch(session: Session, settings: PipelineSettings, senders: Senders,
                  send_id: int, delivery_ids: list[int], token: str | None = None) -> BatchResult:
    """Claim the batch's waiting deliveries and hand each to SMTP over one connection.

    A delivery's row is written right after the server accepts it, so a crash can repeat
    at most the one message in flight. Deliveries already final are skipped: running the
    same batch twice is harmless. A regular batch gives way while any priority delivery of
    a running send is still waiting (priority first, even across workers): before it
    starts and every CHECK_EVERY messages it hands its remaining deliveries back in
    `result.yielded` rather than wait, so a single worker cannot block on itself.
    """
    result = BatchResult()
    status = store.send_status(session, send_id)
    if status in (SendStatus.PAUSED, SendStatus.CANCELLED, None) or not delivery_ids:
        result.skipped = len(delivery_ids)
        return result
    regular = store.edition_of(session, delivery_ids[0]) != Edition.PRIORITY.value
    if regular and _priority_waiting(session):
        result.yielded = list(delivery_ids)
        return result
    _mark_started(session, send_id)
    token = token or secrets.token_hex(16)
    claimed = store.claim(session, delivery_ids, token)
    result.skipped = len(delivery_ids) - len(claimed)
    for n, delivery in enumerate(claimed):
        if n and n % CHECK_EVERY == 0:
            if store.send_status(session, send_id) != SendStatus.SENDING:
                store.release(session, token)  # paused or cancelled mid-batch
                break
            if regular and _priority_waiting(session):
                store.release(session, token)
                result.yielded = [d.id for d in claimed[n:]]
                break
        if senders.limiter is not None:
            senders.limiter.acquire()
        _deliver_one(session, settings, senders, delivery, result)
    finish_if_done(session, send_id)
    return result


def release_claims(session: Session, token: str) -> None:
    """After a batch failed as a whole: the deliveries it still holds back to the queue."""
    try:
        store.release(session, token)
    except Exception:  # the database may be what failed: the stale-claim sweep will do it
        session.rollback()


def _priority_waiting(session: Session) -> bool:
    waiting = store.priority_waiting(session)
    session.rollback()  # end the read transaction so the next look sees new commits
    if waiting:
        time.sleep(0.2)  # give the priority batches a moment before this one comes round again
    return waiting


def _deliver_one(session, settings, senders: Senders, delivery: store.Claimed,
                 result: BatchResult) -> None:
    fmt, rendered, template = _variants.get(session, settings, delivery.send_id,
                                            delivery.variant)
    links = subscriber_links(settings, delivery.subscriber_id)
    # Test addresses (no subscriber) are never tracked: they would count as readers.
    opted_out = delivery.subscriber_id is None or delivery.tracking_opt_out
    tracking = tracking_values(settings.tracking, delivery.send_id, delivery.id,
                               opted_out=opted_out)
    html, text = personalise(rendered, {**links, "name": delivery.name, **tracking})
    message_id = delivery.message_id or template.new_message_id(f"{delivery.send_id}.{delivery.id}")
    unsubscribe = [links["unsubscribe_url"]]
    if settings.unsubscribe_mailto:
        unsubscribe.append(unsubscribe_mailto(settings, delivery.subscriber_id))
    verp = verp_address(settings, template, delivery.id)
    try:
        message = template.build(
            to_email=delivery.email, to_name=delivery.name, message_id=message_id,
            html=None if fmt == "text" else html, text=text, list_unsubscribe=unsubscribe,
            extra_headers={REF_HEADER: verp},  # names the delivery in bounces without VERP
        )
        if senders.signer is not None:
            message = senders.signer.sign(message)
        response = senders.transport.send(verp, delivery.email, message)
    except TransientError as exc:
        if delivery.attempts >= settings.max_attempts:
            store.mark_failed(session, delivery, f"gave up after {delivery.attempts} attempts: {exc}")
            result.failed += 1
        else:
            store.mark_deferred(session, delivery, str(exc),
                                utcnow() + backoff(settings, delivery.attempts))
            result.deferred += 1
        return
    except PermanentError as exc:
        store.mark_failed(session, delivery, str(exc))
        if exc.hard and delivery.subscriber_id is not None:
            store.suppress(session, delivery.email, "bounced", str(exc))
        result.failed += 1
        return
    except ValueError as exc:  # a header that failed validation: never retry
        store.mark_failed(session, delivery, f"message not built: {exc}")
        result.failed += 1
        return
    store.mark_sent(session, delivery, message_id, response)
    result.sent += 1


def _mark_started(session: Session, send_id: int) -> None:
    send = session.get(Send, send_id)
    if send.status == SendStatus.QUEUED:
        send.status = SendStatus.SENDING
        send.started_at = utcnow()
        if not send.is_test:
            send.issue.status = IssueStatus.SENDING
        session.commit()


def finish_if_done(session: Session, send_id: int) -> bool:
    if store.unfinished(session, send_id):
        return False
    send = session.get(Send, send_id)
    if send.status in (SendStatus.QUEUED, SendStatus.SENDING):
        send.status = SendStatus.DONE
        send.finished_at = utcnow()
        if not send.is_test:
            send.issue.status = IssueStatus.SENT
        session.commit()
    return True


# --- recovery -------------------------------------------------------------------------

def recover(session: Session, settings: PipelineSettings) -> dict[tuple[int, str], list[int]]:
    """Stale claims (a dead worker) and due retries back to the queue.

    Returns the requeued delivery ids grouped by (send id, edition), for the caller to
    enqueue; active sends that have nothing left are marked done.
    """
    now = utcnow()
    cutoff = now - dt.timedelta(seconds=settings.claim_timeout_seconds)
    groups: dict[tuple[int, str], list[int]] = {}
    for delivery_id, send_id, edition in (store.requeue_stale(session, cutoff)
                                          + store.requeue_due(session, now)):
        groups.setdefault((send_id, edition), []).append(delivery_id)
    for send_id in store.due_scheduled(session, now):
        # A fallback for a scheduled job lost with Redis: the database says it is due.
        if start_scheduled(session, settings, send_id):
            for edition, ids in plan_batches(session, settings, send_id):
                groups.setdefault((send_id, edition), []).extend(ids)
    for send_id in store.active_sends(session):
        finish_if_done(session, send_id)
    return groups
