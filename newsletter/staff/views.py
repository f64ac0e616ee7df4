"""Staff login and logout (rate-limited, with lockout), password links, own password.

The account, group, token and audit pages are in `admin_views`, on the same blueprint
(`blueprint.bp`); this module imports it so that registering `bp` brings them all.
"""

from __future__ import annotations

import functools
import logging

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from newsletter.display import say
from newsletter.extensions import db, redis_store
from newsletter.ratelimit import RateLimiter, RateLimitUnavailable
from newsletter.staff import (
    accounts,
    admin_views,  # noqa: F401  (registering bp brings its routes)
    audit,
    lockout,
    relay_views,  # noqa: F401  (the relays page, on the same blueprint)
)
from newsletter.staff.auth import role_required, safe_next
from newsletter.staff.blueprint import bp
from newsletter.staff.forms import (
    ForgotForm,
    LoginForm,
    PasswordChangeForm,
    PasswordSetForm,
    form_errors,
)
from newsletter.timeutil import utcnow

log = logging.getLogger(__name__)


@functools.cache
def _dummy_hash() -> str:
    """Checked against when the email is unknown, so both paths cost one hash check."""
    from werkzeug.security import generate_password_hash

    return generate_password_hash("no account has this password")


def _allowed(name: str, value: str) -> float:
    """0 if this hit is within the limit named by config key `name`, else seconds to wait.
    Redis being down lets the request through: the per-account lockout still holds."""
    config = current_app.config
    try:
        limiter = RateLimiter.from_spec(
            redis_store.client(config), f"{config['QUEUE_PREFIX']}:rl:{name.lower()}", config[name]
        )
        decision = limiter.hit(value)
    except RateLimitUnavailable:
        log.warning("rate limiter unavailable; %s not limited", name)
        return 0.0
    return 0.0 if decision.allowed else max(decision.retry_after, 1.0)


def _too_many(template: str, form, wait: float):
    minutes = int(wait // 60) + 1
    flash(_("尝试次数过多，请 %(n)s 分钟后再试。", n=minutes), "error")
    return render_template(template, form=form), 429, {"Retry-After": str(int(wait) + 1)}


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in; five tries from one IP lock that IP out of that account (lockout.py) for
    fifteen minutes; LOGIN_RATE_PER_IP tries per IP in all."""
    form = LoginForm()
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("staff/login.html", form=form), status
    email = form.email.data.strip().lower()
    wait = _allowed("LOGIN_RATE_PER_IP", request.remote_addr or "")
    if wait:
        audit.record("login.rate_limited", email, actor_email=email)
        return _too_many("staff/login.html", form, wait)
    user = accounts.by_email(db.session, email)
    ip = request.remote_addr or ""
    # Every try counts against (email, IP), known account or not: the lockout neither
    # tells who has an account nor lets a stranger elsewhere lock the owner out.
    if not lockout.attempt(email, ip):
        audit.record("login.locked", email, actor_email=email)
        if user is not None:
            user.locked_until = utcnow() + lockout.LOCKOUT  # shown to admins, who can unlock
            db.session.commit()
        flash(_("登录失败次数过多，已暂时锁定，请 15 分钟后再试，或使用“忘记密码”。"), "error")
        return render_template("staff/login.html", form=form), 401
    from werkzeug.security import check_password_hash

    good = (
        user.check_password(form.password.data)
        if user is not None
        else check_password_hash(_dummy_hash(), form.password.data) and False
    )
    if user is not None and good and user.active:
        lockout.succeeded(email, ip)
        user.failed_logins, user.locked_until = 0, None
        db.session.commit()
        login_user(user)
        audit.record("login", user.email, actor=user)
        return redirect(safe_next(request.args.get("next"), url_for("bulletin.issue_list")))
    audit.record("login.failed", email, actor_email=email)
    flash(_("邮箱或密码不正确。"), "error")
    return render_template("staff/login.html", form=form), 401


@bp.post("/logout")
def logout():
    """Sign out (a POST with the CSRF token, so no link can log staff out)."""
    if current_user.is_authenticated:
        audit.record("logout", current_user.email)
        accounts.end_sessions(db.session, current_user._get_current_object())
    logout_user()
    return redirect(url_for("staff.login"))


@bp.route("/password/forgot", methods=["GET", "POST"])
def password_forgot():
    """Ask for a reset link; the answer is the same whether the address has an account."""
    form = ForgotForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        wait = _allowed("PASSWORD_RESET_RATE_PER_IP", request.remote_addr or "") or _allowed(
            "PASSWORD_RESET_RATE_PER_EMAIL", email
        )
        if wait:
            return _too_many("staff/password_forgot.html", form, wait)
        sent = accounts.request_reset(db.session, email)
        audit.record("password.reset_requested", email, {"mailed": sent}, actor_email=email)
        return render_template(
            "staff/message.html",
            title=_("请查收邮件"),
            body=_(
                "如果该邮箱有员工账号，我们已发送重设密码的链接，1 小时内有效。"
                "没有收到？请检查垃圾邮件，或联系管理员。"
            ),
        )
    return render_template("staff/password_forgot.html", form=form), (
        400 if request.method == "POST" else 200
    )


@bp.route("/password/<token>", methods=["GET", "POST"])
def password_set(token: str):
    """Set a password from an emailed link (reset or invitation); the link works once."""
    try:
        user, purpose = accounts.user_from_link(db.session, token)
    except accounts.AccountError as exc:
        return render_template(
            "staff/message.html", title=_("链接不可用"), body=say(exc.phrase), forgot=True
        ), 400
    form = PasswordSetForm()
    if form.validate_on_submit():
        try:
            accounts.set_password(db.session, user, form.password.data, form.confirm.data)
        except accounts.AccountError as exc:
            form.password.errors = [say(exc.phrase)]
        else:
            audit.record(f"password.{purpose}", user.email, actor=user)
            logout_user()
            flash(_("密码已设置，请用新密码登录。"), "success")
            return redirect(url_for("staff.login"))
    status = 400 if request.method == "POST" else 200
    return render_template("staff/password_set.html", form=form, user=user, purpose=purpose), status


@bp.route("/me", methods=["GET", "POST"])
@role_required()
def me():
    """Your account: roles, and a new password (which signs out your other sessions)."""
    form = PasswordChangeForm()
    user = current_user._get_current_object()
    if form.validate_on_submit():
        if not user.check_password(form.current.data):
            form.current.errors = [_("当前密码不正确。")]
        else:
            try:
                accounts.set_password(db.session, user, form.password.data, form.confirm.data)
            except accounts.AccountError as exc:
                form.password.errors = [say(exc.phrase)]
            else:
                audit.record("password.changed", user.email)
                login_user(user)  # this session goes on with the new stamp
                flash(_("密码已修改；其他设备上的登录已失效。"), "success")
                return redirect(url_for("staff.me"))
    elif request.method == "POST":
        flash("；".join(form_errors(form)), "error")
    status = 400 if request.method == "POST" else 200
    return render_template("staff/me.html", form=form, user=user), status
