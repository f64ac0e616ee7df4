"""Admin pages on the `staff` blueprint: accounts, groups, the audit log; and every staff
member's own API tokens. Thin views over accounts/groups/apitokens/audit."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select

from newsletter.display import say
from newsletter.extensions import db
from newsletter.staff import accounts, apitokens, audit, audit_text, groups
from newsletter.staff.auth import role_required
from newsletter.staff.blueprint import bp
from newsletter.staff.forms import (
    AccountForm,
    AuditFilterForm,
    GroupCreateForm,
    GroupEditForm,
    GroupMergeForm,
    TokenForm,
    choices,
    form_errors,
    role_label,
)
from newsletter.staff.models import ApiToken, Role, StaffUser
from newsletter.timeutil import utcnow


def _tz() -> str:
    return current_app.config["BABEL_DEFAULT_TIMEZONE"]


# --- accounts ------------------------------------------------------------------------------


@bp.get("/accounts")
@role_required(Role.ADMIN)
def accounts_list():
    """Every staff account with roles, status and lockout."""
    users = db.session.scalars(select(StaffUser).order_by(StaffUser.email)).all()
    return render_template(
        "staff/admin/accounts.html",
        users=users,
        role_label=role_label,
        now=utcnow(),
        action_form=FlaskForm(),
    )


@bp.route("/accounts/new", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def account_new():
    """Create an account; its owner gets an emailed link to set a password."""
    form = AccountForm()
    if form.validate_on_submit():
        try:
            user = accounts.create_account(
                db.session, form.email.data, form.name.data, form.roles.data
            )
        except accounts.AccountError as exc:
            form.email.errors = [say(exc.phrase)]
        else:
            accounts.send_password_link(user, accounts.INVITE)
            audit.record("account.created", user.email, {"roles": user.roles, "invited": True})
            flash(
                _("已创建 %(email)s，设置密码的链接已发到该邮箱（3 天内有效）。", email=user.email),
                "success",
            )
            return redirect(url_for("staff.accounts_list"))
    status = 400 if request.method == "POST" else 200
    return render_template("staff/admin/account_form.html", form=form, user=None), status


@bp.route("/accounts/<int:user_id>", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def account_edit(user_id: int):
    """Change an account's name, roles, or switch it off (its sessions and tokens stop)."""
    user = db.get_or_404(StaffUser, user_id)
    form = AccountForm(obj=user if request.method == "GET" else None)
    form.email.data = user.email  # not editable: it is the login
    if form.validate_on_submit():
        before = {"name": user.name, "roles": list(user.roles or []), "active": user.active}
        try:
            changed = accounts.update_account(
                db.session,
                user,
                name=form.name.data,
                roles=form.roles.data,
                active=form.active.data,
                acting=current_user,
            )
        except accounts.AccountError as exc:
            db.session.rollback()
            form.roles.errors = [say(exc.phrase)]
        else:
            after = {"name": user.name, "roles": user.roles, "active": user.active}
            audit.record("account.updated", user.email, {k: [before[k], after[k]] for k in changed})
            flash(_("已保存 %(email)s。", email=user.email), "success")
            return redirect(url_for("staff.accounts_list"))
    status = 400 if request.method == "POST" else 200
    return render_template("staff/admin/account_form.html", form=form, user=user), status


