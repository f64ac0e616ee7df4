"""The audit log: who did what, when, from where. Append-only.

`record(action, target, detail)` writes one entry (and commits it: call it after the
action's own commit). Staff views of other features need not call it: `audit_request`
runs after every request and records each state-changing request (POST/PUT/PATCH/DELETE)
made by logged-in staff that did not record an entry itself, and each export of personal
data (AUDITED_READS), with the endpoint, the URL arguments, the query string's names, the
names (never the values) of the submitted fields, and any error flashed.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from flask import has_request_context, request, session
from flask_login import current_user
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from newsletter.extensions import db
from newsletter.staff.models import AuditEntry, StaffUser

PER_PAGE = 50
# Per-request marks live in the WSGI environ, not in `g`: tests reuse one app context
# (and so one `g`) across many requests.
API_USER = "newsletter.api_user"
VIA = "newsletter.audit_via"
RECORDED = "newsletter.audit_recorded"
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
# Reads that hand personal data out of the system are staff actions too.
AUDITED_READS = {"subscribers.export_csv", "subscribers.export_json", "reports.send_csv"}
# Field names whose values are never stored (the generic entry keeps names only anyway).
SECRET_FIELDS = {"csrf_token", "password", "password2", "new_password", "confirm", "token"}


def _clip(value: object, limit: int = 500) -> object:
    if isinstance(value, str):
        return value[:limit]
    if isinstance(value, dict):
        return {str(k)[:64]: _clip(v, limit) for k, v in list(value.items())[:50]}
    if isinstance(value, (list, tuple)):
        return [_clip(v, limit) for v in list(value)[:100]]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)[:limit]


def current_actor() -> StaffUser | None:
    """The staff member behind this request: the API token's owner, or the session's."""
    if not has_request_context():
        return None
    api_user = request.environ.get(API_USER)
    if api_user is not None:
        return api_user
    if current_user and current_user.is_authenticated:
        return current_user._get_current_object()
    return None


def record(
    action: str,
    target: str = "",
    detail: dict | None = None,
    *,
    actor: StaffUser | None = None,
    actor_email: str = "",
    via: str | None = None,
    commit: bool = True,
) -> AuditEntry:
    """Append one entry; in a request, who and from where come from the request."""
    actor = actor if actor is not None else current_actor()
    entry = AuditEntry(
        action=action[:64],
        target=str(target)[:200],
        detail=_clip(detail or {}),
        actor_id=actor.id if actor is not None else None,
        actor_email=(actor.email if actor is not None else actor_email)[:320],
    )
    if has_request_context():
        entry.ip = (request.remote_addr or "")[:64]
        entry.user_agent = (request.user_agent.string or "")[:300]
        entry.via = via or request.environ.get(VIA, "web")
        request.environ[RECORDED] = True
    else:
        entry.via = via or "cli"
    db.session.add(entry)
    if commit:
        db.session.commit()
    return entry


def audit_request(response: Response) -> Response:
    """after_app_request: the generic entry for staff actions that recorded none."""
    if (
        (request.method not in MUTATING and request.endpoint not in AUDITED_READS)
        or request.environ.get(RECORDED)
        or request.endpoint is None
        or request.blueprint == "api"
        or response.status_code >= 500
    ):
        return response
    actor = current_actor()
    if actor is None:
        return response
    status = response.status_code
    errors = [str(m)[:200] for c, m in session.get("_flashes", []) if c in ("error", "warning")]
    detail: dict[str, object] = {
        "method": request.method,
        "path": request.path[:200],
        "status": status,
    }
    if request.args:
        detail["query"] = sorted(request.args)[:20]
    try:  # the body may be unreadable (too large, malformed): then the names are unknown
        # Repeated sub-forms ("sections-3-articles-7-title") collapse to one pattern.
        names = {re.sub(r"-\d+(?=-|$)", "-*", k) for k in request.form if k not in SECRET_FIELDS}
        detail["fields"] = sorted(names)[:30]
        if request.form.get("action") in ("preview", "confirm"):  # counting is not sending
            detail["button"] = request.form["action"]
        if request.files:
            detail["files"] = sorted(request.files.keys())[:10]
    except Exception:  # noqa: BLE001
        detail["fields"] = []
    if errors:
        detail["errors"] = errors

    outcome = "denied" if status in (401, 403) else ("refused" if status >= 400 or errors else "")
    target = ",".join(f"{k}={v}" for k, v in (request.view_args or {}).items())
    try:
        record(request.endpoint + (f":{outcome}" if outcome else ""), target, detail, actor=actor)
    except Exception:
        db.session.rollback()
        import logging

        logging.getLogger(__name__).exception("audit entry not written for %s", request.path)
    return response


# --- reading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""  # part of the email
    action: str = ""  # prefix, e.g. "review." or "api."
    target: str = ""  # part of the target
    via: str = ""
    since: dt.datetime | None = None  # naive UTC
    until: dt.datetime | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        def like(text: str) -> str:
            return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"

        conds: list[ColumnElement[bool]] = []
        if self.actor.strip():
            conds.append(AuditEntry.actor_email.ilike(like(self.actor.strip()), escape="\\"))
        if self.action.strip():
            conds.append(AuditEntry.action.like(like(self.action.strip())[1:], escape="\\"))
        if self.target.strip():
            conds.append(AuditEntry.target.ilike(like(self.target.strip()), escape="\\"))
        if self.via:
            conds.append(AuditEntry.via == self.via)
        if self.since is not None:
            conds.append(AuditEntry.created_at >= self.since)
        if self.until is not None:
            conds.append(AuditEntry.created_at < self.until)
        return conds


def search(
    session: Session, f: AuditFilter, before: int | None = None, per_page: int = PER_PAGE
) -> tuple[list[AuditEntry], int | None, int]:
    """Newest first, keyset-paged by id: (entries, the next page's `before`, total)."""
    conds = f.conditions()
    query = select(AuditEntry).where(*conds)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    rows = list(session.scalars(query.order_by(AuditEntry.id.desc()).limit(per_page + 1)))
    total = session.scalar(select(func.count()).select_from(AuditEntry).where(*conds)) or 0
    more = len(rows) > per_page
    rows = rows[:per_page]
    return rows, (rows[-1].id if more and rows else None), total


def action_names(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)))
