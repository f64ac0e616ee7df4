"""Send pages: choose groups and see who gets which edition, confirm or schedule; watch
progress live; pause, resume, cancel, reschedule."""

from __future__ import annotations

import datetime as dt
import secrets
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateTimeLocalField, HiddenField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from newsletter.bulletin.models import Issue
from newsletter.delivery import control, jobs, pipeline, planning
from newsletter.delivery.models import Send
from newsletter.display import say
from newsletter.extensions import db
from newsletter.sends import service
from newsletter.staff.auth import role_required
from newsletter.staff.forms import form_errors
from newsletter.staff.models import Role
from newsletter.timeutil import to_local, utcnow
from subscribers.models import Group

bp = Blueprint("sends", __name__)


class SendForm(FlaskForm):
    groups = SelectMultipleField(
        _l("分组"),
        validators=[DataRequired(_l("请至少选择一个分组。"))],
        option_widget=CheckboxInput(),
        widget=ListWidget(prefix_label=False),
    )
    scheduled_at = DateTimeLocalField(
        _l("定时发送（北京时间，可留空立即发送）"), format="%Y-%m-%dT%H:%M", validators=[Optional()]
    )
    action = StringField()
    # A one-time nonce made when the form is first shown: a double click, a resubmitted
    # page or a second tab posting the same form create one send (sends.service).
    nonce = HiddenField()


class RescheduleForm(FlaskForm):
    scheduled_at = DateTimeLocalField(
        _l("新的发送时间（北京时间）"),
        format="%Y-%m-%dT%H:%M",
        validators=[DataRequired(_l("请填写时间。"))],
    )


def _tz() -> ZoneInfo:
    return ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])


def _issue_or_404(number: int) -> Issue:
    return db.first_or_404(select(Issue).where(Issue.number == number))


@bp.route("/issues/<int:number>/send", methods=["GET", "POST"])
@role_required(Role.SENDER)
def new_send(number: int):
    """Choose groups; 'preview' counts the audience per edition, 'confirm' sends or schedules.
    An issue some readers already have offers only the follow-up to those who have not."""
    issue = _issue_or_404(number)
    groups = db.session.scalars(select(Group).order_by(Group.position)).all()
    form = SendForm()
    form.groups.choices = [(g.code, f"{g.distribution}：{g.name}") for g in groups]
    received = service.received_count(db.session, number)
    if request.method == "GET":
        form.groups.data = service.sent_groups(db.session, number) or [g.code for g in groups]
        form.nonce.data = secrets.token_urlsafe(18)
    audience = forecast = None

    def page(status: int = 200):
        return render_template(
            "sends/new.html",
            issue=issue,
            form=form,
            audience=audience,
            received=received,
            forecast=forecast,
        ), status

    if form.validate_on_submit():
        audience = service.audience(db.session, number, form.groups.data)
        forecast = planning.forecast_or_none(
            db.session,
            current_app.config,
            jobs.redis_connection(current_app.config),
            form.groups.data,
        )
        if form.action.data in ("confirm", "confirm_new"):
            at = None
            if form.scheduled_at.data:
                at = form.scheduled_at.data.replace(tzinfo=_tz()).astimezone(dt.UTC)
                at = at.replace(tzinfo=None)
                if at <= utcnow():
                    form.scheduled_at.errors.append(_("定时发送的时间已经过去。"))
                    return page(400)
            key = (
                service.idempotency_digest(f"form:{current_user.id}", form.nonce.data)
                if form.nonce.data
                else None
            )
            try:
                started = service.send_issue(
                    db.session,
                    current_app.config,
                    number,
                    form.groups.data,
                    only_new=form.action.data == "confirm_new",
                    scheduled_at=at,
                    idempotency_key=key,
                    actor=current_user._get_current_object(),
                )
            except pipeline.SendError as exc:
                flash(say(exc.phrase), "error")
                audience = service.audience(db.session, number, form.groups.data)
                return page(400 if not isinstance(exc, service.AlreadyReceived) else 409)
            if started.warning:
                flash(say(started.warning), "warning")
            elif not started.created:
                flash(
                    _(
                        "这张表单已经提交过：发送 #%(id)s 已在进行，没有再发一次。",
                        id=started.send.id,
                    ),
                    "info",
                )
            return redirect(url_for("sends.detail", send_id=started.send.id))
    elif request.method == "POST":
        return page(400)
    return page()


@bp.get("/sends")
@role_required()
def send_list():
    """Every send, newest first."""
    sends = db.session.scalars(select(Send).order_by(Send.id.desc()).limit(200)).all()
    return render_template("sends/list.html", sends=sends, to_local=to_local)


@bp.get("/sends/<int:send_id>")
@role_required()
def detail(send_id: int):
    """A send's progress (live), with its controls."""
    send = db.get_or_404(Send, send_id)
    progress = control.progress(db.session, send_id)
    form = RescheduleForm()
    if send.scheduled_at:
        form.scheduled_at.data = to_local(send.scheduled_at, str(_tz())).replace(tzinfo=None)
    names = dict(db.session.execute(select(Group.code, Group.name)).all())
    group_names = [names.get(code, code) for code in send.group_codes]
    return render_template(
        "sends/detail.html",
        send=send,
        progress=progress,
        form=form,
        to_local=to_local,
        group_names=group_names,
    )


@bp.get("/sends/<int:send_id>/progress.json")
@role_required()
def progress_json(send_id: int):
    """Progress as JSON: counts, rate, ETA."""
    db.get_or_404(Send, send_id)
    return jsonify(control.progress(db.session, send_id))


@bp.post("/sends/<int:send_id>/<action>")
@role_required(Role.SENDER)
def act(send_id: int, action: str):
    """Pause, resume, cancel or reschedule (POST with the CSRF token)."""
    db.get_or_404(Send, send_id)
    form = RescheduleForm() if action == "reschedule" else FlaskForm()
    if not form.validate_on_submit():
        flash("；".join(form_errors(form)) or _("表单无效。"), "error")
        return redirect(url_for("sends.detail", send_id=send_id))
    try:
        if action in jobs.CONTROL_ACTIONS:
            jobs.control_send(send_id, action)
        elif action == "reschedule":
            at = (
                form.scheduled_at.data.replace(tzinfo=_tz()).astimezone(dt.UTC).replace(tzinfo=None)
            )
            service.reschedule(db.session, send_id, at)
        else:
            abort(404)
    except pipeline.SendError as exc:
        flash(say(exc.phrase), "error")
    return redirect(url_for("sends.detail", send_id=send_id))
