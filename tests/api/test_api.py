"""The JSON API: token auth and scopes, JSON errors, cursor pagination, each resource, and
an OpenAPI document whose paths and methods are exactly the API's routes."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from newsletter.extensions import db
from newsletter.review import service as review
from newsletter.staff import apitokens
from newsletter.staff.models import ApiToken, AuditEntry
from newsletter.timeutil import utcnow
from subscribers.models import Group, Membership, Subscriber
from tests.delivery.support import all_final, wait_until
from tests.staff.conftest import login


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()["error"]
    assert body["status"] == status and body["message"]
    return body


# --- auth ----------------------------------------------------------------------------------


def test_no_token_bad_token_and_cookies_are_all_401(app, staff, api):
    client, headers = api("editor")
    _error(client.get("/api/v1/issues"), 401)
    assert client.get("/api/v1/issues").headers["WWW-Authenticate"].startswith("Bearer")
    _error(client.get("/api/v1/issues", headers={"Authorization": "Bearer nl_nope"}), 401)
    _error(client.get("/api/v1/issues", headers={"Authorization": "Basic abc"}), 401)
    # A logged-in staff session is not an API credential.
    browser = login(app, staff("admin"))
    _error(browser.get("/api/v1/issues"), 401)
    _error(
        browser.post("/api/v1/subscribers", json={"email": "a@example.org", "groups": ["media"]}),
        401,
    )
    assert client.get("/api/v1/issues", headers=headers).status_code == 200


def test_only_a_hash_of_the_token_is_stored(app, staff):
    user = staff("editor")
    _token, plain = apitokens.create_token(db.session, user, "cms", ["editor"])
    stored = db.session.execute(select(ApiToken.token_hash, ApiToken.prefix)).one()
    assert plain not in stored.token_hash and stored.token_hash == apitokens.hash_token(plain)
    assert len(stored.prefix) == 10 and plain.startswith(stored.prefix)


def test_scopes_roles_revocation_and_expiry(app, staff):
    user = staff("editor", "sender")
    client = app.test_client()
    _t, editor_only = apitokens.create_token(db.session, user, "import", ["editor"])
    auth = {"Authorization": f"Bearer {editor_only}"}
    assert client.get("/api/v1/subscribers", headers=auth).status_code == 200
    _error(client.post("/api/v1/sends", json={"issue": 396}, headers=auth), 403)
    with pytest.raises(apitokens.TokenError):  # a scope the owner lacks cannot be granted
        apitokens.create_token(db.session, user, "too much", ["admin"])
    user.roles = ["sender"]  # losing a role takes it from the token
    db.session.commit()
    _error(client.get("/api/v1/subscribers", headers=auth), 403)
    user.roles = ["editor", "sender"]
    db.session.commit()
    token, plain = apitokens.create_token(db.session, user, "short", ["editor"], days=1)
    good = {"Authorization": f"Bearer {plain}"}
    assert client.get("/api/v1/groups", headers=good).status_code == 200
    token.expires_at = utcnow() - dt.timedelta(seconds=1)
    db.session.commit()
    _error(client.get("/api/v1/groups", headers=good), 401)
    apitokens.revoke(db.session, db.session.get(ApiToken, _t.id))
    _error(client.get("/api/v1/groups", headers=auth), 401)
    user.active = False
    db.session.commit()
    _error(client.get("/api/v1/groups", headers=good), 401)


def test_token_page_shows_the_token_once_and_revokes(app, staff):
    from tests.staff.conftest import post_form

    client = login(app, staff("editor"))
    page = post_form(client, "/staff/tokens", {"name": "CMS 导入", "scopes": ["editor"]})
    assert page.status_code == 200
    import re

    plain = re.search(r'<code class="st-token">(nl_[^<]+)</code>', page.get_data(as_text=True))
    assert plain
    assert plain.group(1) not in client.get("/staff/tokens").get_data(as_text=True)
    beyond = post_form(client, "/staff/tokens", {"name": "x", "scopes": ["admin"]})
    assert beyond.status_code == 400
    token = db.session.scalar(select(ApiToken))
    assert (
        post_form(
            client, f"/staff/tokens/{token.id}/revoke", {}, token_from="/staff/tokens"
        ).status_code
        == 302
    )
    _error(
        app.test_client().get(
            "/api/v1/groups", headers={"Authorization": f"Bearer {plain.group(1)}"}
        ),
        401,
    )


# --- errors and documents ----------------------------------------------------------------------


def test_errors_are_json(app, api):
    client, headers = api("admin")
    _error(client.get("/api/v1/nothing-here", headers=headers), 404)
    _error(client.delete("/api/v1/issues", headers=headers), 405)
    _error(client.get("/api/v1/issues/123456", headers=headers), 404)
    _error(client.get("/api/v1/issues/99999999999999999999999", headers=headers), 404)
    _error(client.post("/api/v1/issues", data="text", headers=headers), 415)
    _error(
        client.post(
            "/api/v1/issues", data="{not json", headers=headers, content_type="application/json"
        ),
        400,
    )
    _error(client.post("/api/v1/issues", json=["a list"], headers=headers), 400)
    _error(client.post("/api/v1/issues", json={"text": "x", "extra": 1}, headers=headers), 400)
    big = {"text": "周" * (1024 * 1024)}
    body = _error(client.post("/api/v1/issues", json=big, headers=headers), 413)
    assert body["code"] == "too_large" and "请求体太大" in body["message"]
    english = client.post("/api/v1/issues", json=big, headers={**headers, "Accept-Language": "en"})
    assert "request body too large" in _error(english, 413)["message"]
    _error(client.get("/api/v1/issues?limit=0", headers=headers), 400)
    _error(client.get("/api/v1/issues?cursor=%%%", headers=headers), 400)


def test_openapi_document_matches_the_routes(app):
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    routed = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint == "api.openapi":
            continue
        path = rule.rule[len("/api/v1") :]
        import re

        path = re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", path)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if "{action}" in path:
                action = re.search(r"any\(([^)]*)\)", rule.rule).group(1)
                for a in (x.strip() for x in action.split(",")):
                    routed.add((path.replace("{action}", a), method))
            else:
                routed.add((path, method))
    assert documented == routed
    for ops in doc["paths"].values():
        for op in ops.values():
            assert "401" in op["responses"] and op["x-scopes"]


# --- resources --------------------------------------------------------------------------------


def test_issue_import_list_get_and_parse_errors(app, api, sample_text):
    client, headers = api("editor")
    created = client.post("/api/v1/issues", json={"text": sample_text.decode()}, headers=headers)
    assert created.status_code == 201
    issue = created.get_json()["issue"]
    assert issue["number"] == 396 and issue["status"] == "draft" and issue["articles"] > 10
    again = client.post("/api/v1/issues", json={"text": sample_text.decode()}, headers=headers)
    assert again.status_code == 200 and again.get_json()["created"] is False
    bad = _error(client.post("/api/v1/issues", json={"text": "不是周报\n"}, headers=headers), 422)
    assert bad["code"] == "parse_error" and bad["line"] >= 1
    listing = client.get("/api/v1/issues", headers=headers).get_json()
    assert [i["number"] for i in listing["items"]] == [396] and listing["next_cursor"] is None
    detail = client.get("/api/v1/issues/396", headers=headers).get_json()
    assert detail["content"][0]["articles"][0]["paragraphs"]
    entries = db.session.scalars(select(AuditEntry.action)).all()
    assert entries.count("api.issue.imported") == 2


def test_subscriber_crud_with_cursor_pages(app, api, smtp, run_jobs):
    client, headers = api("editor")
    ids = []
    for i in range(5):
        r = client.post(
            "/api/v1/subscribers",
            headers=headers,
            json={
                "email": f"Reader{i}@Example.org",
                "name": f"读者{i}",
                "groups": ["media"],
                "status": "active",
            },
        )
        assert r.status_code == 201, r.get_json()
        ids.append(r.get_json()["id"])
    assert r.get_json()["email"] == "reader4@example.org"
    _error(
        client.post(
            "/api/v1/subscribers",
            headers=headers,
            json={"email": "reader0@example.org", "groups": ["media"]},
        ),
        409,
    )
    seen, cursor = [], None
    while True:
        page = client.get(
            "/api/v1/subscribers?limit=2" + (f"&cursor={cursor}" if cursor else ""), headers=headers
        ).get_json()
        seen += [s["id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(ids, reverse=True)
    q = client.get("/api/v1/subscribers?q=reader3", headers=headers).get_json()
    assert [s["id"] for s in q["items"]] == [ids[3]]

    pending = client.post(
        "/api/v1/subscribers",
        headers=headers,
        json={"email": "new@example.org", "groups": ["media", "tech"]},
    )
    assert pending.get_json()["status"] == "pending"
    run_jobs()
    wait_until(lambda: smtp.received, 10, "the confirmation mail")
    assert smtp.received[0].rcpt_tos == ["new@example.org"]

    sid = ids[0]
    changed = client.patch(
        f"/api/v1/subscribers/{sid}",
        headers=headers,
        json={"name": "新名字", "groups": ["tech"], "format": "text"},
    )
    assert changed.status_code == 200
    assert changed.get_json()["groups"] == ["tech"] and changed.get_json()["format"] == "text"
    _error(
        client.patch(
            f"/api/v1/subscribers/{sid}",
            headers=headers,
            json={"name": "坏\r\n名字", "groups": ["nosuch"]},
        ),
        400,
    )
    _error(
        client.patch(
            f"/api/v1/subscribers/{sid}",
            headers=headers,
            json={"name": "好名字", "groups": ["nosuch"]},
        ),
        422,
    )
    db.session.expire_all()
    assert db.session.get(Subscriber, sid).name == "新名字"  # nothing half-written
    assert client.delete(f"/api/v1/subscribers/{sid}", headers=headers).status_code == 204
    _error(client.get(f"/api/v1/subscribers/{sid}", headers=headers), 404)
    again = _error(
        client.post(
            "/api/v1/subscribers",
            headers=headers,
            json={"email": "reader0@example.org", "groups": ["media"]},
        ),
        409,
    )
    assert again["code"] == "suppressed"


def test_groups_create_rename_priority_merge(app, api):
    client, headers = api("admin")
    created = client.post(
        "/api/v1/groups", headers=headers, json={"code": "partners", "name": "合作伙伴"}
    )
    assert created.status_code == 201
    _error(
        client.post("/api/v1/groups", headers=headers, json={"code": "partners", "name": "另一个"}),
        409,
    )
    _error(
        client.post("/api/v1/groups", headers=headers, json={"code": "Bad Code!", "name": "x"}), 422
    )
    _error(
        client.post("/api/v1/groups", headers=headers, json={"code": "p2", "name": "合作伙伴"}), 409
    )
    media_name = db.session.scalar(select(Group.name).where(Group.code == "media"))
    # Refused renames change nothing, the priority flag in the same request included:
    # another group's name is a conflict, a blank name is not one, a line break is no text.
    for name, status in ((media_name, 409), ("   ", 422), ("坏\n名字", 400)):
        _error(
            client.patch(
                "/api/v1/groups/partners", headers=headers, json={"name": name, "is_priority": True}
            ),
            status,
        )
    kept = client.get("/api/v1/groups", headers=headers).get_json()["items"]
    assert [(g["name"], g["is_priority"]) for g in kept if g["code"] == "partners"] == [
        ("合作伙伴", False)
    ]
    r = client.patch(
        "/api/v1/groups/partners", headers=headers, json={"name": "战略伙伴", "is_priority": True}
    )
    assert r.get_json()["name"] == "战略伙伴" and r.get_json()["is_priority"] is True
    editor_client, editor_headers = api("editor")
    _error(
        editor_client.post(
            "/api/v1/groups", headers=editor_headers, json={"code": "x", "name": "x"}
        ),
        403,
    )
    sub = Subscriber(email="m@example.org", status="active")
    sub.memberships = [
        Membership(group=db.session.scalar(select(Group).where(Group.code == "partners")))
    ]
    db.session.add(sub)
    db.session.commit()
    merged = client.post("/api/v1/groups/partners/merge", headers=headers, json={"into": "media"})
    assert merged.status_code == 200 and merged.get_json()["added"] == 1
    codes = [g["code"] for g in client.get("/api/v1/groups", headers=headers).get_json()["items"]]
    assert "partners" not in codes


def test_sends_need_approval_then_run_to_the_end(app, api, staff, sample_text, smtp, run_jobs):
    from newsletter.bulletin.service import import_issue
    from tests.delivery.support import bulk_subscribers

    issue, _ = import_issue(db.session, sample_text)
    bulk_subscribers(3, "media")
    client, headers = api("sender")
    refused = _error(
        client.post("/api/v1/sends", headers=headers, json={"issue": 396, "groups": ["media"]}), 422
    )
    assert refused["code"] == "not_approved"
    _error(client.post("/api/v1/sends", headers=headers, json={"issue": 999}), 404)
    review.submit(db.session, issue, staff("editor"))
    review.approve(db.session, issue, staff("reviewer"))

    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat()
    scheduled = client.post(
        "/api/v1/sends",
        headers=headers,
        json={"issue": 396, "groups": ["media"], "scheduled_at": later},
    )
    assert scheduled.status_code == 201 and scheduled.get_json()["status"] == "scheduled"
    sid = scheduled.get_json()["id"]
    moved = client.post(
        f"/api/v1/sends/{sid}/schedule",
        headers=headers,
        json={"scheduled_at": "2099-01-01T09:00:00+08:00"},
    )
    assert moved.get_json()["scheduled_at"] == "2099-01-01T01:00:00Z"
    _error(client.post(f"/api/v1/sends/{sid}/pause", headers=headers), 409)
    assert (
        client.post(f"/api/v1/sends/{sid}/cancel", headers=headers).get_json()["status"]
        == "cancelled"
    )

    now = client.post("/api/v1/sends", headers=headers, json={"issue": 396, "groups": ["media"]})
    assert now.status_code == 201
    send_id = now.get_json()["id"]
    run_jobs()
    wait_until(lambda: all_final(send_id), 30, "the send to finish")
    status = client.get(f"/api/v1/sends/{send_id}", headers=headers).get_json()
    assert status["status"] == "done" and status["progress"]["sent"] == 3
    report = client.get(f"/api/v1/reports/sends/{send_id}", headers=headers).get_json()
    assert report["totals"]["delivered"] == 3
    listed = client.get("/api/v1/sends?issue=396", headers=headers).get_json()
    assert {s["id"] for s in listed["items"]} == {sid, send_id}
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.via == "api", AuditEntry.action.like("%send.%"))
        )
        == 4
    )
