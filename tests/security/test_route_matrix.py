"""Every route of the app x every role (and anonymous), from the URL map itself.

* Staff routes (`role_required`): anonymous → redirect to the login page; a role that is
  not allowed → 403; an allowed role → anything but 401/403. Admins pass every check.
* API routes (`scope_required`): no token → 401; a token without the scope → 403.
* Every other route must be in PUBLIC with the reason it is public, or the test fails:
  a new route cannot be forgotten.
* CSRF: every form POST without its token is refused (400), except the listed ones.
"""

from __future__ import annotations

import re

from werkzeug.routing import IntegerConverter

from newsletter.extensions import db
from newsletter.staff import apitokens
from newsletter.staff.models import Role
from tests.conftest import csrf_token
from tests.staff.conftest import login

PUBLIC = {
    "static": "CSS and scripts",
    "core.favicon": "the site icon (a redirect to the static SVG)",
    "core.health": "for monitors; says only ok/error",
    "staff.login": "the login form",
    "staff.logout": "ending a session needs no role (POST with CSRF token)",
    "staff.password_forgot": "asking for a reset link",
    "staff.password_set": "authenticated by the signed emailed link",
    "bulletin.archive_index": "the public web archive of sent issues",
    "bulletin.archive_issue": "the public web archive of sent issues",
    "subscribe.subscribe": "the public subscribe form",
    "subscribe.check_inbox": "public page after subscribing",
    "subscribe.confirm": "authenticated by the signed link",
    "subscribe.preferences": "authenticated by the signed link",
    "subscribe.unsubscribe": "authenticated by the signed link",
    "subscribe.request_link": "asking for fresh links by email",
    "tracking.open_pixel": "signed tracking token",
    "tracking.click": "signed tracking token",
    "tracking.plain_redirect": "signed tracking token",
    "tracking.bounce_webhook": "authenticated by the X-Bounce-Secret header",
    "tracking.directmail_webhook": "authenticated by an HMAC of the body (X-Webhook-Signature)",
    "tracking.sendcloud_webhook": "authenticated by SendCloud's HMAC of timestamp + token",
    "api.openapi": "the API's description; no data",
}
# POST routes that take no CSRF token, and why.
CSRF_EXEMPT = {
    "subscribe.unsubscribe": "RFC 8058 one-click POST from mail clients (signed token)",
    "tracking.bounce_webhook": "server-to-server, shared secret header",
    "tracking.directmail_webhook": "server-to-server, signed body",
    "tracking.sendcloud_webhook": "server-to-server, signed fields",
}
ROLES = [r.value for r in Role]


def _requirement(view):
    while view is not None:
        for attr in ("required_roles", "required_scopes"):
            if hasattr(view, attr):
                return attr, tuple(str(r) for r in getattr(view, attr))
        view = getattr(view, "__wrapped__", None)
    return None


def _url(rule) -> str:
    values = {}
    for name, converter in rule._converters.items():
        kind = type(converter).__name__
        if isinstance(converter, IntegerConverter):
            values[name] = 1
        elif kind == "AnyConverter":
            values[name] = (
                min(converter.items)
                if hasattr(converter, "items")
                else re.search(r"any\(([^,)]+)", rule.rule).group(1).strip()
            )
        else:
            values[name] = "x"
    return rule.build(values, append_unknown=False)[1]


def _routes(app):
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method, _requirement(app.view_functions[rule.endpoint])


def _call(client, method: str, url: str, token: str | None, headers=None):
    data = {"csrf_token": token} if token and method != "GET" else None
    return client.open(url, method=method, data=data, headers=headers or {})


def test_every_route_is_decorated_or_listed_public(app):
    forgotten = sorted(
        {r.endpoint for r, _m, req in _routes(app) if req is None and r.endpoint not in PUBLIC}
    )
    assert not forgotten, f"routes with no role check and not in PUBLIC: {forgotten}"
    stale = sorted(set(PUBLIC) - {r.endpoint for r in app.url_map.iter_rules()})
    assert not stale, f"PUBLIC names routes that no longer exist: {stale}"


def test_staff_routes_by_role(app, make_staff):
    clients = {role: login(app, make_staff(role)) for role in ROLES}
    tokens = {role: csrf_token(c, "/staff/me") for role, c in clients.items()}
    anon = app.test_client()
    anon_token = csrf_token(anon, "/staff/login")
    checked = 0
    problems = []
    for rule, method, req in _routes(app):
        if req is None or req[0] != "required_roles":
            continue
        url, allowed = _url(rule), req[1]
        r = _call(anon, method, url, anon_token)
        if not (r.status_code == 302 and r.headers["Location"].startswith("/staff/login")):
            problems.append(f"anonymous {method} {url}: {r.status_code}")
        for role in ROLES:
            r = _call(clients[role], method, url, tokens[role])
            may = not allowed or role in allowed or role == "admin"
            if may and r.status_code in (401, 403):
                problems.append(f"{role} {method} {url}: {r.status_code}, should be allowed")
            if may and r.status_code == 302 and "/staff/login" in r.headers["Location"]:
                problems.append(f"{role} {method} {url}: sent to login")
            if not may and r.status_code != 403:
                problems.append(f"{role} {method} {url}: {r.status_code}, should be 403")
            checked += 1
    assert not problems, "\n".join(problems)
    assert checked > 100
    print(f"\nroute x role matrix: {checked} staff requests checked")


def test_api_routes_by_scope(app, make_staff):
    client = app.test_client()
    headers = {}
    for role in ROLES:
        _t, plain = apitokens.create_token(db.session, make_staff(role), "m", [role])
        headers[role] = {"Authorization": f"Bearer {plain}"}
    problems = []
    for rule, method, req in _routes(app):
        if req is None or req[0] != "required_scopes":
            continue
        url, allowed = _url(rule), req[1]
        r = client.open(url, method=method, json={} if method != "GET" else None)
        if r.status_code != 401:
            problems.append(f"no token {method} {url}: {r.status_code}")
        for role in ROLES:
            r = client.open(
                url,
                method=method,
                headers=headers[role],
                json={} if method not in ("GET", "DELETE") else None,
            )
            may = not allowed or role in allowed or role == "admin"
            if may == (r.status_code in (401, 403)) or (not may and r.status_code != 403):
                problems.append(f"{role} {method} {url}: {r.status_code}")
    assert not problems, "\n".join(problems)


def test_public_routes_answer_anonymous_visitors(app):
    client = app.test_client()
    for rule, method, req in _routes(app):
        if req is not None or method != "GET" or rule.endpoint == "static":
            continue
        r = client.get(_url(rule))
        assert r.status_code not in (401, 403, 500), (rule.rule, r.status_code)


def test_forms_without_their_csrf_token_are_refused(app, make_staff):
    admin = login(app, make_staff("admin"))
    anon = app.test_client()
    refused = 0
    for rule, method, req in _routes(app):
        if method == "GET" or rule.endpoint in CSRF_EXEMPT or (req and req[0] == "required_scopes"):
            continue
        client = admin if req else anon
        r = client.open(_url(rule), method=method, data={"anything": "x"})
        assert r.status_code == 400, (rule.rule, method, r.status_code)
        refused += 1
    assert refused > 20
