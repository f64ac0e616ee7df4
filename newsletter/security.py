"""Security by default for every response: headers, cookie settings, a nonce for scripts.

* Content-Security-Policy for pages: scripts only from /static or inline ones carrying this
  request's nonce, styles only from /static (plus `style=` attributes, which the progress
  bars use), frames and forms same-origin only. Every `<script>` written in a template
  file gets the nonce when the template is compiled (`ScriptNonce`), so template authors
  need do nothing, while markup that arrives in data never carries it.
  A response that sets its own CSP (the email preview, the archive) keeps it.
* X-Frame-Options DENY, except the email preview frames (SAMEORIGIN); frame-ancestors too.
* Referrer-Policy same-origin: token-bearing URLs (preferences, unsubscribe, password
  links) never leak to other sites. nosniff, a restrictive Permissions-Policy.
* Session cookie: HttpOnly, SameSite=Lax, Secure unless the app runs in development or
  testing (COOKIE_SECURE=1/0 overrides). Pages for logged-in staff are not cached.
* Bodies over MAX_CONTENT_LENGTH (newsletter.config) get a clear 413 page.
"""

from __future__ import annotations

import re
import secrets

from flask import Blueprint, current_app, g, has_request_context, request
from flask_babel import gettext as _
from flask_login import current_user
from jinja2.ext import Extension
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

from newsletter.errors import error_page

bp = Blueprint("security", __name__)

# Endpoints whose pages are shown in a same-origin <iframe>.
FRAMEABLE = {"bulletin.issue_email", "devmail.message_html"}


def csp_nonce() -> str:
    if not has_request_context():
        return ""
    if "csp_nonce" not in g or g.csp_nonce_request is not request._get_current_object():  # type: ignore[attr-defined]
        # One per request (tests reuse one app context, hence the request check).
        g.csp_nonce = secrets.token_urlsafe(18)
        g.csp_nonce_request = request._get_current_object()  # type: ignore[attr-defined]
    return g.csp_nonce


class ScriptNonce(Extension):
    """Adds the request's nonce to each `<script` tag of a template's source (trusted),
    before Jinja compiles it."""

    _TAG = re.compile(r"<script(?![^>]*\bnonce=)(?=[\s>])", re.IGNORECASE)

    def preprocess(self, source, name, filename=None):
        return self._TAG.sub('<script nonce="{{ csp_nonce() }}"', source)


def page_policy(nonce: str | None, frameable: bool) -> str:
    script = f"script-src 'self' 'nonce-{nonce}'" if nonce else "script-src 'self'"
    return "; ".join(
        [
            "default-src 'self'",
            script,
            "style-src 'self'",
            "style-src-attr 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "frame-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'self'" if frameable else "frame-ancestors 'none'",
        ]
    )


def secure_cookies_wanted(app) -> bool:
    """COOKIE_SECURE on/off, or auto: secure unless testing, debugging or served over http."""
    forced = app.config["COOKIE_SECURE"]
    if forced != "auto":
        return forced == "on"
    development = app.testing or app.debug or app.config["BASE_URL"].startswith("http://")
    return not development


class BoundedIntegerConverter(IntegerConverter):
    """`<int:…>` with a ceiling: ids are 32-bit columns, so a longer number can name nothing
    (404) instead of overflowing the database driver (a 500 on SQLite and PostgreSQL)."""

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        if number > MAX_ID:
            # 404 here, not "no match": werkzeug would answer 405 when the same path has a
            # rule for another method (GET and DELETE /api/v1/subscribers/<id>).
            raise NotFound()
        return number


MAX_ID = 2**31 - 1


def install_converters(app) -> None:
    """Before any blueprint adds its routes (create_app calls it)."""
    app.url_map.converters["int"] = BoundedIntegerConverter


def _has_nul(values) -> bool:
    return any("\x00" in key or any("\x00" in v for v in values.getlist(key)) for key in values)


@bp.before_app_request
def refuse_nul_bytes():
    """A NUL byte in the path, query string or form is never meaningful, and PostgreSQL
    refuses it in any text it is handed (a 500): 400 at the door. (The tracking endpoints
    check an HMAC before anything else and answer in their own format: a pixel stays a gif.)"""
    if (request.endpoint or "").startswith("tracking."):
        return None
    if (
        "\x00" in request.path
        or _has_nul(request.args)
        or (
            request.method in ("POST", "PUT", "PATCH")
            and request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data")
            and _has_nul(request.form)
        )
    ):
        from newsletter.api.errors import error_response, is_api_request
        from newsletter.phrase import N_, P

        if is_api_request():
            return error_response(400, P(N_("请求中不能有 NUL 字节")))
        return error_page(
            400, _("请求无效"), _("请求中含有不允许的字符，没有处理。请返回上一页重试。")
        )
    return None


@bp.record_once
def _configure(state) -> None:
    app = state.app
    secure = secure_cookies_wanted(app)
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=secure,
        PREFERRED_URL_SCHEME="https" if secure else "http",
    )
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.jinja_env.add_extension(ScriptNonce)


# Every response carries these (set_headers; the tracking fast path sends them itself).
COMMON_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
NON_HTML_CSP = "default-src 'none'; frame-ancestors 'none'"
HSTS = ("Strict-Transport-Security", "max-age=31536000")


@bp.after_app_request
def set_headers(response):
    headers = response.headers
    frameable = request.endpoint in FRAMEABLE
    if "Content-Security-Policy" not in headers:
        html = response.mimetype == "text/html"
        # the proxied object itself (the nonce belongs to this request); LocalProxy's method is not in the stubs
        same = g.get("csp_nonce_request") is request._get_current_object()  # type: ignore[attr-defined]
        nonce = g.get("csp_nonce") if same else None
        headers["Content-Security-Policy"] = page_policy(nonce, frameable) if html else NON_HTML_CSP
    headers.setdefault("X-Frame-Options", "SAMEORIGIN" if frameable else "DENY")
    for name, value in COMMON_HEADERS:
        headers.setdefault(name, value)
    if request.is_secure:
        headers.setdefault(*HSTS)
    if (
        request.endpoint != "static"
        and "Cache-Control" not in headers
        and current_user
        and current_user.is_authenticated
    ):
        headers["Cache-Control"] = "no-store"
    return response


@bp.app_errorhandler(413)
def too_large(exc):
    """A clear answer for an oversized body (pages with their own 413 handler keep theirs)."""
    from newsletter.api.errors import error_response, is_api_request, too_large

    limit = request.max_content_length or current_app.config["MAX_CONTENT_LENGTH"]
    if is_api_request():
        return error_response(413, too_large(limit))
    return error_page(
        413,
        _("文件太大"),
        _(
            "提交的内容超过了 %(mb)s MB 的上限，没有保存任何内容。请缩小文件后重试。",
            mb=max(limit // (1024 * 1024), 1),
        ),
    )
