"""Language choice: zh-CN first, English available.

The reader's explicit choice (`?lang=en`, remembered in a cookie) wins; a subscriber's
stored language is used by the pages that know the subscriber; otherwise zh_CN.
"""

from __future__ import annotations

from flask import g, has_request_context, request

SUPPORTED = ("zh_CN", "en")
COOKIE = "lang"


def _normalise(value: str | None) -> str | None:
    if not value:
        return None
    value = value.replace("-", "_")
    for code in SUPPORTED:
        if value.lower() == code.lower() or value.lower() == code.split("_")[0]:
            return code
    return None


def select_locale() -> str:
    if not has_request_context():  # a worker or the CLI: mail code passes force_locale
        return "zh_CN"
    chosen = _normalise(request.args.get("lang"))
    if chosen:
        g.set_lang_cookie = chosen
        return chosen
    return (
        _normalise(getattr(g, "subscriber_locale", None))
        or _normalise(request.cookies.get(COOKIE))
        or "zh_CN"
    )


def remember_choice(response):
    lang = g.get("set_lang_cookie")
    if lang:
        response.set_cookie(COOKIE, lang, max_age=365 * 86400, samesite="Lax", httponly=True)
    return response
