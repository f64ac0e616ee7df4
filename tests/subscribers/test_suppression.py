"""The one suppression path and lifting a mistaken wave (subscribers/suppression.py):
provenance on every row, the service, the CLI and the admin page (role, CSRF, preview,
audit)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from newsletter.extensions import db
from newsletter.staff.models import AuditEntry
from newsletter.tracking.intake import ingest
from newsletter.tracking.links import TrackingSettings
from subscribers import admin
from subscribers.models import Subscriber, SubscriberStatus, Suppression, email_hash
from subscribers.suppression import LiftError, lift_wave, suppress_subscriber
from tests.subscribers.conftest import form_token
from tests.tracking.conftest import sample, verp_for
from tests.tracking.factory import make_send


def _suppression(email: str) -> Suppression | None:
    return db.session.scalar(select(Suppression).where(Suppression.email_hash == email_hash(email)))


def _status(email: str) -> str:
    db.session.expire_all()
    return db.session.scalar(select(Subscriber.status).where(Subscriber.email == email))


def _hard_bounce(app, delivery) -> None:
    raw = sample(
        "dsn-hard-multipart.eml",
        verp=verp_for(app.config["SECRET_KEY"], delivery.id),
        email=delivery.email,
        msgid=delivery.message_id,
    )
    result = ingest(db.session, raw, TrackingSettings.from_config(app.config))
    assert result.outcome == "hard" and result.suppressed


@pytest.fixture
def wave(app, sample_text):
    """Send A hard-bounced three readers (one of them paused), send B one other; one reader
    unsubscribed on her own."""
    a = make_send(
        sample_text, ["w1@example.com", "w2@example.com", "w3@example.com", "fine@example.com"]
    )
    b = make_send(sample_text, ["other@example.com"])
    db.session.execute(
        Subscriber.__table__.update()
        .where(Subscriber.email == "w3@example.com")
        .values(status=SubscriberStatus.PAUSED)
    )
    db.session.commit()
    for d in a.deliveries[:3]:
        _hard_bounce(app, d)
    _hard_bounce(app, b.deliveries[0])
    admin.suppress(db.session, "phoned@example.com", "asked by phone")
    from subscribers.service import unsubscribe_by_id

    unsubscribe_by_id(db.session, a.deliveries[3].subscriber_id)
    return a.send.id, b.send.id, a.deliveries


def test_every_suppression_records_where_it_came_from(app, wave):
    send_a, _, deliveries = wave
    row = _suppression("w1@example.com")
    assert (row.reason, row.verdict, row.send_id, row.delivery_id, row.previous_status) == (
        "bounced",
        "hard_bounce",
        send_a,
        deliveries[0].id,
        "active",
    )
    assert _suppression("w3@example.com").previous_status == "paused"
    assert _status("w1@example.com") == "bounced"
    manual = _suppression("phoned@example.com")
    assert (manual.reason, manual.verdict, manual.send_id) == ("manual", "manual", None)
    assert _suppression("fine@example.com").reason == "unsubscribed"


def test_suppressing_twice_keeps_the_first_and_its_provenance(app, wave):
    send_a, _, _ = wave
    assert suppress_subscriber(db.session, "w1@example.com", "complained", "later") is False
    row = _suppression("w1@example.com")
    assert (row.reason, row.send_id) == ("bounced", send_a)
    assert (
        db.session.scalar(
            select(func.count(Suppression.id)).where(
                Suppression.email_hash == email_hash("w1@example.com")
            )
        )
        == 1
    )


def test_lift_one_send_previews_then_restores_only_that_wave(app, wave):
    send_a, send_b, _ = wave
    total = db.session.scalar(select(func.count(Suppression.id)))
    preview = lift_wave(db.session, send_id=send_a, cause="bounced", dry_run=True)
    assert (preview.suppressions, preview.restored) == (3, 3)
    assert db.session.scalar(select(func.count(Suppression.id))) == total  # nothing changed
    assert _status("w1@example.com") == "bounced"

    done = lift_wave(db.session, send_id=send_a, cause="bounced")
    assert (done.suppressions, done.restored) == (3, 3)
    for email in ("w1@example.com", "w2@example.com"):
        assert _suppression(email) is None and _status(email) == "active"
    assert _status("w3@example.com") == "paused"  # back to what it was, not simply active
    # other sends, other causes and a reader's own choice are untouched
    assert (
        _suppression("other@example.com") is not None and _status("other@example.com") == "bounced"
    )
    assert (
        _suppression("fine@example.com") is not None
        and _status("fine@example.com") == "unsubscribed"
    )
    assert _suppression("phoned@example.com") is not None
    # lifting again finds nothing
    assert lift_wave(db.session, send_id=send_a).suppressions == 0


def test_lift_refuses_what_readers_or_staff_decided(app, wave):
    for cause in ("unsubscribed", "erased", "manual"):
        with pytest.raises(LiftError, match="不能批量解除"):
            lift_wave(db.session, cause=cause)
    with pytest.raises(LiftError, match="至少一项"):
        lift_wave(db.session)


def test_cli_dry_run_then_lift_is_audited(app, runner, wave):
    send_a, _, _ = wave
    result = runner.invoke(
        args=["suppressions", "lift", "--send", str(send_a), "--cause", "bounced", "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert "would lift 3 suppression(s) and restore 3 subscriber(s)" in result.output
    assert _status("w1@example.com") == "bounced"
    assert (
        db.session.scalar(
            select(func.count(AuditEntry.id)).where(AuditEntry.action == "suppressions.lift")
        )
        == 0
    )
    result = runner.invoke(args=["suppressions", "lift", "--send", str(send_a)])
    assert result.exit_code == 0, result.output
    assert "lifted 3 suppression(s), restored 3 subscriber(s)" in result.output
    assert _status("w2@example.com") == "active"
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "suppressions.lift"))
    assert entry.via == "cli" and entry.target == f"send {send_a}"
    assert entry.detail["suppressions"] == 3 and entry.detail["dry_run"] is False
    bad = runner.invoke(args=["suppressions", "lift", "--cause", "unsubscribed"])
    assert bad.exit_code == 2  # click refuses the choice
    none = runner.invoke(args=["suppressions", "lift"])
    assert none.exit_code == 2 and "至少一项" in none.output


def test_admin_page_role_csrf_preview_and_audit(app, client, staff_client, wave):
    send_a, _, _ = wave
    path = f"/staff/subscribers/suppressions/lift?send_id={send_a}&cause=bounced"
    assert client.get(path).status_code == 302  # to the login
    assert staff_client("editor").get(path).status_code == 403
    boss = staff_client("admin")
    page = boss.get(path)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert re.search(r"3 条屏蔽</strong>，3 位订阅者将恢复原状态", html), html
    form = {"send_id": str(send_a), "cause": "bounced", "expected": "3"}
    # without the CSRF token: refused, nothing lifted
    assert boss.post("/staff/subscribers/suppressions/lift", data=form).status_code == 400
    assert _status("w1@example.com") == "bounced"
    token = form_token(html)
    # a count that no longer matches the preview: shown again, nothing lifted
    stale = boss.post(
        "/staff/subscribers/suppressions/lift", data={**form, "expected": "2", "csrf_token": token}
    )
    assert stale.status_code == 409 and "数量已变化" in stale.get_data(as_text=True)
    assert _status("w1@example.com") == "bounced"
    done = boss.post("/staff/subscribers/suppressions/lift", data={**form, "csrf_token": token})
    assert done.status_code == 302
    assert _status("w1@example.com") == "active" and _suppression("w1@example.com") is None
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "suppressions.lift"))
    assert entry.target == f"send {send_a}" and entry.detail["restored"] == 3
    assert entry.actor_email.startswith("admin-")
    # bad input re-renders with a message, never a 500
    bad = boss.get("/staff/subscribers/suppressions/lift?send_id=abc")
    assert bad.status_code == 400


@pytest.mark.browser
def test_lift_page_in_the_browser(app, live_server, browser, screenshot_dir, make_staff, wave):
    from tests.subscribers.test_journey import shoot

    send_a, _, _ = wave
    make_staff("admin", email="boss@example.org", password="correct horse battery")
    page = browser.new_context().new_page()
    page.goto(f"{live_server}/staff/login?next=/staff/subscribers/suppressions")
    page.fill("input[name=email]", "boss@example.org")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url("**/staff/subscribers/suppressions")
    page.click("text=批量解除屏蔽")
    page.fill("input[name=send_id]", str(send_a))
    page.select_option("select[name=cause]", "bounced")
    page.click("form.filters button[type=submit]")
    page.wait_for_selector("#lift-preview")
    assert "3 条屏蔽" in page.inner_text("#lift-preview")
    shoot(page, screenshot_dir, "staff-suppressions-lift")
    page.click("#lift-preview button[type=submit]")
    page.wait_for_url("**/staff/subscribers/suppressions")
    assert "已解除 3 条屏蔽" in page.inner_text("main")
    assert _status("w1@example.com") == "active"
