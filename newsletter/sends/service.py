"""The one way to send an issue: the send page, the CLI, the API, the schedule and the
test send all come here, so the rules hold whoever asks.

* A real send needs the issue approved as it is now (review.service.ensure_sendable).
* Never twice: a real send that would reach readers who already have the issue (or have
  it on the way) is refused, unless the person asked for "only those who have not received
  it yet" (`only_new`): then exactly those get it. A scheduled send, when it fires, skips
  whoever got the issue meanwhile.
* Idempotent: a caller's key (the form's one-time nonce, the API's Idempotency-Key) is
  stored with the send under a unique constraint; the same key again returns that send.
* Two identical sends at once: creating a real send begins with a write to the issue's
  row, which PostgreSQL holds as a row lock and SQLite as its single write lock until the
  send's rows are committed. The second creation waits, then sees the first one's
  deliveries and is refused (or, with only_new, finds nobody left). A lock rather than a
  unique (issue, address) index on deliveries: a follow-up must be able to write a new
  delivery for an address whose earlier one failed, the index would sit on the pipeline's
  hottest table, and the lock also serialises the idempotency-key look-up.
* Test sends (newsletter/sends/testsend.py): content not yet approved goes only to staff
  accounts' own addresses; approved content to any address. Every test send is
  rate-limited per person (TEST_SEND_RATE) and audited.

Delivery knows nothing of this module; it is above delivery/ and review/.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, field

from redis.exceptions import RedisError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter.bulletin.models import Issue
from newsletter.config import AppConfig
from newsletter.delivery import control, jobs, lookups, tables
from newsletter.delivery.models import Send, SendStatus
from newsletter.delivery.pipeline import PipelineSettings, SendError
from newsletter.extensions import db
from newsletter.phrase import N_, P, Phrase
from newsletter.review.service import NotApproved, ensure_sendable
from newsletter.sends import writer
from newsletter.staff import audit_text
from newsletter.staff.models import StaffUser
from newsletter.timeutil import utcnow
from subscribers.models import Group

log = logging.getLogger(__name__)


class AlreadyReceived(SendError):
    """Some readers of the chosen groups already have the issue; nothing was written."""

    def __init__(self, number: int, received: int, new: int):
        self.received, self.new = received, new
        follow = (
            P(N_("如需补发，请选择“补发给尚未收到的读者”（%(n)s 人）。"), n=str(new))
            if new
            else P(N_("所选分组里没有尚未收到的读者。"))
        )
        super().__init__(
            P(
                N_(
                    "第 %(number)s 期已发给所选分组中的 %(received)s 位读者（或正在发送），不能再发一次：%(follow)s"
                ),
                number=str(number),
                received=str(received),
                follow=follow,
            )
        )


class NoSuchIssue(SendError):
    """No issue has that number."""

    def __init__(self, number: int):
        super().__init__(P(N_("没有第 %(number)s 期。"), number=str(number)))


class NothingToSend(SendError):
    """Only those who have not received it yet were asked for, and there is nobody."""


class IdempotencyConflict(SendError):
    """The same key came with a different request."""


@dataclass
class Started:
    send: Send
    created: bool = True  # False: the same request again; the existing send
    skipped_received: int = 0  # readers of the groups left out because they had it
    jobs: int = 0
    warning: Phrase | None = None  # created, but the queue could not be reached
    to: list[str] = field(default_factory=list)  # a test send's addresses


def idempotency_digest(scope: str, key: str) -> str:
    """What is stored: a digest of the key within its scope (a person, a token)."""
    return hashlib.sha256(f"{scope}\0{key}".encode()).hexdigest()


def audience(session: Session, number: int, group_codes: list[str]) -> writer.Audience:
    """For the send page: per edition, who would get it now and who already has it."""
    issue_id = session.scalar(select(Issue.id).where(Issue.number == number))
    return writer.audience(session, issue_id, group_codes)


def received_count(session: Session, number: int) -> int:
    issue_id = session.scalar(select(Issue.id).where(Issue.number == number))
    return writer.received_count(session, issue_id) if issue_id is not None else 0


def sent_groups(session: Session, number: int) -> list[str]:
    """The groups earlier real sends of the issue went to (a follow-up's default)."""
    codes: list[str] = []
    for group_codes in session.scalars(
        select(Send.group_codes)
        .join(Issue, Issue.id == Send.issue_id)
        .where(Issue.number == number, Send.is_test.is_(False), Send.status != SendStatus.CANCELLED)
    ):
        codes += [c for c in group_codes or [] if c not in codes]
    return codes


# --- a real send --------------------------------------------------------------------------


def send_issue(
    session: Session,
    config: AppConfig,
    number: int,
    group_codes: list[str],
    *,
    only_new: bool = False,
    scheduled_at: dt.datetime | None = None,
    idempotency_key: str | None = None,
    actor: StaffUser | None = None,
    via: str = "web",
) -> Started:
    """Create a real send of issue `number` to the groups, and queue or schedule it.

    `idempotency_key` is the stored digest (idempotency_digest). Raises SendError (or a
    subclass) with a message a person can act on; then nothing was written.
    """
    settings = PipelineSettings.from_config(config)
    codes = list(dict.fromkeys(group_codes))
    issue_id = _lock_issue(session, number)
    try:
        if idempotency_key:
            existing = _replay(session, idempotency_key, issue_id, codes, only_new, scheduled_at)
            if existing is not None:
                return existing
        issue = session.get(Issue, issue_id)
        assert issue is not None, "_lock_issue found its row and holds it (issues stay)"
        _check_groups(session, codes)
        ensure_sendable(session, issue)  # NotApproved (a SendError) unless approved as is
        _no_pending_schedule(session, issue)
        send = Send(
            issue_id=issue.id,
            group_codes=codes,
            is_test=False,
            status=SendStatus.SCHEDULED if scheduled_at else SendStatus.QUEUED,
            created_by=created_by(actor, via),
            scheduled_at=scheduled_at,
            idempotency_key=idempotency_key,
            only_new=only_new,
        )
        session.add(send)
        session.flush()
        skipped = 0
        if scheduled_at is None:
            written = writer.populate(session, settings, send, issue)
            skipped = written.skipped_received
            if skipped and not only_new:
                raise AlreadyReceived(number, skipped, written.deliveries)
            if only_new and not written.deliveries:
                raise NothingToSend(
                    P(
                        N_("所选分组的读者都已收到第 %(number)s 期，没有需要补发的人。"),
                        number=str(number),
                    )
                )
        elif not only_new:
            reach = writer.audience(session, issue.id, codes)
            if reach.received:
                raise AlreadyReceived(number, reach.received, reach.new)
        session.commit()
    except IntegrityError:
        # The key's unique constraint: the same request committed meanwhile (the lock makes
        # this all but impossible; the constraint is the guarantee).
        session.rollback()
        if not idempotency_key:
            raise
        existing = _replay(session, idempotency_key, issue_id, codes, only_new, scheduled_at)
        if existing is None:
            raise
        return existing
    except Exception:
        session.rollback()
        raise
    started = Started(send, skipped_received=skipped)
    try:
        if scheduled_at is None:
            started.jobs = jobs.enqueue_send(send.id)
        else:
            jobs.schedule_start(send.id, scheduled_at, start_scheduled_job)
    except RedisError as exc:
        log.error("send %s created but not queued: %s", send.id, exc)
        started.warning = P(
            N_(
                "发送 #%(id)s 已创建，但发送队列暂时不可用（%(error)s）；队列恢复后会自动继续（也可运行 flask send resume %(id)s）。"
            ),
            id=str(send.id),
            error=str(exc),
        )
    audit(send, actor, via)
    return started


def reschedule(session: Session, send_id: int, at: dt.datetime) -> None:
    """Move a scheduled send that has not started (at: naive UTC, in the future)."""
    control.reschedule_send(session, send_id, at)
    jobs.schedule_start(send_id, at, start_scheduled_job)


def _lock_issue(session: Session, number: int) -> int:
    """Begin a transaction whose first statement writes the issue's row (see the module
    docstring): concurrent creations of sends of one issue run one after the other."""
    session.commit()  # end any open read: on SQLite the write must start the transaction
    issue_id = session.scalar(
        update(Issue)
        .where(Issue.number == number)
        .values(updated_at=Issue.updated_at)  # a no-op write (and no onupdate bump)
        .returning(Issue.id)
        .execution_options(synchronize_session=False)
    )
    if issue_id is None:
        session.rollback()
        raise NoSuchIssue(number)
    return issue_id


def _replay(
    session: Session,
    key: str,
    issue_id: int,
    codes: list[str],
    only_new: bool,
    scheduled_at: dt.datetime | None,
) -> Started | None:
    existing = session.scalar(select(Send).where(Send.idempotency_key == key))
    if existing is None:
        return None
    session.commit()  # releases the lock
    if (
        existing.issue_id != issue_id
        or list(existing.group_codes or []) != codes
        or existing.only_new != only_new
        or existing.scheduled_at != scheduled_at
    ):
        raise IdempotencyConflict(
            P(
                N_(
                    "这个请求标识已用于另一个发送（#%(id)s），内容不同：请重新打开发送页面，或在 API 中使用新的 Idempotency-Key。"
                ),
                id=str(existing.id),
            )
        )
    return Started(existing, created=False)


def _check_groups(session: Session, group_codes: list[str]) -> None:
    if not group_codes:
        raise SendError(P(N_("请至少选择一个分组。")))
    known = set(session.scalars(select(Group.code).where(Group.code.in_(group_codes))))
    unknown = [c for c in group_codes if c not in known]
    if unknown:
        raise SendError(P(N_("没有这些分组：%(codes)s"), codes="、".join(unknown)))


def _no_pending_schedule(session: Session, issue: Issue) -> None:
    pending = session.scalar(
        select(Send)
        .where(
            Send.issue_id == issue.id, Send.is_test.is_(False), Send.status == SendStatus.SCHEDULED
        )
        .limit(1)
    )
    if pending is not None:
        raise SendError(
            P(
                N_("第 %(number)s 期已有定时发送 #%(id)s：请先改期或取消它，再另行发送。"),
                number=str(issue.number),
                id=str(pending.id),
            )
        )


def created_by(actor: StaffUser | None, via: str) -> str:
    return actor.email if actor is not None else via


# --- the schedule -------------------------------------------------------------------------


def start_scheduled(session: Session, settings: PipelineSettings, send_id: int) -> bool:
    """Turn a due scheduled send into a queued one with its deliveries; False if it is
    not (or no longer) due: moved, cancelled, or already started by another process.
    Readers who got the issue meanwhile are skipped; a send left with nobody is done."""
    issue_number = session.scalar(
        select(Issue.number).join(Send, Send.issue_id == Issue.id).where(Send.id == send_id)
    )
    if issue_number is None:
        return False
    _lock_issue(session, issue_number)
    claimed = tables.changed(
        session,
        update(Send)
        .where(
            Send.id == send_id, Send.status == SendStatus.SCHEDULED, Send.scheduled_at <= utcnow()
        )
        .values(status=SendStatus.QUEUED)
        .execution_options(synchronize_session=False),
    )
    if not claimed:
        session.rollback()
        return False
    send = session.get(Send, send_id, populate_existing=True)
    assert send is not None, "the UPDATE above just claimed it (sends are never deleted)"
    try:
        ensure_sendable(session, send.issue)  # changed since it was scheduled? then not
    except NotApproved as exc:
        send.status, send.finished_at = SendStatus.CANCELLED, utcnow()
        session.commit()
        log.warning("scheduled send %s cancelled at start: %s", send_id, exc)
        return False
    try:
        written = writer.populate(session, settings, send, send.issue)
        if not written.deliveries:
            send.status, send.finished_at = SendStatus.DONE, utcnow()
        session.commit()
    except Exception:
        session.rollback()
        raise
    if written.skipped_received:
        log.info(
            "scheduled send %s skipped %s readers who already had the issue",
            send_id,
            written.skipped_received,
        )
    return bool(written.deliveries)


def start_scheduled_job(send_id: int) -> dict[str, object]:
    """The RQ job RQ's scheduler runs at the send's time."""
    app = jobs.app_for_job()
    with app.app_context():
        settings = PipelineSettings.from_config(app.config)
        started = start_scheduled(db.session, settings, send_id)
        enqueued = jobs.enqueue_send(send_id) if started else 0
        db.session.remove()
    return {"started": started, "jobs": enqueued}


def start_due(session: Session, config: AppConfig) -> list[int]:
    """The sweep's fallback for a scheduled job lost with Redis: the database says it is due."""
    settings = PipelineSettings.from_config(config)
    started: list[int] = []
    for send_id in lookups.due_scheduled(session, utcnow()):
        if start_scheduled(session, settings, send_id):
            jobs.enqueue_send(send_id)
            started.append(send_id)
    return started


# --- audit ----------------------------------------------------------------------------------


def audit(send: Send, actor: StaffUser | None, via: str, recipients: int | None = None) -> None:
    """One entry per send whichever door it came through (staff.audit_text's sentences)."""
    try:
        audit_text.record_send(
            send, recipients=recipients, actor=actor, via=None if via in ("web", "api") else via
        )
    except Exception:  # noqa: BLE001 - the send exists; a lost audit line must not hide it
        db.session.rollback()
        log.exception("audit entry for send %s not written", send.id)
