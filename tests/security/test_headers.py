"""Security headers and cookie settings, on pages, the preview frame, JSON and static."""

from __future__ import annotations

import re

from newsletter import create_app
from newsletter.bulletin.service import import_issue
from newsletter.extensions import db
from tests.staff.conftest import login


def _csp(response) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return {p.split()[0]: p for p in (x.strip() for x in policy.split(";")) if p}


def test_pages_get_a_strict_policy_with_a_fresh_nonce(app, make_staff, sample_text):
    import_issue(db.session, sample_text)
    client = login(app, make_staff("admin"))
    first = client.get("/issues/396")
    csp = _csp(first)
    assert csp["default-src"] == "default-src 'self'"
    assert "'unsafe-inline'" not in csp["script-src"] and "'unsafe-eval'" not in csp["script-src"]
    assert csp["frame-ancestors"] == "frame-ancestors 'none'"
    assert csp["object-src"] == "object-src 'none'" and csp["base-uri"] == "base-uri 'none'"
    nonce = re.search(r"'nonce-([^']+)'", csp["script-src"]).group(1)
    html = first.get_data(as_text=True)
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts and all(f'nonce="{nonce}"' in s for s in scripts)
    second = _csp(client.get("/issues/396"))["script-src"]
    assert nonce not in second  # a new nonce per response
    assert first.headers["X-Frame-Options"] == "DENY"
    assert first.headers["Referrer-Policy"] == "same-origin"
    assert first.headers["X-Content-Type-Options"] == "nosniff"
    assert first.headers["Cache-Control"] == "no-store"  # a staff page


def test_data_never_gets_a_nonce(app, make_staff, sample_text):
    """A <script> arriving in content is escaped, and would carry no nonce anyway."""
    text = sample_text.decode().replace("行业动态周报", "行业动态周报<script>alert(1)</script>", 1)
    import_issue(db.session, text.encode())
    client = login(app, make_staff("admin"))
    html = client.get("/issues/396/review").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_preview_frame_is_same_origin_only(app, make_staff, sample_text):
    import_issue(db.session, sample_text)
    client = login(app, make_staff("editor"))
    frame = client.get("/issues/396/email?edition=regular")
    assert frame.status_code == 200
    assert frame.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in frame.headers["Content-Security-Policy"]
    assert "sandbox" in frame.headers["Content-Security-Policy"]  # its own policy is kept


def test_json_and_public_pages_have_headers_too(app):
    client = app.test_client()
    for path in (
        "/health",
        "/api/v1/openapi.json",
        "/staff/login",
        "/subscribe",
        "/static/app.css",
    ):
        r = client.get(path)
        assert r.headers["X-Frame-Options"] == "DENY", path
        assert r.headers["X-Content-Type-Options"] == "nosniff", path
        assert "Content-Security-Policy" in r.headers, path
    assert (
        "Cache-Control" not in client.get("/subscribe").headers
        or client.get("/subscribe").headers["Cache-Control"] != "no-store"
    )


def _first_cookie(client) -> str:
    client.get("/staff/login")
    response = client.get("/staff/login")
    cookies = [
        v for k, v in response.headers.items() if k == "Set-Cookie" and v.startswith("session=")
    ]
    assert cookies, "the login page sets the session cookie"
    return cookies[0]


def test_session_cookie_is_httponly_lax_and_secure_in_production(app_config):
    dev = create_app({**app_config, "TESTING": True})
    cookie = _first_cookie(dev.test_client())
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    prod = create_app({**app_config, "TESTING": False, "BASE_URL": "https://news.example.org"})
    cookie = _first_cookie(prod.test_client())
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    assert prod.config["PREFERRED_URL_SCHEME"] == "https"
    forced = create_app(
        {
            **app_config,
            "TESTING": False,
            "COOKIE_SECURE": "0",
            "BASE_URL": "https://news.example.org",
        }
    )
    assert forced.config["SESSION_COOKIE_SECURE"] is False
    https = prod.test_client().get("/health", base_url="https://news.example.org")
    assert https.headers["Strict-Transport-Security"].startswith("max-age=")
