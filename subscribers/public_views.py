"""The reader's pages: subscribe, confirm, preference center, unsubscribe, fresh link.

No login: the signed token in the URL says who the reader is. Every form has CSRF, except
the RFC 8058 one-click POST, which mail clients send without a page (the token is its
authentication). Public forms are rate-limited per IP and per address.
"""

from __future__ import annotations

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for
from flask_babel import format_datetime, refresh
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

from newsletter.extensions import csrf, db, redis_store
from newsletter.ratelimit import RateLimiter, RateLimitUnavailable
from newsletter.timeutil import utcnow
from subscribers import forms, service, tokens
from subscribers.models import Subscriber

bp = Blueprint("subscribe", __name__)

PAUSE_CHOICES = (1, 2, 4, 8, 12)


@bp.before_request
def _fresh_locale() -> None:
    # The locale is cached on `g`; start every request from the request itself, also when
    # an app context outlives one request (tests, embedded use).
    g.pop("subscriber_locale", None)
    refresh()


@bp.context_processor
def _locale_context() -> dict:
    return {"current_locale": _current_locale()}


@bp.errorhandler(CSRFError)
def _csrf_error(exc):
    """A form posted without (or with a stale) CSRF token: say what to do; nothing written."""
    return render_template(
        "subscribers/message.html",
        title=_("表单已过期"),
        body=_("表单已过期或缺少安全校验，请返回刷新页面后重新提交。"),
    ), 400


class _Limited(Exception):
    def __init__(self, retry_after: float):
        self.retry_after = retry_after


def _check_rate(form_name: str, kind: str, value: str) -> None:
    """Count a submission of `form_name` by this IP ("ip") or for this address ("addr");
    _Limited if that allowance is used up."""
    config = current_app.config
    key = "SUBSCRIBE_RATE_PER_IP" if kind == "ip" else "SUBSCRIBE_RATE_PER_ADDRESS"
    limiter = RateLimiter.from_spec(
        redis_store.client(config), f"{config['QUEUE_PREFIX']}:rl:{form_name}-{kind}", config[key]
    )
    decision = limiter.hit(value)
    if not decision.allowed:
        raise _Limited(decision.retry_after)