@bp.post("/accounts/<int:user_id>/<any(unlock, reset):action>")
@role_required(Role.ADMIN)
def account_action(user_id: int, action: str):
    """Unlock a locked account, or mail its owner a password reset link."""
    user = db.get_or_404(StaffUser, user_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    if action == "unlock":
        accounts.unlock(db.session, user)
        flash(_("已解除 %(email)s 的锁定。", email=user.email), "success")
    else:
        if not user.active:
            flash(_("账号已停用，不能重设密码。"), "error")
            return redirect(url_for("staff.accounts_list"))
        accounts.send_password_link(user, accounts.RESET)
        flash(_("重设密码的链接已发到 %(email)s（1 小时内有效）。", email=user.email), "success")
    audit.record(f"account.{action}", user.email)
    return redirect(url_for("staff.accounts_list"))


# --- groups --------------------------------------------------------------------------------


def _groups_page(create=None, merge=None, status: int = 200):
    rows = groups.with_counts(db.session)
    create = create or GroupCreateForm(formdata=None)
    merge = merge or GroupMergeForm(formdata=None)
    merge.source.choices = merge.target.choices = choices(
        (
            g.code,
            ngettext(
                "%(name)s（%(code)s，%(num)s 人）",
                "%(name)s（%(code)s，%(num)s 人）",
                n,
                name=g.name,
                code=g.code,
            ),
        )
        for g, n in rows
    )
    edit_forms = {
        g.code: GroupEditForm(formdata=None, name=g.name, is_priority=g.is_priority)
        for g, _n in rows
    }
    return render_template(
        "staff/admin/groups.html",
        rows=rows,
        create=create,
        merge=merge,
        edit_forms=edit_forms,
        aliases=groups.aliases_by_group(db.session),
    ), status


@bp.get("/groups")
@role_required(Role.ADMIN)
def group_list():
    """Groups with member counts; create, rename, priority flag, merge."""
    return _groups_page()


@bp.post("/groups/new")
@role_required(Role.ADMIN)
def group_create():
    form = GroupCreateForm()
    if form.validate():
        try:
            group = groups.create_group(
                db.session,
                form.code.data,
                form.name.data,
                form.distribution.data,
                form.is_priority.data,
                form.self_service.data,
            )
        except groups.GroupError as exc:
            form.code.errors = [say(exc.phrase)]
        else:
            audit.record(
                "group.created", group.code, {"name": group.name, "priority": group.is_priority}
            )
            flash(_("已创建分组“%(name)s”。", name=group.name), "success")
            return redirect(url_for("staff.group_list"))
    return _groups_page(create=form, status=400)


@bp.post("/groups/<code>/edit")
@role_required(Role.ADMIN)
def group_edit(code: str):
    """Rename a group and/or set its priority flag."""
    group = db.first_or_404(groups.of_code(code))
    form = GroupEditForm()
    if not form.validate():
        flash("；".join(form_errors(form)), "error")
        return _groups_page(status=400)
    try:
        old = groups.rename_group(db.session, group, form.name.data)
    except groups.GroupError as exc:
        flash(say(exc.phrase), "error")
        return _groups_page(status=400)
    if form.is_priority.data != group.is_priority:
        groups.set_priority(db.session, group, form.is_priority.data)
        audit.record("group.priority", group.code, {"priority": group.is_priority})
    if old != group.name:
        audit.record("group.renamed", group.code, {"from": old, "to": group.name})
    flash(_("已保存分组“%(name)s”。", name=group.name), "success")
    return redirect(url_for("staff.group_list"))


@bp.post("/groups/aliases/<int:alias_id>/delete")
@role_required(Role.ADMIN)
def group_alias_delete(alias_id: int):
    """Forget a name an editor mapped to a group on the import page."""
    alias = groups.delete_alias(db.session, alias_id) if alias_id <= 2**31 - 1 else None
    if alias is None:
        abort(404)
    audit.record("group.alias_deleted", f"group:{alias.group_id}", {"alias": alias.alias})
    flash(_("已删除别名“%(name)s”。", name=alias.alias), "success")
    return redirect(url_for("staff.group_list"))


@bp.post("/groups/merge")
@role_required(Role.ADMIN)
def group_merge():
    """Move every member of one group into another and delete the first."""
    form = GroupMergeForm()
    form.source.choices = form.target.choices = choices(
        (g.code, g.code) for g, _n in groups.with_counts(db.session)
    )
    if form.validate():
        # both were among the choices, but either may have gone since (another admin)
        source = db.first_or_404(groups.of_code(form.source.data))
        target = db.first_or_404(groups.of_code(form.target.data))
        try:
            added = groups.merge_groups(db.session, source, target)
        except groups.GroupError as exc:
            form.target.errors = [say(exc.phrase)]
        else:
            audit.record("group.merged", target.code, {"from": form.source.data, "added": added})
            flash(
                _(
                    "已把“%(s)s”合并到“%(t)s”：新增 %(n)s 位成员。",
                    s=form.source.data,
                    t=target.name,
                    n=added,
                ),
                "success",
            )
            return redirect(url_for("staff.group_list"))
    return _groups_page(merge=form, status=400)


# --- audit log -----------------------------------------------------------------------------


def _utc_midnight(day: dt.date | None, plus_days: int = 0) -> dt.datetime | None:
    if day is None:
        return None
    local = dt.datetime.combine(day + dt.timedelta(days=plus_days), dt.time(), ZoneInfo(_tz()))
    return local.astimezone(dt.UTC).replace(tzinfo=None)


@bp.get("/audit")
@role_required(Role.ADMIN)
def audit_log():
    """Every staff action, newest first; filter by person, action, object, source, dates."""
    form = AuditFilterForm(request.args)
    valid = form.validate()
    f = audit.AuditFilter(
        actor=form.actor.data or "",
        action=form.action.data or "",
        target=form.target.data or "",
        via=form.via.data or "",
        since=_utc_midnight(form.since.data) if valid else None,
        until=_utc_midnight(form.until.data, 1) if valid else None,
    )
    before = request.args.get("before", "")
    entries, next_before, total = audit.search(
        db.session, f, int(before) if before.isdigit() else None
    )
    args = {k: v for k, v in request.args.items() if k != "before" and v}
    names = audit_text.actor_names(db.session, entries)
    return render_template(
        "staff/admin/audit.html",
        form=form,
        entries=entries,
        total=total,
        describe=lambda e: audit_text.describe(e, names),
        next_before=next_before,
        args=args,
        actions=audit.action_names(db.session),
    ), 200 if valid else 400


# --- API tokens (each staff member their own; admins see and revoke all) -------------------


@bp.route("/tokens", methods=["GET", "POST"])
@role_required()
def tokens():
    """Your API tokens; a new token is shown once, right after it is made."""
    user = current_user._get_current_object()
    form = TokenForm()
    form.scopes.choices = [c for c in form.scopes.choices if user.has_role(c.value)]
    plain = None
    if form.validate_on_submit():
        try:
            token, plain = apitokens.create_token(
                db.session, user, form.name.data, form.scopes.data, form.days.data
            )
        except apitokens.TokenError as exc:
            form.name.errors = [say(exc.phrase)]
        else:
            audit.record(
                "token.created", f"token:{token.id}", {"name": token.name, "scopes": token.scopes}
            )
            form = TokenForm(formdata=None)
            form.scopes.choices = [c for c in form.scopes.choices if user.has_role(c.value)]
    listed = apitokens.tokens_of(db.session, None if user.has_role(Role.ADMIN) else user)
    status = 400 if request.method == "POST" and plain is None else 200
    return render_template(
        "staff/tokens.html",
        form=form,
        plain=plain,
        tokens=listed,
        now=utcnow(),
        revoke_form=FlaskForm(),
    ), status


@bp.post("/tokens/<int:token_id>/revoke")
@role_required()
def token_revoke(token_id: int):
    token = db.get_or_404(ApiToken, token_id)
    if token.staff_id != current_user.id and not current_user.has_role(Role.ADMIN):
        abort(403)
    if not FlaskForm().validate_on_submit():
        abort(400)
    if apitokens.revoke(db.session, token):
        audit.record(
            "token.revoked", f"token:{token.id}", {"name": token.name, "owner": token.staff.email}
        )
        flash(_("已吊销令牌“%(name)s”。", name=token.name), "success")
    return redirect(url_for("staff.tokens"))
