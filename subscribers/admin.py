"""Staff-side work on subscribers: the filtered list (keyset paging), bulk group changes,
CSV and JSON export, erasure, the suppression list. Plain functions taking the session.

The list pages by id (newest first) with `id < before`, so page 2000 of 100 k rows costs
the same as page 1; the group filter uses the (group_id, subscriber_id) index.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import and_, delete, exists, func, insert, literal, or_, select
from sqlalchemy.orm import Session

from newsletter.delivery.models import Delivery, DeliveryEvent, DeliveryState, Send
from newsletter.phrase import N_, P, PhraseError
from newsletter.timeutil import utcnow
from subscribers import service
from subscribers.models import (
    Group,
    Membership,
    Subscriber,
    SubscriberStatus,
    Suppression,
    SuppressionReason,
    email_hash,
)
from subscribers.suppression import suppress_subscriber

PER_PAGE = 50
STATUSES = [s.value for s in SubscriberStatus]
EXPORT_COLUMNS = [
    "email",
    "name",
    "organisation",
    "groups",
    "status",
    "format",
    "sections",
    "locale",
    "paused_until",
    "created_at",
    "confirmed_at",
    "source",
]


class AdminError(PhraseError):
    """A staff request that cannot be done as asked; the message (a phrase) says why."""


@dataclass(frozen=True)
class ListFilter:
    q: str = ""
    group: str = ""
    status: str = ""

    def conditions(self) -> list:
        conds = []
        q = self.q.strip()
        if q:
            pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            conds.append(
                or_(
                    Subscriber.email.ilike(pattern, escape="\\"),
                    Subscriber.name.ilike(pattern, escape="\\"),
                    Subscriber.organisation.ilike(pattern, escape="\\"),
                )
            )
        if self.group:
            conds.append(
                exists().where(
                    Membership.subscriber_id == Subscriber.id,
                    Membership.group_id
                    == select(Group.id).where(Group.code == self.group).scalar_subquery(),
                )
            )
        now = utcnow()
        paused = and_(Subscriber.paused_until.is_not(None), Subscriber.paused_until > now)
        if self.status == SubscriberStatus.PAUSED:
            conds.append(
                or_(
                    Subscriber.status == SubscriberStatus.PAUSED,
                    and_(Subscriber.status == SubscriberStatus.ACTIVE, paused),
                )
            )
        elif self.status == SubscriberStatus.ACTIVE:
            conds.append(and_(Subscriber.status == SubscriberStatus.ACTIVE, ~paused))
        elif self.status:
            conds.append(Subscriber.status == self.status)
        return conds


@dataclass
class Page:
    rows: list[Subscriber]
    total: int
    next_before: int | None  # the "older" page
    prev_after: int | None  # the "newer" page


def list_page(
    session: Session,
    f: ListFilter,
    before: int | None = None,
    after: int | None = None,
    per_page: int = PER_PAGE,
) -> Page:
    conds = f.conditions()
    query = select(Subscriber).where(*conds)
    if after is not None:
        rows = list(
            session.scalars(
                query.where(Subscriber.id > after).order_by(Subscriber.id.asc()).limit(per_page + 1)
            )
        )
        more_newer = len(rows) > per_page
        rows = list(reversed(rows[:per_page]))
        more_older = True
    else:
        if before is not None:
            query = query.where(Subscriber.id < before)
        rows = list(session.scalars(query.order_by(Subscriber.id.desc()).limit(per_page + 1)))
        more_older = len(rows) > per_page
        rows = rows[:per_page]
        more_newer = before is not None
    total = session.scalar(select(func.count()).select_from(Subscriber).where(*conds)) or 0
    return Page(
        rows=rows,
        total=total,
        next_before=rows[-1].id if rows and more_older else None,
        prev_after=rows[0].id if rows and more_newer else None,
    )


def group_names(session: Session, subscriber_ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for sid, name in session.execute(
        select(Membership.subscriber_id, Group.name)
        .join(Group)
        .where(Membership.subscriber_id.in_(subscriber_ids))
        .order_by(Group.position)
    ):
        out.setdefault(sid, []).append(name)
    return out


def _group(session: Session, code: str) -> Group:
    group = session.scalar(select(Group).where(Group.code == code))
    if group is None:
        raise AdminError(P(N_("未知分组：%(names)s"), names=code))
    return group


def bulk_group(
    session: Session,
    code: str,
    action: str,
    *,
    ids: list[int] | None = None,
    f: ListFilter | None = None,
) -> int:
    """Add the chosen (or all filtered) subscribers to a group, or remove them.
    One set-based statement, whatever the number. Returns how many rows changed."""
    group = _group(session, code)
    if ids is not None:
        target = select(Subscriber.id).where(Subscriber.id.in_(ids))
    elif f is not None:
        target = select(Subscriber.id).where(*f.conditions())
    else:
        raise AdminError(P(N_("没有选择订阅者。")))
    if action == "add":
        source = target.where(
            ~exists().where(
                Membership.subscriber_id == Subscriber.id, Membership.group_id == group.id
            )
        )
        source = source.add_columns(literal(group.id), literal(utcnow()))
        result = session.execute(
            insert(Membership).from_select(["subscriber_id", "group_id", "created_at"], source)
        )
    elif action == "remove":
        result = session.execute(
            delete(Membership)
            .where(Membership.group_id == group.id, Membership.subscriber_id.in_(target))
            .execution_options(synchronize_session=False)
        )
    else:
        raise AdminError(P(N_("未知操作：%(action)s"), action=action))
    session.commit()
    return result.rowcount  # type: ignore[attr-defined]  # an UPDATE answers a CursorResult


def set_groups(session: Session, sub: Subscriber, codes: list[str]) -> None:
    """Staff may assign any group, including the staff-only 报 group."""
    wanted = {g.id: g for g in session.scalars(select(Group).where(Group.code.in_(codes)))}
    if len(wanted) != len(set(codes)):
        raise AdminError(P(N_("包含未知分组。")))
    for m in list(sub.memberships):
        if m.group_id not in wanted:
            sub.memberships.remove(m)
    have = {m.group_id for m in sub.memberships}
    sub.memberships += [Membership(group=g) for gid, g in wanted.items() if gid not in have]
    session.commit()


# --- export ------------------------------------------------------------------------------------


def _safe_cell(value) -> str:
    """A cell a spreadsheet will not run as a formula (importread.py takes the ' off)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def export_csv(session: Session, f: ListFilter, page: int = 1000) -> Iterator[str]:
    """The filtered list as CSV text chunks (UTF-8 BOM first, so Excel reads it right)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    yield "\ufeff" + buffer.getvalue()
    conds, last = f.conditions(), None
    while True:
        query = select(Subscriber).where(*conds).order_by(Subscriber.id.desc()).limit(page)
        if last is not None:
            query = query.where(Subscriber.id < last)
        rows = list(session.scalars(query))
        if not rows:
            return
        codes: dict[int, list[str]] = {}
        for sid, code in session.execute(
            select(Membership.subscriber_id, Group.code)
            .join(Group)
            .where(Membership.subscriber_id.in_([r.id for r in rows]))
            .order_by(Group.position)
        ):
            codes.setdefault(sid, []).append(code)
        buffer.seek(0)
        buffer.truncate()
        for s in rows:
            writer.writerow(
                [
                    _safe_cell(v)
                    for v in (
                        s.email,
                        s.name,
                        s.organisation,
                        ";".join(codes.get(s.id, [])),
                        s.status,
                        s.format,
                        ";".join(s.sections) if s.sections is not None else "",
                        s.locale,
                        s.paused_until,
                        s.created_at,
                        s.confirmed_at,
                        s.source,
                    )
                ]
            )
        yield buffer.getvalue()
        last = rows[-1].id
        session.expunge_all()  # keep memory flat across 100 k rows


def _iso(value) -> str | None:
    return value.isoformat() + "Z" if value is not None else None


def export_subscriber(session: Session, sub: Subscriber) -> dict:
    """Everything stored about one subscriber (the data-access request)."""
    deliveries = []
    for d, number in delivery_history(session, sub.id, limit=None):
        events = session.execute(
            select(DeliveryEvent.kind, DeliveryEvent.created_at)
            .where(DeliveryEvent.delivery_id == d.id)
            .order_by(DeliveryEvent.id)
        ).all()
        deliveries.append(
            {
                "issue": number,
                "send_id": d.send_id,
                "edition": d.edition,
                "state": d.state,
                "sent_at": _iso(d.sent_at),
                "events": [{"kind": k, "at": _iso(at)} for k, at in events],
            }
        )
    return {
        "email": sub.email,
        "name": sub.name,
        "organisation": sub.organisation,
        "status": sub.status,
        "locale": sub.locale,
        "format": sub.format,
        "sections": sub.sections,
        "paused_until": _iso(sub.paused_until),
        "tracking_opt_out": sub.tracking_opt_out,
        "source": sub.source,
        "created_at": _iso(sub.created_at),
        "confirmed_at": _iso(sub.confirmed_at),
        "unsubscribed_at": _iso(sub.unsubscribed_at),
        "groups": [{"code": g.code, "name": g.name} for g in sub.groups],
        "suppressed": service.is_suppressed(session, sub.email),
        "deliveries": deliveries,
    }


def delivery_history(session: Session, subscriber_id: int, limit: int | None = 100):
    query = (
        select(Delivery, Send.issue_id)
        .join(Send, Send.id == Delivery.send_id)
        .where(Delivery.subscriber_id == subscriber_id)
        .order_by(Delivery.id.desc())
    )
    if limit:
        query = query.limit(limit)
    from newsletter.bulletin.models import Issue

    numbers = dict(session.execute(select(Issue.id, Issue.number)).all())
    return [(d, numbers.get(issue_id)) for d, issue_id in session.execute(query).all()]


# --- erasure and suppression ---------------------------------------------------------------------


def erase(session: Session, sub: Subscriber) -> None:
    """Delete the subscriber's personal data; keep only the address's hash (suppressed).

    Delivery rows stay for the send statistics, without address or name; those still
    waiting are cancelled so no worker mails the erased address.
    """
    address = sub.email
    service.add_suppression(session, address, SuppressionReason.ERASED)
    deliveries = list(
        session.scalars(
            select(Delivery).where(or_(Delivery.subscriber_id == sub.id, Delivery.email == address))
        )
    )
    for d in deliveries:
        d.email, d.name, d.subscriber_id = f"erased-{d.id}", "", None
        d.smtp_response = _scrub(d.smtp_response, address)
        d.last_error = _scrub(d.last_error, address)
        if d.state in (DeliveryState.QUEUED, DeliveryState.DEFERRED):
            d.state = DeliveryState.CANCELLED
    if deliveries:
        for event in session.scalars(
            select(DeliveryEvent).where(DeliveryEvent.delivery_id.in_([d.id for d in deliveries]))
        ):
            event.detail = _scrub(event.detail, address) or ""
    session.delete(sub)
    session.commit()


def _scrub(text: str | None, address: str) -> str | None:
    if not text:
        return text
    lowered = text.lower()
    while address in lowered:
        i = lowered.index(address)
        text = text[:i] + "[erased]" + text[i + len(address) :]
        lowered = text.lower()
    return text


def suppress(session: Session, address: str, detail: str = "") -> None:
    """Staff add an address to the suppression list (a phone call, a letter)."""
    suppress_subscriber(session, address, SuppressionReason.MANUAL, detail, verdict="manual")


def suppression_page(
    session: Session, reason: str = "", before: int | None = None, per_page: int = PER_PAGE
) -> tuple[list[Suppression], int | None, int]:
    conds = [Suppression.reason == reason] if reason else []
    query = select(Suppression).where(*conds)
    if before is not None:
        query = query.where(Suppression.id < before)
    rows = list(session.scalars(query.order_by(Suppression.id.desc()).limit(per_page + 1)))
    total = session.scalar(select(func.count()).select_from(Suppression).where(*conds)) or 0
    more = len(rows) > per_page
    rows = rows[:per_page]
    return rows, rows[-1].id if more else None, total


def suppression_of(session: Session, address: str) -> Suppression | None:
    return session.scalar(select(Suppression).where(Suppression.email_hash == email_hash(address)))
