"""The API blueprint and its plumbing: token auth with scopes, JSON errors (errors.py), cursors,
request-body checks. Resource modules add their routes to `bp`."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import re
from collections.abc import Sequence
from typing import overload

from flask import Blueprint, current_app, request
from werkzeug.exceptions import HTTPException

from newsletter.api.errors import (
    ApiError,
    error_response,
    http_error_response,
    is_api_request,
    too_large,
)
from newsletter.extensions import csrf, db
from newsletter.phrase import N_, P, Phrase
from newsletter.staff import apitokens, audit

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # authenticated by the Authorization header only, never by a cookie

MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_ID = 2**31 - 1  # ids in URLs above this are not ours (and overflow SQLite / int4)
DEFAULT_LIMIT, MAX_LIMIT = 50, 200
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    return error_response(exc.status, exc.message, exc.code, **exc.extra)


@bp.app_errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    """JSON for every HTTP error under /api/v1 (404s of unknown paths too); others as usual."""
    if not is_api_request():
        return exc
    if exc.code == 413:
        return error_response(413, too_large(MAX_BODY_BYTES))
    return http_error_response(exc.code or 500)


@bp.app_errorhandler(500)
def _server_error(exc):
    if not is_api_request():
        return exc
    return http_error_response(500)


@bp.before_request
def _check_request():
    """Body size limit; query parameters the document does not name are refused (a typo
    such as ?limt=10 should not silently give the default)."""
    request.max_content_length = MAX_BODY_BYTES
    if request.endpoint == "api.issues_import":  # a Word or PDF file, base64 in the JSON
        from newsletter.bulletin.limits import MAX_FILE_BYTES

        request.max_content_length = MAX_FILE_BYTES * 4 // 3 + 64 * 1024
    prefix = bp.url_prefix or ""
    unknown = sorted(set(request.args) - _query_names(request.path[len(prefix) :]))
    if unknown:
        raise ApiError(400, P(N_("未知的查询参数：%(names)s"), names=", ".join(unknown)[:200]))


@functools.cache
def _query_templates() -> list[tuple[re.Pattern, frozenset[str]]]:
    from newsletter.api.openapi import document

    out = []
    for path, ops in document()["paths"].items():
        pattern = re.compile("^" + re.sub(r"\\{\w+\\}", "[^/]+", re.escape(path)) + "$")
        names = {
            p["name"] for op in ops.values() for p in op.get("parameters", []) if p["in"] == "query"
        }
        out.append((pattern, frozenset(names)))
    return out


def _query_names(path: str) -> frozenset[str]:
    for pattern, names in _query_templates():
        if pattern.match(path):
            return names
    return frozenset()


# --- auth -----------------------------------------------------------------------------------


def scope_required(*scopes: str):
    """Bearer token with any of `scopes` (none: any valid token). Sets `required_scopes`."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            header = request.headers.get("Authorization", "")
            kind, _, plain = header.partition(" ")
            if kind.lower() != "bearer" or not plain.strip():
                raise ApiError(401, P(N_("需要 API 令牌：Authorization: Bearer <令牌>")))
            token = apitokens.authenticate(db.session, plain.strip())
            if token is None:
                raise ApiError(401, P(N_("API 令牌不存在、已吊销或已过期")))
            allowed = apitokens.effective_scopes(token)
            if scopes and not allowed & set(scopes):
                raise ApiError(
                    403, P(N_("这个令牌缺少权限范围：%(scopes)s"), scopes=" | ".join(scopes))
                )
            request.environ[audit.API_USER] = token.staff
            request.environ[audit.VIA] = "api"
            request.environ["newsletter.api_token"] = token
            return view(*args, **kwargs)

        # read by the route x role test matrix; functions take attributes, mypy's wraps() type doesn't
        wrapped.required_scopes = tuple(scopes)  # type: ignore[attr-defined]
        return wrapped

    return decorator


def actor():
    return request.environ[audit.API_USER]


