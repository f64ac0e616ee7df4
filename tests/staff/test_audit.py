"""The audit log: every staff action is in it (ours explicitly, the other features' by the
generic after-request entry), admins filter it, and nobody can change it."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text, update

from newsletter.extensions import db
from newsletter.staff import audit
from newsletter.staff.models import AuditEntry, AuditLogIsAppendOnly
from newsletter.timeutil import utcnow
from tests.staff.conftest import PASSWORD, login, post_form


def _entries(**where) -> list[AuditEntry]:
    db.session.rollback()
    query = select(AuditEntry).order_by(AuditEntry.id)
    for key, value in where.items():
        query = query.where(getattr(AuditEntry, key) == value)
    return list(db.session.scalars(query))


def test_entries_say_who_what_when_and_from_where(app, staff):
    admin = staff("admin")
    client = login(app, admin)
    post_form(
        client,
        "/staff/groups/new",
        {"code": "partners", "name": "合作伙伴", "distribution": "发"},
        token_from="/staff/groups",
    )
    entry = _entries(action="group.created")[0]
    assert entry.actor_email == admin.email and entry.actor_id == admin.id
    assert entry.target == "partners" and entry.detail["name"] == "合作伙伴"
    assert entry.ip == "127.0.0.1" and entry.via == "web"
    assert abs((utcnow() - entry.created_at).total_seconds()) < 60
    login_entry = _entries(action="login")[-1]
    assert login_entry.actor_email == admin.email


def test_other_features_staff_posts_are_recorded_without_values(app, staff, sample_text):
    from newsletter.bulletin.service import import_issue

    import_issue(db.session, sample_text)
    editor = staff("editor")
    client = login(app, editor)
    # (refused: unapproved content goes to staff addresses only; a send records itself)
    post_form(
        client,
        "/issues/396/test-send",
        {"addresses": "proof@example.org", "edition": "regular"},
        token_from="/issues/396",
    )
    entry = _entries(action="bulletin.issue_test_send:refused")[-1]
    assert entry.actor_email == editor.email and entry.target == "number=396"
    assert entry.detail["fields"] == ["addresses", "edition"]
    assert "proof@example.org" not in str(entry.detail)  # names only, never values
    # A refused action is recorded as refused; a forbidden one as denied.
    post_form(
        client, "/staff/subscribers/bulk", {"group": "nosuch"}, token_from="/staff/subscribers/"
    )
    assert _entries(action="subscribers.bulk:refused")
    post_form(client, "/staff/groups/new", {"code": "x", "name": "x"}, token_from="/staff/me")
    assert _entries(action="staff.group_create:denied")


def test_passwords_never_reach_the_log(app, staff):
    user = staff("editor")
    client = login(app, user)
    post_form(
        client,
        "/staff/me",
        {
            "current": PASSWORD,
            "password": "brand new passphrase",
            "confirm": "brand new passphrase",
        },
    )
    dump = " ".join(f"{e.action} {e.target} {e.detail}" for e in _entries())
    assert PASSWORD not in dump and "brand new passphrase" not in dump


def test_the_log_cannot_be_changed(app):
    entry = audit.record("test.entry", "x", {"a": 1}, actor_email="cli@example.org")
    entry.target = "changed"
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.get(AuditEntry, entry.id))
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.commit()
    db.session.rollback()
    with pytest.raises(Exception, match="cannot be changed"):  # the database refuses too
        db.session.execute(update(AuditEntry).values(target="changed"))
        db.session.commit()
    db.session.rollback()
    with pytest.raises(Exception, match="cannot be changed"):
        db.session.execute(text("UPDATE audit_log SET actor_email = 'someone-else'"))
        db.session.commit()
    db.session.rollback()
    assert _entries()[0].target == "x"


def test_admins_filter_the_log_and_others_cannot_read_it(app, staff):
    base = utcnow()
    for i, (who, action) in enumerate(
        [
            ("ann@example.org", "review.approved"),
            ("bob@example.org", "review.sent_back"),
            ("ann@example.org", "group.created"),
            ("bob@example.org", "api.send.created"),
        ]
    ):
        entry = audit.record(
            action,
            f"issue:{i}",
            actor_email=who,
            via="api" if "api" in action else "web",
            commit=False,
        )
        entry.created_at = base - dt.timedelta(days=3 - i)
    db.session.commit()
    admin = login(app, staff("admin"))

    def shown(query: str) -> list[str]:
        html = admin.get("/staff/audit?" + query).get_data(as_text=True)
        return [
            a
            for a in ("review.approved", "review.sent_back", "group.created", "api.send.created")
            if f"<code>{a}</code>" in html
        ]

    assert shown("actor=ann") == ["review.approved", "group.created"]
    assert shown("action=review.") == ["review.approved", "review.sent_back"]
    assert shown("via=api") == ["api.send.created"]
    assert shown("target=issue:2") == ["group.created"]
    today = dt.date.today()
    assert "api.send.created" in shown(f"since={today.isoformat()}")
    assert "review.approved" not in shown(f"since={today.isoformat()}")
    assert admin.get("/staff/audit?since=not-a-date").status_code == 400
    for role in ("editor", "reviewer", "sender"):
        assert login(app, staff(role)).get("/staff/audit").status_code == 403
    # No route changes or deletes entries.
    rules = [r for r in app.url_map.iter_rules() if "audit" in r.rule]
    assert [sorted(r.methods - {"HEAD", "OPTIONS"}) for r in rules] == [["GET"]]


def test_the_log_pages_by_keyset(app, staff):
    for i in range(audit.PER_PAGE + 5):
        audit.record("bulk.entry", f"n{i}", actor_email="x@example.org", commit=False)
    db.session.commit()
    admin = login(app, staff("admin"))
    first = admin.get("/staff/audit?action=bulk.").get_data(as_text=True)
    assert first.count("<code>bulk.entry</code>") == audit.PER_PAGE
    import re

    more = re.search(r'href="(/staff/audit\?[^"]*before=\d+[^"]*)"', first).group(1)
    second = admin.get(more.replace("&amp;", "&")).get_data(as_text=True)
    assert second.count("<code>bulk.entry</code>") == 5


def test_exports_of_personal_data_are_recorded(app, staff):
    editor = staff("editor")
    client = login(app, editor)
    response = client.get("/staff/subscribers/export.csv?q=example")
    assert response.status_code == 200 and response.get_data()  # the stream still flows
    entry = _entries(action="subscribers.export_csv")[-1]
    assert entry.actor_email == editor.email and entry.detail["query"] == ["q"]
