"""Every staff page renders for the roles that may see it (and nothing breaks on GET)."""

from __future__ import annotations

from newsletter.bulletin.service import import_issue
from newsletter.extensions import db
from tests.staff.conftest import login


def test_admin_pages_render(app, staff, sample_text):
    admin = staff("admin", name="管理员甲")
    import_issue(db.session, sample_text)
    client = login(app, admin)
    for path in (
        "/staff/accounts",
        "/staff/accounts/new",
        f"/staff/accounts/{admin.id}",
        "/staff/groups",
        "/staff/audit",
        "/staff/tokens",
        "/staff/me",
        "/review",
        "/issues/396/review",
        "/staff/audit?actor=x&action=login&since=2020-01-01",
    ):
        response = client.get(path)
        assert response.status_code == 200, (path, response.get_data(as_text=True)[:2000])
        html = response.get_data(as_text=True)
        assert "管理" in html and '<html lang="zh' in html


def test_public_password_pages_render(client):
    assert client.get("/staff/password/forgot").status_code == 200
    bad = client.get("/staff/password/not-a-token")
    assert bad.status_code == 400 and "链接无效" in bad.get_data(as_text=True)
