"""The tracking endpoints' common case answered before Flask: a WSGI middleware.

Measured (bench/tracking.py, in-process profile): with the event buffered in memory, what
was left of a pixel request was Flask's own machinery — request context, session, URL
matching, the after-request hooks — about as much again as the work itself. For GET
requests of `/t/o/<token>.gif`, `/t/c/<token>/<n>` and `/t/r/<token>/<n>` whose token is
genuine (and, for links, whose send's link table this process has already cached), this
answers directly with the same status, body and headers as the Flask views
(`views.py`: the same `record`, the same headers from `security.COMMON_HEADERS`).
Everything else — a bad link (a page), a cold link cache (a database read), HEAD — goes
to Flask unchanged.
"""

from __future__ import annotations

import re

from werkzeug.urls import iri_to_uri

from newsletter.security import COMMON_HEADERS, HSTS, NON_HTML_CSP
from newsletter.tracking import events, signing, views

_PIXEL_RE = re.compile(r"^/t/o/([0-9A-Za-z._-]{1,80})\.gif$")
_LINK_RE = re.compile(r"^/t/([cr])/([0-9A-Za-z._-]{1,80})/([1-9][0-9]{0,8})$")


def _headers(extra: dict, secure: bool) -> list[tuple[str, str]]:
    out = [("Content-Security-Policy", NON_HTML_CSP), ("X-Frame-Options", "DENY")]
    names = {k for k, _ in extra.items()}
    out += [(k, v) for k, v in COMMON_HEADERS if k not in names]
    out += list(extra.items())
    if secure:
        out.append(HSTS)
    return out


_BASE = {"Cache-Control": views.NO_STORE["Cache-Control"], "Pragma": views.NO_STORE["Pragma"]}
_GIF = {**_BASE, "Content-Type": "image/gif", "Content-Length": str(len(views.PIXEL))}
_GIF_HEADERS = {secure: _headers(_GIF, secure) for secure in (False, True)}
_REDIRECT = {**_BASE, **views.REDIRECT_HEADERS, "Content-Length": "0"}
_REDIRECT_HEADERS = {secure: _headers(_REDIRECT, secure) for secure in (False, True)}


class TrackingFastPath:
    def __init__(self, app, wsgi_app):
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/t/") and environ.get("REQUEST_METHOD") == "GET":
            answer = self._answer(environ, path)
            if answer is not None:
                status, headers, body = answer
                start_response(status, headers)
                return [body]
        return self.wsgi_app(environ, start_response)

    def _answer(self, environ, path: str):
        secure = environ.get("wsgi.url_scheme") == "https"
        key = views.settings_for(self.app).secret_key
        m = _PIXEL_RE.match(path)
        if m:
            ids = signing.read_delivery_token(key, m.group(1))
            if ids is None:
                return "404 NOT FOUND", _GIF_HEADERS[secure], views.PIXEL
            self._record(environ, events.OPEN, ids, 0)
            return "200 OK", _GIF_HEADERS[secure], views.PIXEL
        m = _LINK_RE.match(path)
        if not m:
            return None
        kind, token, n = m.group(1), m.group(2), int(m.group(3))
        if kind == "c":
            ids = signing.read_delivery_token(key, token)
            send_id = ids[0] if ids else None
        else:
            ids, send_id = None, signing.read_send_token(key, token)
        url = views.links_for(self.app).cached(send_id, n) if send_id else None
        if url is None:
            return None  # not cached yet, or not a link: Flask reads it or answers the page
        if ids:
            self._record(environ, events.CLICK, ids, n)
        location = url if url.isascii() else iri_to_uri(url)
        return "302 FOUND", [*_REDIRECT_HEADERS[secure], ("Location", location)], b""

    def _record(self, environ, kind: str, ids, n: int) -> None:
        views.record(
            self.app,
            kind,
            ids,
            n,
            "GET",
            environ.get("HTTP_USER_AGENT"),
            environ.get("REMOTE_ADDR"),
        )
