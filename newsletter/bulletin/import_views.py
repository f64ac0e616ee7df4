"""The import pages: upload a file (text in any encoding, .docx or PDF), see the parsed
structure with its warnings before anything is saved, move a line between title and
paragraph, map a 报/发 name to a group (remembered as an alias), then save.

Thin views over `service`, `formats` and `importpreview`; the upload is held between the
steps in a signed hidden field (`importpreview`), never on disk or in the session.
"""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import pgettext
from flask_login import current_user
from sqlalchemy import select
from werkzeug.datastructures import ImmutableMultiDict

from newsletter.bulletin import formats, groupnames, importpreview, limits
from newsletter.bulletin.document import check_size
from newsletter.bulletin.forms import ImportForm, ImportPreviewForm
from newsletter.bulletin.parser import IssueParseError
from newsletter.bulletin.service import (
    IssueImportError,
    IssueTooLarge,
    group_directory,
    remember_alias,
    store_doc,
)
from newsletter.bulletin.views import _note_change, bp
from newsletter.display import say, say_parser
from newsletter.extensions import db
from newsletter.review import models as review_models
from newsletter.staff import audit, audit_text
from newsletter.staff.auth import role_required
from newsletter.staff.models import Role
from subscribers.models import Group

FORM_OVERHEAD_BYTES = 64 * 1024  # multipart boundaries and the CSRF field
_ENDPOINTS = {"bulletin.issue_import", "bulletin.issue_import_preview"}


def _import_limit() -> int:
    # the setting, and never above what the format readers accept
    return min(current_app.config["IMPORT_MAX_BYTES"], limits.MAX_FILE_BYTES)


def _too_big_message() -> str:
    return _(
        "文件太大：上限为 %(kb)s KB。请确认选的是周报文件（.docx、PDF 或纯文本）。",
        kb=_import_limit() // 1024,
    )


@bp.url_value_preprocessor
def _limit_upload(endpoint, values):
    # Runs before CSRFProtect reads the body: an oversized upload stops at 413 unread.
    if endpoint == "bulletin.issue_import" and request.method == "POST":
        request.max_content_length = _import_limit() + FORM_OVERHEAD_BYTES
    elif endpoint == "bulletin.issue_import_preview":
        request.max_content_length = limits.MAX_PREVIEW_TOKEN_BYTES + FORM_OVERHEAD_BYTES


@bp.errorhandler(413)
def _too_large(exc):
    # The body was refused unread: let later readers (after_request hooks) see an empty form
    # instead of hitting the same 413 again.
    request.__dict__["form"] = ImmutableMultiDict()
    request.__dict__["files"] = ImmutableMultiDict()
    if request.endpoint not in _ENDPOINTS or not (
        current_user.is_authenticated and current_user.has_role(Role.EDITOR)
    ):
        return exc
    form = ImportForm(formdata=None)
    form.file.errors = [_too_big_message()]
    return render_template("bulletin/import.html", form=form, limit=_import_limit()), 413


def _error_text(exc: IssueParseError) -> str:
    return _(
        "无法导入：%(where)s：%(msg)s", where=say(exc.where_words), msg=say_parser(exc.message)
    )


def _refusal(exc: IssueImportError | IssueTooLarge) -> str:
    """Why the issue was not stored: a phrase said in the page's language (a refused
    replacement is the parser's kind of English message, said through `say_parser`)."""
    if isinstance(exc, IssueTooLarge):
        return "；".join(say(message) for _path, message in exc.problems)
    return say_parser(say(exc.phrase))


@bp.route("/issues/import", methods=["GET", "POST"])
@role_required(Role.EDITOR)
def issue_import():
    """Upload an issue; a readable one goes to the preview, a malformed one says where."""
    form = ImportForm()
    limit = _import_limit()
    if form.validate_on_submit():
        data = form.file.data.read(limit + 1)
        filename = (form.file.data.filename or "")[:200]
        if len(data) > limit:
            form.file.errors = [_too_big_message()]
        else:
            try:
                extracted = formats.extract(data, filename)
                check_size(formats.parse_extracted(extracted).doc)  # bad files stay here
                return _preview_page(importpreview.Preview(extracted, {}, filename))
            except IssueParseError as exc:
                form.file.errors = [_error_text(exc)]
            except IssueTooLarge as exc:
                form.file.errors = [_("无法导入：%(msg)s", msg=_refusal(exc))]
            except importpreview.PreviewExpired as exc:
                form.file.errors = [say(exc.phrase)]
        return render_template("bulletin/import.html", form=form, limit=limit), 400
    status = 400 if request.method == "POST" else 200
    return render_template("bulletin/import.html", form=form, limit=limit), status


