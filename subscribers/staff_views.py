"""Staff pages for subscribers (role EDITOR): list, subscriber page, bulk group changes,
CSV import with progress, CSV and JSON export, erasure, the suppression list."""

from __future__ import annotations

import json

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy import select

from newsletter.display import say
from newsletter.extensions import db
from newsletter.staff import audit
from newsletter.staff.auth import role_required
from newsletter.staff.forms import form_errors
from newsletter.staff.models import Role
from newsletter.timeutil import utcnow
from subscribers import admin, forms, importread, jobs
from subscribers.models import Group, Subscriber, SubscriberImport
from subscribers.suppression import lift_wave

bp = Blueprint("subscribers", __name__, url_prefix="/staff/subscribers")


@bp.errorhandler(CSRFError)
def _csrf_error(exc):
    return render_template(
        "subscribers/message.html",
        title=_("表单已过期"),
        body=_("表单已过期或缺少安全校验，请返回刷新页面后重新提交。"),
    ), 400


def _filter_from_args() -> admin.ListFilter:
    status = request.args.get("status", "")
    return admin.ListFilter(
        q=request.args.get("q", "")[:200],
        group=request.args.get("group", ""),
        status=status if status in admin.STATUSES else "",
    )


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() else None


def _all_groups() -> list[Group]:
    return list(db.session.scalars(select(Group).order_by(Group.position)))


@bp.get("/")
@role_required(Role.EDITOR)
def index():
    """The subscriber list: search, filters, keyset paging, bulk group form."""
    f = _filter_from_args()
    page = admin.list_page(db.session, f, before=_int_arg("before"), after=_int_arg("after"))
    groups = _all_groups()
    bulk = forms.BulkGroupForm()
    bulk.group.choices = forms.choices((g.code, g.name) for g in groups)
    return render_template(
        "subscribers/staff/list.html",
        page=page,
        f=f,
        groups=groups,
        statuses=admin.STATUSES,
        bulk=bulk,
        names=admin.group_names(db.session, [s.id for s in page.rows]),
        now=utcnow(),
    )


@bp.post("/bulk")
@role_required(Role.EDITOR)
def bulk():
    """Add the chosen (or all filtered) subscribers to a group, or remove them."""
    form = forms.BulkGroupForm()
    form.group.choices = forms.choices((g.code, g.name) for g in _all_groups())
    f = admin.ListFilter(
        q=request.form.get("q", "")[:200],
        group=request.form.get("fgroup", ""),
        status=request.form.get("fstatus", ""),
    )
    back = url_for(
        "subscribers.index", q=f.q or None, group=f.group or None, status=f.status or None
    )
    if not form.validate():
        flash(
            _(
                "批量操作未执行：%(errors)s",
                errors="；".join(form_errors(form)),
            ),
            "error",
        )
        return redirect(back)
    ids = [int(i) for i in request.form.getlist("ids") if i.isdigit()]
    if form.scope.data == "selected" and not ids:
        flash(_("请先勾选订阅者，或选择“当前筛选的全部订阅者”。"), "error")
        return redirect(back)
    try:
        n = admin.bulk_group(
            db.session,
            form.group.data,
            form.action.data,
            ids=ids if form.scope.data == "selected" else None,
            f=f if form.scope.data == "filter" else None,
        )
    except admin.AdminError as exc:
        flash(say(exc.phrase), "error")
        return redirect(back)
    flash(_("已处理 %(n)s 位订阅者。", n=n), "success")
    return redirect(back)


@bp.get("/export.csv")
@role_required(Role.EDITOR)
def export_csv():
    """The filtered list as CSV (streamed, so 100 k rows never sit in memory)."""
    f = _filter_from_args()
    stamp = utcnow().strftime("%Y%m%d-%H%M")
    return Response(
        stream_with_context(admin.export_csv(db.session, f)),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="subscribers-{stamp}.csv"'},
    )


@bp.route("/<int:subscriber_id>", methods=["GET", "POST"])
@role_required(Role.EDITOR)
def detail(subscriber_id: int):
    """One subscriber: groups (editable), preferences, delivery history."""
    sub = db.get_or_404(Subscriber, subscriber_id)
    groups_form = forms.StaffGroupsForm()
    groups_form.groups.choices = forms.choices((g.code, g.name) for g in _all_groups())
    if request.method == "POST":
        if groups_form.validate():
            try:
                admin.set_groups(db.session, sub, groups_form.groups.data or [])
            except admin.AdminError as exc:
                flash(say(exc.phrase), "error")
            else:
                flash(_("分组已更新。"), "success")
                return redirect(url_for("subscribers.detail", subscriber_id=sub.id))
        status = 400
    else:
        groups_form.groups.data = [g.code for g in sub.groups]
        status = 200
    return render_template(
        "subscribers/staff/detail.html",
        sub=sub,
        groups_form=groups_form,
        erase_form=forms.EraseForm(),
        now=utcnow(),
        suppressed=admin.suppression_of(db.session, sub.email),
        history=admin.delivery_history(db.session, sub.id),
    ), status


@bp.get("/<int:subscriber_id>/export.json")
@role_required(Role.EDITOR)
def export_json(subscriber_id: int):
    """Everything stored about this subscriber, as a JSON download."""
    sub = db.get_or_404(Subscriber, subscriber_id)
    body = json.dumps(admin.export_subscriber(db.session, sub), ensure_ascii=False, indent=2)
    return Response(
        body,
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="subscriber-{sub.id}.json"'},
    )


