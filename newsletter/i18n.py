"""Language choice: zh-CN first, English available.

The reader's explicit choice (`?lang=en`, remembered in a cookie) wins; a subscriber's
stored language is used by the pages that know the subscriber; otherwise zh_CN.

The JSON API (/api/v1) is spoken to by programs, not readers: it follows the request's
Accept-Language (the client's most wanted of zh-CN and en; zh-CN without one) and nothing
else, sets no cookie, and says its language in Content-Language. The pages never follow
Accept-Language.
"""

from __future__ import annotations

from flask import g, has_request_context, request

SUPPORTED = ("zh_CN", "en")
COOKIE = "lang"
API_PREFIX = "/api/v1"


def _normalise(value: str | None) -> str | None:
    if not value:
        return None
    value = value.replace("-", "_")
    for code in SUPPORTED:
        if value.lower() == code.lower() or value.lower() == code.split("_")[0]:
            return code
    return None


def is_api_path(path: str) -> bool:
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def api_locale() -> str:
    """The API request's language: the first of Accept-Language's languages, by quality
    (then the client's order), that we speak; any zh is zh_CN, any en is en. zh_CN when
    none is ours, or "*" comes before them."""
    for value, quality in sorted(request.accept_languages, key=lambda item: -item[1]):
        primary = value.replace("_", "-").split("-")[0].lower()
        if quality > 0 and primary in ("zh", "en", "*"):
            return "en" if primary == "en" else "zh_CN"
    return "zh_CN"


def select_locale() -> str:
    if not has_request_context():  # a worker or the CLI: mail code passes force_locale
        return "zh_CN"
    if is_api_path(request.path):  # never ?lang=, the cookie or a subscriber's language
        return api_locale()
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
    if is_api_path(request.path):
        response.headers["Content-Language"] = api_locale().replace("_", "-")
        return response
    lang = g.get("set_lang_cookie")
    if lang:
        response.set_cookie(COOKIE, lang, max_age=365 * 86400, samesite="Lax", httponly=True)
    return response
