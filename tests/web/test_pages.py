"""The web pages: health, issue list and detail, the archive copy, the dev mailbox."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from newsletter.bulletin.models import Issue, IssueStatus
from newsletter.bulletin.service import import_issue
from newsletter.extensions import db


def test_health_reports_database_and_redis(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_health_is_503_when_redis_is_unreachable(app, client):
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    response = client.get("/health")
    assert response.status_code == 503
    assert response.get_json()["redis"].startswith("error")


def test_issue_list_and_detail_show_the_sample(staff_client, sample_text):
    client = staff_client("editor")
    import_issue(db.session, sample_text)
    listing = client.get("/issues").get_data(as_text=True)
    assert "第 396 期" in listing and "2024-01-08" in listing
    detail = client.get("/issues/396").get_data(as_text=True)
    assert "31 篇文章" in detail and "7 个栏目" in detail
    assert "董昕就任国家广播电视总局副局长" in detail
    email = client.get("/issues/396/email?edition=priority").get_data(as_text=True)
    assert "全国宣传部长会议在京召开" in email and "{{" not in email


def test_staff_pages_send_anonymous_visitors_to_the_login(client, sample_text):
    import_issue(db.session, sample_text)
    for path in ("/issues", "/issues/396", "/issues/396/email", "/dev/mailbox/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/staff/login?next=")


def test_unknown_issue_and_bad_edition_are_errors(staff_client, sample_text):
    client = staff_client("reviewer")
    assert client.get("/issues/1").status_code == 404
    import_issue(db.session, sample_text)
    assert client.get("/issues/396/email?edition=vip").status_code == 400


def test_archive_shows_only_issues_that_went_out(client, sample_text):
    import_issue(db.session, sample_text)
    assert client.get("/archive/396").status_code == 404  # a draft is not public
    issue = db.session.scalar(select(Issue))
    issue.status = IssueStatus.SENT
    db.session.commit()
    page = client.get("/archive/396").get_data(as_text=True)
    assert "全国宣传部长会议在京召开" in page and "领导版" not in page


@pytest.mark.browser
def test_issue_page_in_chromium(live_server, browser, screenshot_dir, sample_text, make_staff):
    import_issue(db.session, sample_text)
    make_staff("editor", email="editor@example.org", password="correct horse battery")
    context = browser.new_context()
    login = context.new_page()
    login.goto(f"{live_server}/staff/login?next=/issues/396")
    login.fill("input[name=email]", "editor@example.org")
    login.fill("input[name=password]", "correct horse battery")
    login.click("button[type=submit]")
    login.wait_for_url("**/issues/396")
    login.close()
    for width in (375, 800):
        page = context.new_page()
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server}/issues/396", wait_until="networkidle")
        assert "第 396 期" in page.inner_text("h1")
        assert page.locator("iframe").count() == 2
        page.screenshot(path=str(screenshot_dir / f"issue-page-{width}.png"), full_page=True)
        page.close()
