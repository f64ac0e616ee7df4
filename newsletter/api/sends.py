"""API sends (create, schedule, status/progress, pause, resume, cancel) and reports."""

from __future__ import annotations

from flask import request
from sqlalchemy import select

from newsletter.api.core import (
    MAX_ID,
    ApiError,
    actor,
    bp,
    code_list,
    config,
    datetime_field,
    iso,
    json_body,
    missing_fields,
    no_groups,
    not_bool,
    page_args,
    paged,
    record,
    scope_required,
)
from newsletter.delivery import control, jobs, pipeline
from newsletter.delivery.models import Send
from newsletter.extensions import db
from newsletter.phrase import N_, P, Phrase
from newsletter.sends import service
from newsletter.staff.models import Role
from newsletter.timeutil import utcnow
from subscribers.models import Group


def send_out(send: Send) -> dict:
    p = control.progress(db.session, send.id)
    return {
        "id": send.id,
        "issue": send.issue.number,
        "status": send.status,
        "groups": list(send.group_codes or []),
        "is_test": send.is_test,
        "created_by": send.created_by,
        "created_at": iso(send.created_at),
        "scheduled_at": iso(send.scheduled_at),
        "started_at": iso(send.started_at),
        "finished_at": iso(send.finished_at),
        "progress": {
            k: p[k]
            for k in (
                "total",
                "sent",
                "failed",
                "deferred",
                "cancelled",
                "remaining",
                "rate_per_second",
                "recent_rate_per_second",
                "eta_seconds",
            )
        },
    }


def _not_a_number() -> Phrase:
    return P(N_("issue 必须是期号"))


def _send(send_id: int) -> Send:
    send = db.session.get(Send, send_id, populate_existing=True) if send_id <= MAX_ID else None
    if send is None:
        raise ApiError(404, P(N_("没有发送 #%(id)s。"), id=str(send_id)))
    return send


@bp.get("/sends")
@scope_required()
def sends_list():
    """Sends, newest first; ?issue=NUMBER narrows to one issue."""
    limit, after = page_args()
    query = select(Send).order_by(Send.id.desc())
    issue = request.args.get("issue")
    if issue is not None:
        if not issue.isdigit() or not 0 < int(issue) <= MAX_ID:
            raise ApiError(400, _not_a_number())
        from newsletter.bulletin.models import Issue

        query = query.join(Issue, Issue.id == Send.issue_id).where(Issue.number == int(issue))
    if after is not None:
        query = query.where(Send.id < after)
    rows = list(db.session.scalars(query.limit(limit + 1)))
    return paged(rows, limit, lambda s: s.id, send_out)


IDEMPOTENCY_HEADER = "Idempotency-Key"


@bp.post("/sends")
@scope_required(Role.SENDER)
def sends_create():
    """Send an approved issue to groups now, or at `scheduled_at`.

    An `Idempotency-Key` header makes a retry safe: the same key again answers with the
    send it created. A send that would reach readers who already have the issue is refused
    (409 already_received) unless `only_new` asks for only those who have not.
    """
    body = json_body({"issue", "groups", "scheduled_at", "only_new"}, {"issue"})
    number = body["issue"]
    if not isinstance(number, int) or isinstance(number, bool) or not 0 < number <= MAX_ID:
        raise ApiError(400, _not_a_number())
    codes = code_list(body, "groups")
    if codes is None:
        codes = list(db.session.scalars(select(Group.code).order_by(Group.position)))
    if not codes:
        raise ApiError(400, no_groups())
    only_new = body.get("only_new", False)
    if not isinstance(only_new, bool):
        raise ApiError(400, not_bool("only_new"))
    at = datetime_field(body, "scheduled_at")
    if at is not None and at <= utcnow():
        raise ApiError(422, P(N_("scheduled_at 已经过去")))
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is not None and not (0 < len(key) <= 255 and key.isprintable() and key.isascii()):
        raise ApiError(
            400,
            P(N_("%(header)s 必须是 1 到 255 个可打印 ASCII 字符"), header=IDEMPOTENCY_HEADER),
        )
    try:
        started = service.send_issue(
            db.session,
            config(),
            number,
            codes,
            only_new=only_new,
            scheduled_at=at,
            idempotency_key=service.idempotency_digest(f"api:{actor().id}", key) if key else None,
            actor=actor(),
            via="api",
        )
    except pipeline.SendError as exc:
        db.session.rollback()
        raise _send_error(exc) from None
    headers = {"Idempotent-Replayed": "true"} if not started.created else {}
    return send_out(started.send), 201, headers


def _send_error(exc: pipeline.SendError) -> ApiError:
    from newsletter.review.service import NotApproved

    if isinstance(exc, service.NoSuchIssue):
        return ApiError(404, exc.phrase)
    if isinstance(exc, NotApproved):
        return ApiError(422, exc.phrase, "not_approved")
    if isinstance(exc, service.AlreadyReceived):
        return ApiError(409, exc.phrase, "already_received")
    if isinstance(exc, service.IdempotencyConflict):
        return ApiError(422, exc.phrase, "idempotency_key_reused")
    return ApiError(422, exc.phrase)


@bp.get("/sends/<int:send_id>")
@scope_required()
def sends_get(send_id: int):
    """A send with its live progress."""
    return send_out(_send(send_id))


@bp.post("/sends/<int:send_id>/<any(pause, resume, cancel):action>")
@scope_required(Role.SENDER)
def sends_control(send_id: int, action: str):
    send = _send(send_id)
    try:
        jobs.control_send(send_id, action)
    except pipeline.SendError as exc:
        raise ApiError(409, exc.phrase) from exc
    record(f"send.{action}", f"send:{send_id}")
    return send_out(_send(send.id))


@bp.post("/sends/<int:send_id>/schedule")
@scope_required(Role.SENDER)
def sends_schedule(send_id: int):
    """Move a scheduled send that has not started."""
    _send(send_id)
    body = json_body({"scheduled_at"}, {"scheduled_at"})
    at = datetime_field(body, "scheduled_at")
    if at is None:
        raise ApiError(400, missing_fields("scheduled_at"))
    try:
        service.reschedule(db.session, send_id, at)
    except pipeline.SendError as exc:
        status = 409 if isinstance(exc, control.StateConflict) else 422
        raise ApiError(status, exc.phrase) from exc
    record("send.rescheduled", f"send:{send_id}", {"scheduled_at": iso(at)})
    return send_out(_send(send_id))


@bp.get("/reports/sends/<int:send_id>")
@scope_required()
def reports_send(send_id: int):
    """Delivery and engagement totals of a send, overall and per edition."""
    from newsletter.reports import sendreport

    _send(send_id)

    def totals(t) -> dict:
        return {
            "key": t.key,
            "total": t.total,
            "delivered": t.delivered,
            "failed": t.failed,
            "bounced": t.bounced,
            "unique_opens": t.unique_opens,
            "opens": t.opens,
            "unique_clicks": t.unique_clicks,
            "clicks": t.clicks,
            "unsubscribes": t.unsubscribes,
            "complaints": t.complaints,
            "delivered_rate": t.delivered_rate,
            "open_rate": t.open_rate,
            "click_rate": t.click_rate,
            "bounce_rate": t.bounce_rate,
        }

    return {
        "send_id": send_id,
        "totals": totals(sendreport.send_totals(db.session, send_id)),
        "by_edition": [totals(t) for t in sendreport.by_edition(db.session, send_id)],
    }
