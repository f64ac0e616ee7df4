"""Staff login and logout."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from newsletter.extensions import db
from newsletter.staff.auth import safe_next
from newsletter.staff.models import StaffUser
from newsletter.timeutil import utcnow

bp = Blueprint("staff", __name__, url_prefix="/staff")

MAX_FAILURES = 5
LOCKOUT = dt.timedelta(minutes=15)


class LoginForm(FlaskForm):
    email = EmailField("邮箱", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("密码", validators=[DataRequired(), Length(max=200)])


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in; five failures lock the account for fifteen minutes."""
    form = LoginForm()
    if form.validate_on_submit():
        user = db.session.scalar(
            select(StaffUser).where(StaffUser.email == form.email.data.strip().lower()))
        now = utcnow()
        if user is not None and user.locked_until and user.locked_until > now:
            flash(_("登录失败次数过多，账户已暂时锁定，请稍后再试。"), "error")
        elif user is not None and user.active and user.check_password(form.password.data):
            user.failed_logins = 0
            user.locked_until = None
            db.session.commit()
            login_user(user)
            return redirect(safe_next(request.args.get("next"), url_for("bulletin.issue_list")))
        else:
            if user is not None:
                user.failed_logins += 1
                if user.failed_logins >= MAX_FAILURES:
                    user.locked_until = now + LOCKOUT
                    user.failed_logins = 0
                db.session.commit()
            flash(_("邮箱或密码不正确。"), "error")
        return render_template("staff/login.html", form=form), 401
    return render_template("staff/login.html", form=form)


@bp.post("/logout")
def logout():
    """Sign out (a POST with the CSRF token, so no link can log staff out)."""
    logout_user()
    return redirect(url_for("staff.login"))
