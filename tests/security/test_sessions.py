"""Findings: a session cookie copied before sign-out kept working (31 days); the lockout told
which staff emails exist and let anyone lock any account from anywhere."""

from __future__ import annotations

import re

from tests.conftest import csrf_token
from tests.staff.conftest import PASSWORD, login, post_form


def _copy(app, client):
    """A second client holding a copy of `client`'s session cookie (a stolen cookie)."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def _login(client, email, password, ip):
    return client.post(
        "/staff/login",
        data={
            "csrf_token": csrf_token(client, "/staff/login"),
            "email": email,
            "password": password,
        },
        environ_base={"REMOTE_ADDR": ip},
    )


def test_a_copied_cookie_dies_with_sign_out(app, staff):
    client = login(app, staff("editor"))
    thief = _copy(app, client)
    assert thief.get("/staff/me").status_code == 200  # the copy works while signed in
    client.post("/staff/logout", data={"csrf_token": csrf_token(client, "/staff/me")})
    assert thief.get("/staff/me").status_code == 302  # and not after sign-out
    assert "/staff/login" in thief.get("/staff/me").headers["Location"]


def test_a_copied_cookie_dies_with_a_new_password_and_with_deactivation(app, staff):
    user = staff("editor")
    client = login(app, user)
    thief = _copy(app, client)
    assert (
        post_form(
            client,
            "/staff/me",
            {
                "current": PASSWORD,
                "password": "another long phrase",
                "confirm": "another long phrase",
            },
        ).status_code
        == 302
    )
    assert thief.get("/staff/me").status_code == 302
    assert client.get("/staff/me").status_code == 200  # the one that changed it goes on
    thief = _copy(app, client)
    admin = login(app, staff("admin"))
    assert (
        post_form(
            admin, f"/staff/accounts/{user.id}", {"name": "离职", "roles": ["editor"]}
        ).status_code
        == 302
    )
    assert thief.get("/staff/me").status_code == 302 and client.get("/staff/me").status_code == 302


def test_a_stranger_cannot_lock_the_owner_out_from_another_address(app, staff):
    user = staff("editor")
    stranger = app.test_client()
    for _ in range(5):
        assert _login(stranger, user.email, "guessing wrong", "203.0.113.9").status_code == 401
    refused = _login(stranger, user.email, PASSWORD, "203.0.113.9")
    assert refused.status_code == 401 and "暂时锁定" in refused.get_data(as_text=True)
    owner = _login(app.test_client(), user.email, PASSWORD, "198.51.100.20")
    assert owner.status_code == 302  # the owner, elsewhere, signs in


def test_the_lockout_reads_the_same_for_an_unknown_email(app, staff):
    user = staff("editor")
    pages = []
    for email in (user.email, "nobody-here@example.org"):
        client = app.test_client()
        for _ in range(5):
            _login(client, email, "guessing wrong", "203.0.113.10")
        last = _login(client, email, "guessing wrong", "203.0.113.10")
        pages.append((last.status_code, re.sub(r'value="[^"]*"', "", last.get_data(as_text=True))))
    assert pages[0] == pages[1] and "暂时锁定" in pages[0][1]
