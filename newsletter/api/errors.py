"""The API's error answers: `{"error": {"status", "code", "message", …}}`.

`code` is the stable key a client branches on. `message` is a phrase (newsletter/phrase.py)
said when the answer is made, in the request's language: its Accept-Language, zh-CN by
default (newsletter/i18n.py `api_locale`, flask-babel's locale for every /api/v1 request).
A plain str is taken only for words already said in that language (a SubscriptionError's,
said by flask-babel where it was raised; the parser's, through `display.say_parser`).
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import jsonify, request
from flask_babel import get_locale

from newsletter import i18n
from newsletter.display import say
from newsletter.phrase import N_, P, Phrase, PhraseError

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}

# What an HTTP error of the framework (no route, wrong method, …) says under /api/v1.
HTTP_MESSAGES = {
    400: N_("请求格式有误"),
    401: N_("需要 API 令牌"),
    403: N_("没有权限"),
    404: N_("没有这个资源"),
    405: N_("这个地址不接受这种请求方式"),
    410: N_("这个资源已不再提供"),
    415: N_("不支持这种请求体格式"),
    429: N_("请求太频繁，请稍后再试"),
    500: N_("服务器内部出错，已记录下来"),
    503: N_("服务暂时不可用，请稍后再试"),
}
OTHER = N_("请求无法处理（HTTP %(status)s）")

Words = Phrase | str


class ApiError(Exception):
    """An error answer; `message` a phrase (or words already said, see the module)."""

    def __init__(self, status: int, message: Words, code: str | None = None, **extra):
        super().__init__(message if isinstance(message, str) else message.text())
        self.status, self.message = status, message
        self.code = code or CODES.get(status, "error")
        self.extra = extra


def is_api_request() -> bool:
    return i18n.is_api_path(request.path)


def of(exc: Exception) -> Words:
    """A service exception's words: the phrase of a PhraseError (to be said in the request's
    language), else its message (SubscriptionError's is said where it is raised)."""
    return exc.phrase if isinstance(exc, PhraseError) else str(exc)


def said_list(phrases: Iterable[Phrase]) -> str:
    """Several phrases as one sentence (an issue over several size limits)."""
    english = str(get_locale()).startswith("en")
    return ("; " if english else "；").join(say(p) for p in phrases)


def error_response(status: int, message: Words, code: str | None = None, **extra):
    body = {"status": status, "code": code or CODES.get(status, "error"), "message": say(message)}
    body.update({k: say(v) if isinstance(v, Phrase) else v for k, v in extra.items()})
    response = jsonify(error=body)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def too_large(limit: int) -> Phrase:
    return P(N_("请求体太大（上限 %(kb)s KB）"), kb=str(limit // 1024))


def http_error_response(status: int):
    """The answer to an HTTP error of the framework under /api/v1 (the 413 has its limit:
    `too_large`)."""
    msgid = HTTP_MESSAGES.get(status)
    return error_response(status, P(msgid) if msgid else P(OTHER, status=str(status)))
