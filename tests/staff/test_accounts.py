"""Staff accounts: login with lockout and rate limit, sessions that end, invitations and
password resets by signed emailed link (through the real queue and SMTP server; the queue drained in process)."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from newsletter.extensions import db
from newsletter.staff.models import AuditEntry, StaffUser
from tests.conftest import csrf_token
from tests.delivery.support import wait_until
from tests.staff.conftest import PASSWORD, links_in, login, post_form


def _login(client, email, password):
    return client.post(
        "/staff/login",
        data={
            "csrf_token": csrf_token(client, "/staff/login"),
            "email": email,
            "password": password,
        },
    )


def _actions() -> list[str]:
    db.session.rollback()
    return list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_five_failures_lock_the_account_and_an_admin_unlocks_it(app, staff):
    user = staff("editor")
    client = app.test_client()
    for _ in range(5):
        response = _login(client, user.email, "wrong password!")
        assert response.status_code == 401
        assert "邮箱或密码不正确" in response.get_data(as_text=True)
    locked = _login(client, user.email, PASSWORD)  # even the right password is refused now
    assert locked.status_code == 401 and "暂时锁定" in locked.get_data(as_text=True)
    assert _actions()[-6:] == ["login.failed"] * 5 + ["login.locked"]

    admin = login(app, staff("admin"))
    page = admin.get("/staff/accounts").get_data(as_text=True)
    assert "已锁定至" in page
    assert (
        post_form(
            admin, f"/staff/accounts/{user.id}/unlock", {}, token_from="/staff/accounts"
        ).status_code
        == 302
    )
    assert _login(client, user.email, PASSWORD).status_code == 302
    assert "account.unlock" in _actions()


def test_login_attempts_are_rate_limited_per_address(app, staff):
    app.config["LOGIN_RATE_PER_IP"] = "3/600"
    user = staff("editor")
    client = app.test_client()
    for _ in range(3):
        assert _login(client, "nobody@example.org", "whatever123").status_code == 401
    limited = _login(client, user.email, PASSWORD)  # right password, but the IP is over
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0
    assert "尝试次数过多" in limited.get_data(as_text=True)
    db.session.refresh(user)
    assert user.failed_logins == 0  # refused before any password check


def test_unknown_email_and_wrong_password_read_the_same(app, staff):
    user = staff("editor")
    client = app.test_client()
    a = _login(client, "nobody@example.org", "whatever123")
    b = _login(client, user.email, "whatever123")
    assert a.status_code == b.status_code == 401

    def strip(r):
        return re.sub(r'value="[^"]*"', "", r.get_data(as_text=True))

    assert strip(a) == strip(b)


def test_open_redirect_after_login_is_refused(app, staff):
    user = staff("editor")
    client = app.test_client()
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = client.post(
            f"/staff/login?next={target}",
            data={
                "csrf_token": csrf_token(client, "/staff/login"),
                "email": user.email,
                "password": PASSWORD,
            },
        )
        assert response.headers["Location"] == "/issues", target
        client.post("/staff/logout", data={"csrf_token": csrf_token(client, "/staff/me")})


def test_deactivating_an_account_ends_its_session(app, staff):
    user = staff("editor")
    client = login(app, user)
    assert client.get("/staff/me").status_code == 200
    admin = login(app, staff("admin"))
    response = post_form(
        admin, f"/staff/accounts/{user.id}", {"name": "离职同事", "roles": ["editor"]}
    )  # "active" unticked
    assert response.status_code == 302
    assert client.get("/staff/me").status_code == 302  # back to the login page
    assert _login(app.test_client(), user.email, PASSWORD).status_code == 401


def test_changing_the_password_ends_other_sessions(app, staff):
    user = staff("editor")
    laptop, phone = login(app, user), login(app, user)
    response = post_form(
        laptop,
        "/staff/me",
        {
            "current": PASSWORD,
            "password": "a new long passphrase",
            "confirm": "a new long passphrase",
        },
    )
    assert response.status_code == 302
    assert laptop.get("/staff/me").status_code == 200  # this session goes on
    assert phone.get("/staff/me").status_code == 302  # the other one ended
    assert "password.changed" in _actions()


def test_the_last_admin_cannot_be_demoted(app, staff):
    admin = staff("admin")
    client = login(app, admin)
    response = post_form(
        client, f"/staff/accounts/{admin.id}", {"name": "", "roles": ["editor"], "active": "y"}
    )
    assert response.status_code == 400
    assert "最后一位管理员" in response.get_data(as_text=True)
    db.session.refresh(admin)
    assert admin.roles == ["admin"]


def test_bad_account_input_is_refused_and_nothing_is_written(app, staff):
    client = login(app, staff("admin"))
    before = db.session.scalar(select(func.count()).select_from(StaffUser))
    for data in (
        {"email": "not-an-address", "name": "x", "roles": ["editor"]},
        {"email": "a@example.org\r\nBcc: x@evil.example", "roles": ["editor"]},
        {"email": "b@example.org", "name": "名字\r\n注入", "roles": ["editor"]},
        {"email": "c@example.org", "name": "x", "roles": ["superuser"]},
        {"email": "d@example.org", "name": "x"},
    ):
        response = post_form(client, "/staff/accounts/new", data)
        assert response.status_code == 400, data
    assert db.session.scalar(select(func.count()).select_from(StaffUser)) == before


def test_invitation_link_sets_the_password_once(app, staff, smtp, run_jobs):
    client = login(app, staff("admin"))
    response = post_form(
        client,
        "/staff/accounts/new",
        {"email": "New.Colleague@Example.org", "name": "新同事", "roles": ["editor", "reviewer"]},
    )
    assert response.status_code == 302
    run_jobs()
    wait_until(lambda: smtp.received, 10, "the invitation mail")
    mail = smtp.received[-1]
    assert mail.rcpt_tos == ["new.colleague@example.org"]
    link = next(u for u in links_in(mail.data) if "/staff/password/" in u)
    path = link.split("newsletter.test", 1)[1]

    visitor = app.test_client()
    page = visitor.get(path)
    assert page.status_code == 200 and "设置密码，启用账号" in page.get_data(as_text=True)
    weak = post_form(visitor, path, {"password": "short", "confirm": "short"})
    assert weak.status_code == 400 and "至少需要 10 个字符" in weak.get_data(as_text=True)
    done = post_form(
        visitor, path, {"password": "桃花潭水深千尺 2026", "confirm": "桃花潭水深千尺 2026"}
    )
    assert done.status_code == 302
    assert (
        _login(app.test_client(), "new.colleague@example.org", "桃花潭水深千尺 2026").status_code
        == 302
    )
    again = visitor.get(path)  # used: the stamp in the link no longer matches
    assert again.status_code == 400 and "已失效" in again.get_data(as_text=True)
    assert {"account.created", "password.invite"} <= set(_actions())


def test_forgot_password_answers_the_same_and_mails_only_accounts(app, staff, smtp, run_jobs):
    user = staff("sender")
    client = app.test_client()
    known = post_form(client, "/staff/password/forgot", {"email": user.email})
    unknown = post_form(client, "/staff/password/forgot", {"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 200
    assert known.get_data(as_text=True) == unknown.get_data(as_text=True)
    run_jobs()
    wait_until(lambda: smtp.received, 10, "the reset mail")
    assert [m.rcpt_tos for m in smtp.received] == [[user.email]]
    link = next(u for u in links_in(smtp.received[0].data) if "/staff/password/" in u)
    token = link.rsplit("/", 1)[1]
    tampered = client.get(f"/staff/password/{token[:-3]}abc")
    assert tampered.status_code == 400 and "链接无效" in tampered.get_data(as_text=True)
    assert (
        post_form(
            client,
            f"/staff/password/{token}",
            {"password": "another fine passphrase", "confirm": "another fine passphrase"},
        ).status_code
        == 302
    )
    assert _login(app.test_client(), user.email, "another fine passphrase").status_code == 302


def test_password_reset_requests_are_rate_limited(app, staff):
    app.config["PASSWORD_RESET_RATE_PER_EMAIL"] = "2/3600"
    user = staff("editor")
    client = app.test_client()
    codes = [
        post_form(client, "/staff/password/forgot", {"email": user.email}).status_code
        for _ in range(3)
    ]
    assert codes == [200, 200, 429]