def _limited_page(template: str, retry_after: float, **context):
    minutes = max(int(retry_after // 60) + 1, 1)
    message = _("请求过于频繁，请 %(n)s 分钟后再试。", n=minutes)
    response = render_template(template, rate_error=message, **context)
    return response, 429, {"Retry-After": str(int(retry_after) + 1)}


def _unavailable_page():
    return render_template(
        "subscribers/message.html",
        title=_("服务暂时不可用"),
        body=_("服务暂时不可用，请稍后再试。"),
    ), 503


def _checked_and_allowed(kind: str, template: str, form):
    """Per-IP limit, then validation, then per-address limit: the response that refuses
    the submission (form errors, limit reached, limiter unavailable), or None to go on."""
    try:
        _check_rate(kind, "ip", request.remote_addr or "-")
        if not form.validate():
            return render_template(template, form=form), 400
        _check_rate(kind, "addr", form.email.data)
    except _Limited as exc:
        return _limited_page(template, exc.retry_after, form=form)
    except RateLimitUnavailable:
        return _unavailable_page()
    return None


def _link_problem(error: service.LinkError, status: int | None = None):
    form = forms.LinkRequestForm()
    code = status or (410 if error.expired else 400)
    return render_template(
        "subscribers/link_problem.html", error=str(error), expired=error.expired, form=form
    ), code


def _use_locale_of(sub: Subscriber) -> None:
    g.subscriber_locale = sub.locale
    refresh()


# --- subscribe ------------------------------------------------------------------------------


def _fill_choices(form, session, sections_keep=None) -> list[str]:
    form.groups.choices = forms.choices(
        (grp.code, grp.name) for grp in service.self_service_groups(session)
    )
    offered = service.section_choices(session, sections_keep)
    form.sections.choices = forms.choices((s, s) for s in offered)
    return offered


@bp.route("/subscribe", methods=["GET", "POST"])
def subscribe():
    """The subscribe form; a valid submission starts the double opt-in."""
    form = forms.SubscribeForm()
    offered = _fill_choices(form, db.session)
    if request.method == "GET":
        form.sections.data = offered
        return render_template("subscribers/subscribe.html", form=form)
    refused = _checked_and_allowed("subscribe", "subscribers/subscribe.html", form)
    if refused is not None:
        return refused
    choices = service.Choices(
        name=form.name.data or "",
        organisation=form.organisation.data or "",
        groups=form.groups.data,
        sections=form.sections.data,
        locale=_current_locale(),
    )
    try:
        service.subscribe(db.session, form.email.data, choices)
    except service.SubscriptionError as exc:
        return render_template("subscribers/subscribe.html", form=form, form_error=str(exc)), 400
    return redirect(url_for("subscribe.check_inbox"))


def _current_locale() -> str:
    from flask_babel import get_locale

    return str(get_locale() or "zh_CN")


@bp.get("/subscribe/sent")
def check_inbox():
    """The same answer for every address: new, pending, subscribed or unknown."""
    return render_template(
        "subscribers/message.html",
        title=_("请查收邮件"),
        body=_(
            "如果该地址可以订阅，我们已向它发送了一封邮件。请打开邮件中的链接完成确认；"
            "链接 7 天内有效。没有收到？请检查垃圾邮件箱，或稍后重新提交。"
        ),
    )


# --- confirm ------------------------------------------------------------------------------


@bp.route("/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str):
    """GET shows a button; the POST confirms (link scanners only ever GET)."""
    try:
        sub, signed_at = service.read_link(db.session, tokens.CONFIRM, token)
    except service.LinkError as exc:
        return _link_problem(exc)
    _use_locale_of(sub)
    form = forms.ConfirmForm()
    if request.method == "POST":
        if not form.validate():
            return render_template(
                "subscribers/confirm.html",
                form=form,
                sub=sub,
                form_error=_("表单已过期，请刷新页面后重试。"),
            ), 400
        try:
            service.confirm(db.session, sub, signed_at)
        except service.LinkError as exc:
            return _link_problem(exc, status=409)
        prefs = tokens.make_token(current_app.config["SECRET_KEY"], tokens.PREFERENCES, sub.id)
        return render_template(
            "subscribers/confirmed.html",
            sub=sub,
            preferences_url=url_for("subscribe.preferences", token=prefs),
        )
    if sub.status in service.RECEIVING:
        prefs = tokens.make_token(current_app.config["SECRET_KEY"], tokens.PREFERENCES, sub.id)
        return render_template(
            "subscribers/confirmed.html",
            sub=sub,
            already=True,
            preferences_url=url_for("subscribe.preferences", token=prefs),
        )
    return render_template("subscribers/confirm.html", form=form, sub=sub)


# --- preference center ------------------------------------------------------------------


def _pause_choices(sub: Subscriber) -> list[tuple[str, str]]:
    choices = []
    if sub.paused_until and sub.paused_until > utcnow():
        choices.append(
            (
                "keep",
                _("保持暂停（至 %(date)s）", date=format_datetime(sub.paused_until, "yyyy-MM-dd")),
            )
        )
    else:
        choices.append(("keep", _("不暂停")))
    if sub.paused_until:
        choices.append(("0", _("立即恢复接收")))
    choices += [(str(n), _("暂停 %(n)s 周", n=n)) for n in PAUSE_CHOICES]
    return choices


@bp.route("/preferences/<token>", methods=["GET", "POST"])
def preferences(token: str):
    """The preference center: name, groups, sections, format, language, pause."""
    try:
        sub = service.subscriber_from_token(db.session, tokens.PREFERENCES, token)
    except service.LinkError as exc:
        return _link_problem(exc)
    _use_locale_of(sub)
    unsub = tokens.make_token(current_app.config["SECRET_KEY"], tokens.UNSUBSCRIBE, sub.id)
    context = {
        "sub": sub,
        "unsubscribe_url": url_for("subscribe.unsubscribe", token=unsub),
        "staff_groups": [m.group for m in sub.memberships if not m.group.self_service],
    }
    if sub.status not in service.RECEIVING and sub.status != "pending":
        return render_template("subscribers/preferences.html", form=None, **context)
    form = forms.PreferencesForm(obj=None if request.method == "POST" else sub)
    offered = _fill_choices(form, db.session, sub.sections)
    form.pause.choices = forms.choices(_pause_choices(sub))
    if request.method == "GET":
        form.groups.data = [m.group.code for m in sub.memberships if m.group.self_service]
        form.sections.data = list(sub.sections) if sub.sections is not None else offered
        form.pause.data = "keep"
        return render_template("subscribers/preferences.html", form=form, **context)
    if not form.validate():
        return render_template("subscribers/preferences.html", form=form, **context), 400
    choices = service.Choices(
        name=form.name.data or "",
        organisation=form.organisation.data or "",
        groups=form.groups.data or [],
        sections=form.sections.data,
        locale=form.locale.data,
        format=form.format.data,
        pause_weeks=None if form.pause.data == "keep" else int(form.pause.data),
        tracking_opt_out=form.tracking_opt_out.data,
    )
    try:
        service.save_preferences(db.session, sub, choices)
    except service.SubscriptionError as exc:
        db.session.rollback()
        return render_template(
            "subscribers/preferences.html", form=form, form_error=str(exc), **context
        ), 400
    _use_locale_of(sub)
    return redirect(url_for("subscribe.preferences", token=token, saved=1))


# --- unsubscribe ------------------------------------------------------------------------------


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # the one-click POST has no CSRF token; the page's own form is checked below
def unsubscribe(token: str):
    """GET: a confirmation page. POST without a form token: RFC 8058 one-click."""
    if request.method == "POST" and "csrf_token" not in request.form:
        try:
            service.one_click_unsubscribe(db.session, token)
        except service.LinkError as exc:
            return {"error": str(exc)}, 410 if exc.expired else 400
        return {"status": "unsubscribed"}, 200
    try:
        sub = service.subscriber_from_token(db.session, tokens.UNSUBSCRIBE, token)
    except service.LinkError as exc:
        return _link_problem(exc)
    _use_locale_of(sub)
    form = forms.UnsubscribeForm()
    form.keep.choices = forms.choices((m.group.code, m.group.name) for m in sub.memberships)
    if request.method == "POST":
        if not form.validate():  # FlaskForm checks its own CSRF token
            return render_template(
                "subscribers/unsubscribe.html",
                form=form,
                sub=sub,
                form_error=_("表单已过期，请刷新页面后重试。"),
            ), 400
        outcome = service.unsubscribe(db.session, sub, form.keep.data or [])
        return render_template("subscribers/unsubscribed.html", sub=sub, outcome=outcome)
    if sub.status not in service.RECEIVING:
        return render_template("subscribers/unsubscribed.html", sub=sub, outcome="already")
    return render_template("subscribers/unsubscribe.html", form=form, sub=sub)


# --- fresh link -----------------------------------------------------------------------------


@bp.route("/link", methods=["GET", "POST"])
def request_link():
    """Ask for new links by mail (for a link that expired or was damaged)."""
    form = forms.LinkRequestForm()
    if request.method == "GET":
        return render_template("subscribers/link_request.html", form=form)
    refused = _checked_and_allowed("link", "subscribers/link_request.html", form)
    if refused is not None:
        return refused
    service.send_fresh_link(db.session, form.email.data)
    return render_template(
        "subscribers/message.html",
        title=_("请查收邮件"),
        body=_("如果该地址在我们的订阅名单中，我们已向它发送了新的链接。"),
    )