def _preview_page(preview: importpreview.Preview, problem: str | None = None, status: int = 200):
    """Parse what the preview holds (with the editor's moves) and show it, or its error."""
    secret = current_app.config["SECRET_KEY"]
    names = group_directory(db.session)
    try:
        result = formats.parse_extracted(preview.extracted, preview.overrides, names)
    except IssueParseError as exc:
        result, problem, status = (
            None,
            problem or _error_text(exc),
            400 if status == 200 else status,
        )
    groups = db.session.scalars(select(Group).order_by(Group.position, Group.id)).all()
    by_code = {g.code: g.name for g in groups}
    # each 报/发 name with the group it goes to, so a wrong alias shows too
    foot = {
        label: [(name, by_code.get(groupnames.resolve(name, names) or "")) for name in names_]
        for label, names_ in (result.doc.distribution.items() if result else ())
    }
    form = ImportPreviewForm(formdata=None, token=importpreview.dump(secret, preview))
    return render_template(
        "bulletin/import_preview.html",
        form=form,
        result=result,
        problem=problem,
        structure=importpreview.structure(result) if result else [],
        preview=preview,
        kind=pgettext("import source", formats.KINDS[preview.extracted.kind]),
        groups=groups,
        foot=foot,
        warnings=[n for n in result.notices if n.level == "warning"] if result else [],
        infos=[n for n in result.notices if n.level != "warning"] if result else [],
        moved=len(preview.overrides),
    ), status


@bp.post("/issues/import/preview")
@role_required(Role.EDITOR)
def issue_import_preview():
    """One step of the preview: move a line, map a group name, start over, or save."""
    form = ImportPreviewForm()
    if not form.validate():
        flash(_("表单已过期，请重新上传文件。"), "error")
        return redirect(url_for("bulletin.issue_import"))
    try:
        preview = importpreview.load(current_app.config["SECRET_KEY"], form.token.data)
    except importpreview.PreviewExpired as exc:
        flash(say(exc.phrase), "error")
        return redirect(url_for("bulletin.issue_import"))
    op = request.form.get("op", "")
    if op.startswith("move:"):
        return _move(preview, op)
    if op == "reset":
        preview.overrides = {}
        return _preview_page(preview)
    if op.startswith("alias:"):
        return _alias(preview, op.removeprefix("alias:"))
    if op == "save":
        return _save(preview)
    return _preview_page(preview, _("未知的操作。"), 400)


def _move(preview: importpreview.Preview, op: str):
    try:
        _op, number, hint = op.split(":")
        no = int(number)
    except ValueError:
        return _preview_page(preview, _("未知的操作。"), 400)
    if hint not in ("title", "para") or no not in {l.no for l in preview.extracted.lines}:
        return _preview_page(preview, _("未知的操作。"), 400)
    moved = importpreview.Preview(
        preview.extracted, {**preview.overrides, no: hint}, preview.filename
    )
    try:  # a move that breaks the structure is refused, and the preview stays as it was
        formats.parse_extracted(moved.extracted, moved.overrides)
    except IssueParseError as exc:
        return _preview_page(preview, _("不能这样移动：%(msg)s", msg=_error_text(exc)), 400)
    return _preview_page(moved)


def _alias(preview: importpreview.Preview, k: str):
    name = request.form.get(f"alias_name-{k}", "").strip()
    code = request.form.get(f"alias_group-{k}", "")
    try:
        remember_alias(db.session, name, code, by=current_user.email)
    except IssueImportError as exc:
        return _preview_page(preview, say(exc.phrase), 400)
    audit.record("group.alias", f"group:{code}", {"alias": name})
    flash(
        _("已记住：“%(name)s”即分组 %(code)s，以后的导入也会这样对应。", name=name, code=code),
        "success",
    )
    return _preview_page(preview)


def _save(preview: importpreview.Preview):
    try:
        result = formats.parse_extracted(
            preview.extracted, preview.overrides, group_directory(db.session)
        )
        issue, created = store_doc(db.session, result.doc)
    except IssueParseError as exc:
        return _preview_page(preview, _error_text(exc), 400)
    except (IssueImportError, IssueTooLarge) as exc:
        return _preview_page(preview, _("无法导入：%(msg)s", msg=_refusal(exc)), 400)
    _note_change(issue, review_models.ReviewAction.IMPORTED)
    audit_text.record_import(issue, created, source=preview.filename)
    articles = sum(len(s.articles) for s in issue.sections)
    warned = sum(1 for n in result.notices if n.level == "warning")
    flash(
        _(
            "%(what)s第 %(n)s 期：%(s)s 个栏目，%(a)s 篇文章。",
            what=_("已导入") if created else _("已更新草稿"),
            n=issue.number,
            s=len(issue.sections),
            a=articles,
        )
        + (_("（导入时有 %(w)s 条提醒。）", w=warned) if warned else ""),
        "success",
    )
    return redirect(url_for("bulletin.issue_detail", number=issue.number))
