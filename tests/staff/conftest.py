"""Fixtures of the staff, review, API and security tests (imported by their conftests)."""

from __future__ import annotations

import re

import pytest

from newsletter.extensions import db
from tests.conftest import csrf_token

PASSWORD = "correct horse battery"


def login(app, user, password: str = PASSWORD):
    """A test client logged in as `user` through the real login form."""
    client = app.test_client()
    response = client.post(
        "/staff/login",
        data={
            "csrf_token": csrf_token(client, "/staff/login"),
            "email": user.email,
            "password": password,
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def post_form(client, path: str, data: dict, token_from: str | None = None, **kwargs):
    """POST `data` with the CSRF token of the page at `token_from` (default: `path`)."""
    return client.post(
        path, data={"csrf_token": csrf_token(client, token_from or path), **data}, **kwargs
    )


def links_in(message_bytes: bytes) -> list[str]:
    """The http(s) links of a received message's text part."""
    import email
    import email.policy

    msg = email.message_from_bytes(message_bytes, policy=email.policy.default)
    part = msg.get_body(preferencelist=("plain",))
    return re.findall(r"https?://\S+", part.get_content())


@pytest.fixture
def staff(app, make_staff):
    """make_staff with a readable name: staff("editor", name="王编辑")."""

    def make(*roles: str, name: str = "", email: str | None = None):
        user = make_staff(*roles, email=email)
        if name:
            user.name = name
            db.session.commit()
        return user

    return make


@pytest.fixture
def api(app, make_staff):
    """api(*roles) -> (client, headers) with a fresh token carrying those roles as scopes."""
    from newsletter.staff import apitokens

    def make(*roles: str, scopes=None, user=None):
        user = user or make_staff(*roles)
        _token, plain = apitokens.create_token(db.session, user, "tests", scopes or list(roles))
        return app.test_client(), {"Authorization": f"Bearer {plain}"}

    return make
