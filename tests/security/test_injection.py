"""Hostile input: header injection refused, HTML escaped, SQL-looking text inert, uploads
size-limited with a clear message; and in every case nothing half-written."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, inspect, select

from newsletter.bulletin import editing
from newsletter.bulletin.service import import_issue
from newsletter.delivery.jobs import enqueue_transactional
from newsletter.delivery.message import HeaderInjectionError
from newsletter.extensions import db
from newsletter.review import service as review
from newsletter.staff import accounts, audit, groups
from newsletter.staff.models import StaffUser
from subscribers.models import Group, Subscriber
from tests.staff.conftest import login, post_form

CRLF = ["x\r\nBcc: victim@example.org", "x\nBcc: victim@example.org", "x\rX-Evil: 1", "x\x00y"]
XSS = '<img src=x onerror="alert(1)">'
SQLISH = "Robert'); DROP TABLE subscribers;-- ' OR '1'='1"


def _count(model) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("bad", CRLF)
def test_line_breaks_in_headers_are_refused_everywhere(app, api, bad):
    with pytest.raises(HeaderInjectionError):
        enqueue_transactional("reader@example.org", "标题" + bad, "text")
    with pytest.raises(HeaderInjectionError):
        enqueue_transactional("reader@example.org", "标题", "text", to_name="名字" + bad)
    with pytest.raises(HeaderInjectionError):
        enqueue_transactional("reader" + bad + "@example.org", "标题", "text")
    with pytest.raises(accounts.AccountError):
        accounts.create_account(db.session, "a@example.org", "名字" + bad, ["editor"])
    with pytest.raises(accounts.AccountError):
        accounts.create_account(db.session, "a" + bad + "@example.org", "名字", ["editor"])
    with pytest.raises(groups.GroupError):
        groups.create_group(db.session, "newgroup", "名称" + bad)
    client, headers = api("editor")
    for body in (
        {"email": "a@example.org", "name": "n" + bad, "groups": ["media"]},
        {"email": "a" + bad + "@example.org", "groups": ["media"]},
        {"email": "a@example.org", "organisation": bad, "groups": ["media"]},
    ):
        r = client.post("/api/v1/subscribers", json=body, headers=headers)
        assert r.status_code in (400, 422), r.get_json()
    assert _count(StaffUser) == 1 and _count(Subscriber) == 0
    assert _count(Group) == 9


def test_a_subject_with_a_line_break_cannot_be_saved(app, sample_text):
    issue, _ = import_issue(db.session, sample_text)
    doc = editing.editable_doc(issue)
    before = issue.title
    doc.title = "第396期\r\nBcc: victim@example.org"
    with pytest.raises(editing.EditError):
        editing.save_issue(db.session, issue.number, doc)
    db.session.expire_all()
    assert db.session.get(type(issue), issue.id).title == before


def test_html_in_fields_is_shown_as_text(app, api, make_staff, sample_text):
    client, headers = api("admin")
    assert (
        client.post(
            "/api/v1/subscribers",
            headers=headers,
            json={
                "email": "x@example.org",
                "name": XSS,
                "organisation": XSS,
                "groups": ["media"],
                "status": "active",
            },
        ).status_code
        == 201
    )
    assert (
        client.post(
            "/api/v1/groups", headers=headers, json={"code": "xss", "name": XSS}
        ).status_code
        == 201
    )
    issue, _ = import_issue(db.session, sample_text)
    review.submit(db.session, issue, make_staff("editor"))
    review.send_back(db.session, issue, make_staff("reviewer"), XSS)
    audit.record("test." + "x", XSS, {"note": XSS}, actor_email="a@example.org")
    browser = login(app, make_staff("admin"))
    for path in ("/staff/subscribers/", "/staff/groups", "/issues/396/review", "/staff/audit"):
        html = browser.get(path).get_data(as_text=True)
        assert XSS not in html, path
        assert "&lt;img src=x onerror=" in html, path


def test_sql_looking_input_is_just_text(app, api, make_staff):
    client, headers = api("admin")
    created = client.post(
        "/api/v1/subscribers",
        headers=headers,
        json={
            "email": "bobby@example.org",
            "name": SQLISH,
            "groups": ["media"],
            "status": "active",
        },
    )
    assert created.status_code == 201 and created.get_json()["name"] == SQLISH
    for q in (SQLISH, "%", "_", "' OR 1=1 --", "\\"):
        r = client.get("/api/v1/subscribers", query_string={"q": q}, headers=headers)
        assert r.status_code == 200
        found = [s["email"] for s in r.get_json()["items"]]
        # Wildcards are escaped: only the literal text matches.
        assert found == (["bobby@example.org"] if q == SQLISH else []), (q, found)
    browser = login(app, make_staff("admin"))
    for path in (
        f"/staff/audit?actor={SQLISH}&action={SQLISH}&target={SQLISH}",
        f"/staff/subscribers/?q={SQLISH}",
    ):
        assert browser.get(path).status_code == 200
    bad_login = app.test_client()
    from tests.conftest import csrf_token

    r = bad_login.post(
        "/staff/login",
        data={
            "csrf_token": csrf_token(bad_login, "/staff/login"),
            "email": "a@example.org' OR '1'='1",
            "password": SQLISH,
        },
    )
    assert r.status_code in (400, 401)
    assert "subscribers" in inspect(db.engine).get_table_names()
    assert _count(Subscriber) == 1


def test_uploads_are_size_limited_with_a_clear_message(app, api, make_staff):
    browser = login(app, make_staff("admin"))
    app.config["IMPORT_MAX_BYTES"] = 10 * 1024
    big = post_form(
        browser,
        "/issues/import",
        {"file": (io.BytesIO(b"x" * (200 * 1024)), "big.txt")},
        token_from="/issues/import",
        content_type="multipart/form-data",
    )
    assert big.status_code == 413 and "文件太大" in big.get_data(as_text=True)

    app.config["SUBSCRIBER_IMPORT_MAX_BYTES"] = 1024
    csv = b"email,name,groups\n" + b"".join(b"r%d@example.org,n,media\n" % i for i in range(200))
    r = post_form(
        browser,
        "/staff/subscribers/import",
        {"file": (io.BytesIO(csv), "big.csv"), "mode": "confirmed", "default_group": ""},
        token_from="/staff/subscribers/import",
        content_type="multipart/form-data",
    )
    assert r.status_code in (400, 413) and "文件太大" in r.get_data(as_text=True)
    assert _count(Subscriber) == 0

    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024  # the backstop for every other form
    r = browser.post("/staff/me", data={"current": "x" * (100 * 1024)})
    assert r.status_code == 413 and "文件太大" in r.get_data(as_text=True)
    client, headers = api("editor")
    r = client.post("/api/v1/issues", headers=headers, json={"text": "x" * (3 * 1024 * 1024)})
    assert r.status_code == 413 and r.get_json()["error"]["code"] == "too_large"
