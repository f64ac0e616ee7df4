"""Issue pages. Staff: list, the issue page (preview of both editions, test send),
the edit page. Public: the web archive (index and one issue, regular edition only).

Thin views: forms parse the request, `service`/`editing`/`preview`/`archive` do the work.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from newsletter.bulletin import archive, editing, editops, preview
from newsletter.bulletin.forms import IssueEditForm, SendTestForm
from newsletter.bulletin.models import Issue
from newsletter.delivery.models import Send
from newsletter.delivery.pipeline import SendError
from newsletter.display import label, say
from newsletter.extensions import db
from newsletter.render import Edition
from newsletter.review import models as review_models
from newsletter.review import service as review_service
from newsletter.sends import service as send_service
from newsletter.sends import testsend
from newsletter.staff.auth import role_required
from newsletter.staff.models import Role

bp = Blueprint("bulletin", __name__)

# The iframe documents: no script, no plugins, no same-origin access even if opened alone.
FRAME_CSP = (
    "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; "
    "style-src 'unsafe-inline'; img-src http: https: data:; frame-ancestors 'self'"
)
ARCHIVE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def _issue_or_404(number: int) -> Issue:
    return db.first_or_404(select(Issue).where(Issue.number == number))


def _base_url() -> str:
    return current_app.config["BASE_URL"]


def _note_change(issue: Issue, action) -> None:
    """Tell the approval workflow who changed the issue: an approved issue goes back to
    review (and its scheduled sends are cancelled); its editor may not approve it."""
    cancelled = review_service.note_edit(
        db.session, issue, current_user._get_current_object(), action
    )
    if cancelled:
        flash(
            _(
                "本期批准后内容被修改，已退回待复核，并撤销了定时发送 %(ids)s。",
                ids="、".join(f"#{i}" for i in cancelled),
            ),
            "warning",
        )


# --- list (the import pages are in import_views) ---------------------------------------


@bp.get("/issues")
@role_required()
def issue_list():
    """All issues, newest first, with their send counts."""
    issues = db.session.scalars(select(Issue).order_by(Issue.number.desc())).all()
    send_counts = dict(
        db.session.execute(select(Send.issue_id, func.count()).group_by(Send.issue_id)).all()
    )
    return render_template(
        "bulletin/list.html",
        issues=issues,
        send_counts=send_counts,
        can_edit=current_user.has_role(Role.EDITOR),
    )


# --- the issue page: preview and test send ------------------------------------------------


def _edition_arg(value: str | None) -> Edition:
    try:
        return Edition(value or Edition.REGULAR.value)
    except ValueError:
        abort(400)


def _issue_page(issue: Issue, edition: Edition, test_form: SendTestForm, status: int = 200):
    rendered = preview.render_all(issue.to_doc(), _base_url())
    _, text = preview.sample_copy(rendered[edition], _base_url())
    sends = db.session.scalars(
        select(Send).where(Send.issue_id == issue.id).order_by(Send.id.desc()).limit(20)
    ).all()
    return render_template(
        "bulletin/detail.html",
        issue=issue,
        edition=edition,
        figures=preview.figures(rendered),
        current=rendered[edition],
        text=text,
        sends=sends,
        test_form=test_form,
        article_count=sum(len(s.articles) for s in issue.sections),
        can_edit=current_user.has_role(Role.EDITOR),
        editable=editing.is_editable(issue),
        status_label=label("issue", issue.status),
        follow_up=_follow_up(issue),
    ), status


def _follow_up(issue: Issue) -> int | None:
    """For a sent issue: how many readers of its groups have not received it (None: unsent)."""
    if not current_user.has_role(Role.SENDER) or not send_service.received_count(
        db.session, issue.number
    ):
        return None
    groups = send_service.sent_groups(db.session, issue.number)
    return send_service.audience(db.session, issue.number, groups).new if groups else 0


@bp.get("/issues/<int:number>")
@role_required()
def issue_detail(number: int):
    """One issue: both editions at phone and desktop widths, sizes, warnings, test send."""
    issue = _issue_or_404(number)
    edition = _edition_arg(request.args.get("edition"))
    return _issue_page(issue, edition, SendTestForm(formdata=None, edition=edition.value))


@bp.get("/issues/<int:number>/preview")
@role_required()
def issue_preview(number: int):
    """The preview lives on the issue page."""
    return redirect(
        url_for("bulletin.issue_detail", number=number, edition=request.args.get("edition"))
        + "#preview"
    )


@bp.post("/issues/<int:number>/test-send")
@role_required(Role.EDITOR)
def issue_test_send(number: int):
    """Mail the chosen edition to a few addresses through the normal queue, marked [测试]."""
    issue = _issue_or_404(number)
    form = SendTestForm()
    edition = _edition_arg(form.edition.data)
    if form.validate():
        try:
            started = testsend.send_test(
                db.session,
                current_app.config,
                issue.number,
                form.addresses.data,
                edition=edition.value,
                actor=current_user._get_current_object(),
            )
        except SendError as exc:
            form.addresses.errors = [*form.addresses.errors, say(exc.phrase)]
        else:
            if started.warning:
                flash(say(started.warning), "warning")
            else:
                flash(
                    _(
                        "测试邮件（%(label)s）已排入发送队列：%(to)s（发送 #%(id)s）。",
                        label=label("edition", edition),
                        to="、".join(started.to),
                        id=started.send.id,
                    ),
                    "success",
                )
            return redirect(
                url_for("bulletin.issue_detail", number=number, edition=edition.value)
                + "#test-send"
            )
    return _issue_page(issue, edition, form, status=400)


@bp.get("/issues/<int:number>/email")
@role_required()
def issue_email(number: int):
    """The rendered email HTML of one edition, as the preview frames show it."""
    issue = _issue_or_404(number)
    edition = _edition_arg(request.args.get("edition"))
    html, _text = preview.sample_copy(
        preview.render(issue.to_doc(), edition, _base_url()), _base_url()
    )
    return (
        html,
        200,
        {
            "Content-Security-Policy": FRAME_CSP,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


# --- editing -----------------------------------------------------------------------------------


def _edit_page(
    issue: Issue, form: IssueEditForm, errors=(), status: int = 200, pending: bool = False
):
    return render_template(
        "bulletin/edit.html",
        issue=issue,
        form=form,
        errors=list(errors),
        editable=editing.is_editable(issue),
        pending=pending,
        status_label=label("issue", issue.status),
    ), status


@bp.get("/issues/<int:number>/edit")
@role_required(Role.EDITOR)
def issue_edit(number: int):
    """The whole issue in one form: front matter, 编者按, 摘要, sections and articles."""
    issue = _issue_or_404(number)
    form = IssueEditForm.from_doc(editing.editable_doc(issue), editing.version_of(issue))
    return _edit_page(issue, form)


@bp.post("/issues/<int:number>/edit")
@role_required(Role.EDITOR)
def issue_edit_save(number: int):
    """Save the form, with at most one structural action (move, delete, add) applied."""
    issue = _issue_or_404(number)
    if not editing.is_editable(issue):
        form = IssueEditForm.from_doc(editing.editable_doc(issue), editing.version_of(issue))
        flash(say(editing.read_only_message(issue)), "error")
        return _edit_page(issue, form, status=409)
    form = IssueEditForm()
    form.set_choices()
    if not form.validate():  # CSRF, and values of the wrong type (number, date)
        return _edit_page(issue, form, form.error_list(), status=400)

    doc, moves = form.to_doc(issue.to_doc())
    try:
        result = editops.apply_op(doc, request.form.get("op", "save"))
    except editing.EditError as exc:
        return _edit_page(issue, form, [("", say(p.message)) for p in exc.problems], status=400)
    editops.move_articles(result.doc, moves)
    doc = editing.clean_doc(result.doc)
    if not result.save:  # a blank section/article to fill in: shown, not stored yet
        flash(say(result.notice), "info")
        return _edit_page(issue, IssueEditForm.from_doc(doc, form.version.data), pending=True)
    try:
        saved = editing.save_issue(db.session, number, doc, version=form.version.data)
    except editing.EditError as exc:
        version = getattr(exc, "current_version", form.version.data)
        fresh = IssueEditForm.from_doc(doc, version)
        code = 409 if isinstance(exc, (editing.IssueReadOnly, editing.StaleEdit)) else 422
        return _edit_page(issue, fresh, fresh.add_problems(exc.problems), status=code, pending=True)
    _note_change(saved, review_models.ReviewAction.EDITED)
    flash(say(result.notice), "success")
    anchor = f"#{result.focus}" if result.focus else ""
    return redirect(url_for("bulletin.issue_edit", number=saved.number) + anchor)


# --- the public archive ------------------------------------------------------------------------


def _public(response_body: str, status: int = 200):
    return (
        response_body,
        status,
        {"Content-Security-Policy": ARCHIVE_CSP, "Cache-Control": "public, max-age=300"},
    )


@bp.get("/archive")
def archive_index():
    """Every sent issue, newest first, 20 to a page."""
    try:
        page = archive.index_page(db.session, request.args.get("page", 1, type=int))
    except archive.PageNotFound:
        abort(404)
    return _public(render_template("bulletin/archive_index.html", listing=page))


@bp.get("/archive/<int:number>")
def archive_issue(number: int):
    """One issue as a web page: the regular edition's content, anchors `#a-<n>`."""
    issue = archive.public_issue(db.session, number)
    if issue is None:
        abort(404)
    prev_n, next_n = archive.neighbours(db.session, number)
    return _public(
        render_template(
            "bulletin/archive_issue.html",
            page=archive.page_context(archive.public_doc(issue)),
            prev_n=prev_n,
            next_n=next_n,
        )
    )


# Last: import_views adds its routes to bp and uses this module's helpers (a cycle by design).
from newsletter.bulletin import import_views  # noqa: E402, F401