@bp.post("/<int:subscriber_id>/erase")
@role_required(Role.EDITOR)
def erase(subscriber_id: int):
    """Delete the personal data; the address stays suppressed as a hash."""
    sub = db.get_or_404(Subscriber, subscriber_id)
    form = forms.EraseForm()
    if not form.validate() or form.confirm_email.data.strip().lower() != sub.email:
        flash(_("未删除：请准确输入该订阅者的邮箱地址以确认。"), "error")
        return redirect(url_for("subscribers.detail", subscriber_id=sub.id))
    admin.erase(db.session, sub)
    flash(_("已删除该订阅者的个人数据，地址已加入屏蔽名单。"), "success")
    return redirect(url_for("subscribers.index"))


# --- import ------------------------------------------------------------------------------------


def _import_form() -> forms.ImportForm:
    form = forms.ImportForm()
    form.default_group.choices = forms.choices(
        [("", _("（不指定：这些行将被跳过）"))] + [(g.code, g.name) for g in _all_groups()]
    )
    return form


@bp.route("/import", methods=["GET", "POST"])
@role_required(Role.EDITOR)
def import_csv():
    """Upload a CSV; small files are imported at once, large ones in the background."""
    form = _import_form()
    recent = db.session.scalars(
        select(SubscriberImport).order_by(SubscriberImport.id.desc()).limit(10)
    ).all()
    if request.method == "GET":
        return render_template("subscribers/staff/import.html", form=form, recent=recent)
    if not form.validate():
        return render_template("subscribers/staff/import.html", form=form, recent=recent), 400
    limit = current_app.config["SUBSCRIBER_IMPORT_MAX_BYTES"]
    data = form.file.data.read(limit + 1)
    error = None
    if len(data) > limit:
        error = _("文件太大（上限 %(mb)s MB），请拆分后分批导入。", mb=limit // (1024 * 1024))
    else:
        try:
            imp = jobs.start_import(
                db.session,
                data,
                form.file.data.filename or "",
                form.mode.data,
                form.default_group.data or None,
                getattr(current_user, "id", None),
            )
        except importread.ImportFileError as exc:
            error = say(exc.phrase)
    if error:
        form.file.errors = [error]
        return render_template("subscribers/staff/import.html", form=form, recent=recent), 400
    return redirect(url_for("subscribers.import_status", import_id=imp.id))


@bp.get("/imports/<int:import_id>")
@role_required(Role.EDITOR)
def import_status(import_id: int):
    """The import's progress bar (polls the JSON below) and, when done, its report."""
    imp = db.get_or_404(SubscriberImport, import_id)
    return render_template("subscribers/staff/import_status.html", imp=imp)


@bp.get("/imports/<int:import_id>.json")
@role_required(Role.EDITOR)
def import_status_json(import_id: int):
    """Progress of one import, for the progress bar."""
    db.session.expire_all()
    imp = db.session.get(SubscriberImport, import_id)
    if imp is None:
        return jsonify(error="no such import"), 404
    return jsonify(
        id=imp.id,
        status=imp.status,
        total=imp.total_rows,
        processed=imp.processed_rows,
        created=imp.created_count,
        updated=imp.updated_count,
        unchanged=imp.unchanged_count,
        skipped=imp.skipped_count,
        mailed=imp.mailed_count,
        message=imp.message,
    )


# --- suppression list ------------------------------------------------------------------------


@bp.route("/suppressions", methods=["GET", "POST"])
@role_required(Role.EDITOR)
def suppressions():
    """The suppression list (hashes only), a look-up by address, and a manual entry."""
    add_form = forms.SuppressForm()
    lookup = forms.SuppressionLookupForm(request.args)
    status = 200
    if request.method == "POST":
        if add_form.validate():
            admin.suppress(db.session, add_form.email.data, add_form.detail.data or "")
            flash(_("已加入屏蔽名单。"), "success")
            return redirect(url_for("subscribers.suppressions"))
        status = 400
    found = None
    if lookup.lookup.data:
        found = ("yes", admin.suppression_of(db.session, lookup.lookup.data.strip().lower()))
    reason = request.args.get("reason", "")
    rows, next_before, total = admin.suppression_page(db.session, reason, _int_arg("before"))
    return render_template(
        "subscribers/staff/suppressions.html",
        rows=rows,
        total=total,
        next_before=next_before,
        reason=reason,
        add_form=add_form,
        lookup=lookup,
        found=found,
    ), status


@bp.route("/suppressions/lift", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def lift_suppressions():
    """Undo a mistaken wave: preview how many suppressions one send (or cause) created,
    then lift them, confirming exactly the count that was shown; audited."""
    posted = request.method == "POST"
    form = (
        forms.LiftForm(request.form)
        if posted
        else forms.LiftForm(request.args, meta={"csrf": False})
    )
    preview, status = None, 200
    asked = posted or bool(request.args)
    if asked and form.validate():
        wave = {"send_id": form.send_id.data, "cause": form.cause.data or None}
        preview = lift_wave(db.session, **wave, dry_run=True)
        if posted and form.expected.data == str(preview.suppressions):
            done = lift_wave(db.session, **wave)
            audit.record(
                "suppressions.lift",
                f"send {done.send_id}" if done.send_id else f"cause {done.cause}",
                done.describe(),
            )
            flash(
                _(
                    "已解除 %(n)s 条屏蔽，%(m)s 位订阅者恢复原状态。",
                    n=done.suppressions,
                    m=done.restored,
                ),
                "success",
            )
            return redirect(url_for("subscribers.suppressions"))
        if posted:
            flash(
                _("数量已变化（现在是 %(n)s 条），请核对后再确认。", n=preview.suppressions),
                "warning",
            )
            status = 409
        form.expected.data = str(preview.suppressions)
    elif asked:
        status = 400
    return render_template(
        "subscribers/staff/suppressions_lift.html", form=form, preview=preview
    ), status