def record(action: str, target: str, detail: dict | None = None) -> None:
    token = request.environ.get("newsletter.api_token")
    audit.record(
        f"api.{action}", target, {**(detail or {}), "token": token.prefix if token else ""}
    )


# --- input ----------------------------------------------------------------------------------

MAX_JSON_DEPTH = 20  # our documents are two or three levels deep


def _too_deep() -> Phrase:
    return P(N_("请求体嵌套超过 %(n)s 层"), n=str(MAX_JSON_DEPTH))


def missing_fields(*keys: str) -> Phrase:
    return P(N_("缺少字段：%(names)s"), names=", ".join(keys))


def not_bool(key: str) -> Phrase:
    return P(N_("%(key)s 必须是 true 或 false"), key=key)


def _depth(value, limit: int = MAX_JSON_DEPTH + 1) -> int:
    """Nesting depth of a parsed JSON value, counted up to `limit` (iteratively)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            if deepest >= limit:
                return deepest
            stack.extend(
                (v, level + 1) for v in (item.values() if isinstance(item, dict) else item)
            )
    return deepest


def json_body(allowed: set[str], required: frozenset[str] | set[str] = frozenset()) -> dict:
    if not request.is_json:
        raise ApiError(415, P(N_("请以 JSON 发送请求体（Content-Type: application/json）")))
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # nested deeper than the parser goes: not a document we take
        raise ApiError(400, _too_deep()) from None
    if _depth(body) > MAX_JSON_DEPTH:
        raise ApiError(400, _too_deep())
    if not isinstance(body, dict):
        raise ApiError(400, P(N_("请求体必须是 JSON 对象")))
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(400, P(N_("未知字段：%(names)s"), names=", ".join(unknown)))
    missing = sorted(required - set(body))
    if missing:
        raise ApiError(400, missing_fields(*missing))
    return body


@overload
def text_field(
    body: dict, key: str, max_len: int, *, multiline: bool = False, default: str
) -> str: ...
@overload
def text_field(
    body: dict, key: str, max_len: int, *, multiline: bool = False, default: None = None
) -> str | None: ...
def text_field(
    body: dict, key: str, max_len: int, *, multiline: bool = False, default: str | None = None
) -> str | None:
    if key not in body:
        return default
    value = body[key]
    if not isinstance(value, str):
        raise ApiError(400, P(N_("%(key)s 必须是字符串"), key=key))
    if len(value) > max_len:
        raise ApiError(400, P(N_("%(key)s 超过 %(n)s 个字符"), key=key, n=str(max_len)))
    if "\x00" in value or (
        _CONTROL.search(value) if multiline else any(ord(c) < 32 or ord(c) == 127 for c in value)
    ):
        raise ApiError(
            400,
            P(N_("%(key)s 不能包含控制字符"), key=key)
            if multiline
            else P(N_("%(key)s 不能包含换行或控制字符"), key=key),
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a \ud800 escape
        raise ApiError(400, P(N_("%(key)s 不是有效的 Unicode 文本"), key=key)) from None
    return value


def required_text(body: dict, key: str, max_len: int, *, multiline: bool = False) -> str:
    """A string field that must be there (json_body's `required`, or the caller, checked)."""
    value = text_field(body, key, max_len, multiline=multiline)
    if value is None:
        raise ApiError(400, missing_fields(key))
    return value


def base64_field(body: dict, key: str, max_bytes: int) -> bytes:
    """The bytes of a base64 string field (standard alphabet, padding optional)."""
    value = body.get(key)
    if not isinstance(value, str):
        raise ApiError(400, P(N_("%(key)s 必须是 base64 字符串"), key=key))
    if len(value) > (max_bytes * 4) // 3 + 4:
        raise ApiError(413, P(N_("%(key)s 超过 %(n)s MB"), key=key, n=str(max_bytes // (1 << 20))))
    try:
        return base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, P(N_("%(key)s 不是有效的 base64"), key=key)) from None


def no_groups() -> Phrase:
    return P(N_("groups 至少要有一个分组代码"))


def one_of(key: str, allowed: Sequence[str]) -> Phrase:
    return P(N_("%(key)s 必须是以下之一：%(choices)s"), key=key, choices=", ".join(allowed))


def choice(body: dict, key: str, allowed: tuple[str, ...]) -> str | None:
    if key in body and body[key] not in allowed:
        raise ApiError(400, one_of(key, allowed))
    return body.get(key)


@overload
def bool_field(body: dict, key: str, default: bool) -> bool: ...
@overload
def bool_field(body: dict, key: str, default: None = None) -> bool | None: ...
def bool_field(body: dict, key: str, default: bool | None = None) -> bool | None:
    if key not in body:
        return default
    if not isinstance(body[key], bool):
        raise ApiError(400, not_bool(key))
    return body[key]


def code_list(body: dict, key: str, max_items: int = 100) -> list[str] | None:
    if key not in body:
        return None
    value = body[key]
    if (
        not isinstance(value, list)
        or len(value) > max_items
        or not all(isinstance(v, str) and 0 < len(v) <= 64 for v in value)
    ):
        raise ApiError(
            400, P(N_("%(key)s 必须是最多 %(n)s 个代码的列表"), key=key, n=str(max_items))
        )
    return list(dict.fromkeys(value))


def datetime_field(body: dict, key: str) -> dt.datetime | None:
    """An ISO 8601 time with a zone offset -> naive UTC."""
    if body.get(key) is None:
        return None
    value = body[key]
    try:
        if not isinstance(value, str) or len(value) > 40:
            raise ValueError
        parsed = dt.datetime.fromisoformat(value.upper())
        parsed.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise ApiError(
            400, P(N_("%(key)s 必须是 ISO 8601 时间，例如 2026-12-01T09:00:00+08:00"), key=key)
        ) from None
    if parsed.tzinfo is None:
        raise ApiError(400, P(N_("%(key)s 需要时区偏移，例如 +08:00 或 Z"), key=key))
    return parsed.astimezone(dt.UTC).replace(tzinfo=None)


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") + "Z" if value else None


def query_text(name: str, max_len: int, min_len: int = 0) -> str:
    value = request.args.get(name)
    if value is None:
        return ""
    if not min_len <= len(value) <= max_len or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ApiError(
            400,
            P(
                N_("%(key)s 必须是一行 %(min)s–%(max)s 个字符"),
                key=name,
                min=str(min_len),
                max=str(max_len),
            ),
        )
    return value


# --- cursor pagination ------------------------------------------------------------------------


def page_args() -> tuple[int, int | None]:
    """(limit, the key to continue after) from ?limit= and ?cursor=."""
    raw = request.args.get("limit", str(DEFAULT_LIMIT))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ApiError(400, P(N_("limit 必须是 1 到 %(max)s 的整数"), max=str(MAX_LIMIT)))
    cursor = request.args.get("cursor")
    if cursor is None:
        return int(raw), None
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", cursor):
        raise ApiError(400, P(N_("cursor 无效：请原样传回 next_cursor")))
    try:
        decoded = base64.urlsafe_b64decode(cursor.encode("ascii") + b"=" * (-len(cursor) % 4))
        kind, _, value = decoded.decode("ascii").partition(":")
        if kind != "k" or not value.isdigit() or len(value) > 18:
            raise ValueError
    except (ValueError, UnicodeError, binascii.Error):
        raise ApiError(422, P(N_("cursor 不是本 API 给出的：请原样传回 next_cursor"))) from None
    return int(raw), int(value)


def make_cursor(key: int) -> str:
    return base64.urlsafe_b64encode(f"k:{key}".encode()).decode().rstrip("=")


def paged(rows: list, limit: int, key, render) -> dict:
    """rows: up to limit + 1 items in order; the extra one only says there is more."""
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": [render(r) for r in rows],
        "next_cursor": make_cursor(key(rows[-1])) if more and rows else None,
    }


def config():
    return current_app.config
