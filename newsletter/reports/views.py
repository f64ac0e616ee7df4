"""Report pages for staff: per send, across issues, list growth, per subscriber; CSV."""

from __future__ import annotations

import csv
import io
import re

from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user
from sqlalchemy import select

from newsletter.delivery.models import Send
from newsletter.display import LABELS, label, when
from newsletter.extensions import db
from newsletter.reports import history, sendreport
from newsletter.staff.auth import role_required
from newsletter.staff.models import Role
from subscribers.models import Subscriber, normalise_email

bp = Blueprint("reports", __name__, url_prefix="/reports")
STAFF = (Role.REVIEWER, Role.SENDER, Role.EDITOR)
# Readers' addresses and names: only for the role that manages subscribers (and admins).
# Reviewers and senders see counts, reasons and masked addresses.
PEOPLE = (Role.EDITOR,)


def mask_email(address: str) -> str:
    """'reader@example.org' -> 'r***@example.org': which domain failed, not who."""
    local, _, domain = (address or "").partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


_EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def mask_emails(text: str) -> str:
    return _EMAIL_RE.sub(lambda m: mask_email(m.group(0)), text)


def _sees_people() -> bool:
    return current_user.has_role(*PEOPLE)


EDITION_NAMES = LABELS["edition"]


def _tz() -> str:
    return current_app.config["BABEL_DEFAULT_TIMEZONE"]


@bp.get("/")
@role_required(*STAFF)
def index():
    """Recent sends, trends over 52 weeks, list growth, subscriber lookup."""
    return render_template(
        "reports/index.html",
        sends=history.recent_sends(db.session),
        trends=history.trends(db.session, tz=_tz()),
        growth=history.list_growth(db.session),
    )


@bp.get("/sends/<int:send_id>")
@role_required(*STAFF)
def send_report(send_id: int):
    """One send: totals and rates, by edition and group, timeline, top links, failures."""
    send = db.get_or_404(Send, send_id)
    rows, reasons = sendreport.failures(db.session, send_id)
    if not _sees_people():  # the address, also where a server's reply quotes it, is masked
        rows = [
            {**r, "email": mask_email(r["email"]), "reason": mask_emails(r["reason"] or "")}
            for r in rows
        ]
        reasons = [(mask_emails(reason), n) for reason, n in reasons]
    return render_template(
        "reports/send.html",
        send=send,
        totals=sendreport.send_totals(db.session, send_id),
        editions=sendreport.by_edition(db.session, send_id),
        groups=sendreport.by_group(db.session, send_id),
        timeline=sendreport.timeline(db.session, send),
        links=sendreport.top_links(db.session, send_id),
        failures=rows,
        reasons=reasons,
        edition_names=EDITION_NAMES,
    )


@bp.get("/sends/<int:send_id>.csv")
@role_required(*PEOPLE)
def send_csv(send_id: int):
    """Every delivery of the send with its outcome, as CSV (UTF-8 with BOM, for Excel)."""
    send = db.get_or_404(Send, send_id)
    header = [
        "邮箱",
        "姓名",
        "版本",
        "状态",
        "发送时间",
        "打开次数",
        "首次打开",
        "点击次数",
        "点击的链接",
        "软退信",
        "错误",
    ]

    def generate():
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(header)
        yield "\ufeff" + buf.getvalue()
        for d, s in sendreport.delivery_rows(db.session, send_id):
            buf.seek(0)
            buf.truncate()
            writer.writerow(
                [
                    _csv_safe(d.email),
                    _csv_safe(d.name),
                    label("edition", d.edition),
                    label("delivery", d.state),
                    when(d.sent_at),
                    s["opens"],
                    when(s["first_open"]),
                    s["clicks"],
                    " ".join(str(n) for n in sorted(s["links"])),
                    s["soft"],
                    _csv_safe(d.last_error or ""),
                ]
            )
            yield buf.getvalue()

    filename = f"send-{send.id}-issue-{send.issue.number}.csv"
    # The rows are read while the response streams, after the view returned: the app
    # context (database session, config for the time zone) must stay for the generator.
    return Response(
        stream_with_context(generate()),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _csv_safe(value: str) -> str:
    # a cell starting with = + - @ is a formula to Excel: neutralise it
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@bp.get("/subscribers")
@role_required(*PEOPLE)
def subscriber_lookup():
    """Find a subscriber by email and go to their history."""
    email = normalise_email(request.args.get("email", ""))
    sub = db.session.scalar(select(Subscriber).where(Subscriber.email == email)) if email else None
    if sub is None:
        return render_template(
            "reports/subscriber.html",
            subscriber=None,
            history=[],
            email=email,
            not_found=bool(email),
        ), 404 if email else 200
    return redirect(url_for("reports.subscriber_report", subscriber_id=sub.id))


@bp.get("/subscribers/<int:subscriber_id>")
@role_required(*PEOPLE)
def subscriber_report(subscriber_id: int):
    """One subscriber's deliveries with their events."""
    sub = db.get_or_404(Subscriber, subscriber_id)
    return render_template(
        "reports/subscriber.html",
        subscriber=sub,
        email=sub.email,
        history=history.subscriber_history(db.session, subscriber_id),
        not_found=False,
        edition_names=EDITION_NAMES,
    )
