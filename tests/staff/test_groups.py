"""Group management: create, rename, priority flag, merge (members moved once, scheduled
sends re-pointed, the old group gone); bad input changes nothing."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from newsletter.bulletin.service import import_issue
from newsletter.delivery.models import Send, SendStatus
from newsletter.extensions import db
from newsletter.timeutil import utcnow
from subscribers.models import Group, Membership, Subscriber
from tests.staff.conftest import login, post_form


def _group(code):
    db.session.expire_all()
    return db.session.scalar(select(Group).where(Group.code == code))


def test_create_rename_and_priority(app, staff):
    client = login(app, staff("admin"))
    for bad in (
        {"code": "Has Space", "name": "x"},
        {"code": "media", "name": "重复代码"},
        {"code": "ok", "name": "媒体"},
        {"code": "ok2", "name": "换\n行"},
        {"code": "ok3", "name": ""},
    ):
        r = post_form(
            client, "/staff/groups/new", {"distribution": "发", **bad}, token_from="/staff/groups"
        )
        assert r.status_code == 400, bad
    assert db.session.scalar(select(func.count()).select_from(Group)) == 9
    r = post_form(
        client,
        "/staff/groups/new",
        {"code": "partners", "name": "合作伙伴", "distribution": "报", "is_priority": "y"},
        token_from="/staff/groups",
    )
    assert r.status_code == 302
    g = _group("partners")
    assert g.is_priority and g.distribution == "报" and not g.self_service
    r = post_form(
        client, "/staff/groups/partners/edit", {"name": "战略伙伴"}, token_from="/staff/groups"
    )
    assert r.status_code == 302
    g = _group("partners")
    assert g.name == "战略伙伴" and not g.is_priority
    assert "战略伙伴" in client.get("/staff/groups").get_data(as_text=True)


def test_merge_moves_members_once_and_repoints_scheduled_sends(app, staff, sample_text):
    media, tech = _group("media"), _group("tech")
    for i, groups in enumerate([[media], [tech], [media, tech]]):
        sub = Subscriber(email=f"s{i}@example.org", status="active")
        sub.memberships = [Membership(group=g) for g in groups]
        db.session.add(sub)
    issue, _ = import_issue(db.session, sample_text)
    send = Send(
        issue_id=issue.id,
        group_codes=["tech", "research"],
        status=SendStatus.SCHEDULED,
        scheduled_at=utcnow() + dt.timedelta(days=1),
    )
    done = Send(issue_id=issue.id, group_codes=["tech"], status=SendStatus.DONE)
    db.session.add_all([send, done])
    db.session.commit()

    client = login(app, staff("admin"))
    unconfirmed = post_form(
        client,
        "/staff/groups/merge",
        {"source": "tech", "target": "media"},
        token_from="/staff/groups",
    )
    assert unconfirmed.status_code == 400 and _group("tech") is not None
    same = post_form(
        client,
        "/staff/groups/merge",
        {"source": "tech", "target": "tech", "confirm": "y"},
        token_from="/staff/groups",
    )
    assert same.status_code == 400 and "合并到它自己" in same.get_data(as_text=True)
    r = post_form(
        client,
        "/staff/groups/merge",
        {"source": "tech", "target": "media", "confirm": "y"},
        token_from="/staff/groups",
    )
    assert r.status_code == 302
    assert _group("tech") is None
    members = db.session.scalars(
        select(Subscriber.email)
        .join(Membership)
        .where(Membership.group_id == media.id)
        .order_by(Subscriber.email)
    ).all()
    assert members == ["s0@example.org", "s1@example.org", "s2@example.org"]
    assert db.session.get(Send, send.id).group_codes == ["media", "research"]
    assert db.session.get(Send, done.id).group_codes == ["tech"]  # history stays as it was


def test_an_unknown_group_is_the_404_page(app, staff):
    client = login(app, staff("admin"))
    r = post_form(client, "/staff/groups/nope/edit", {"name": "无"}, token_from="/staff/groups")
    assert r.status_code == 404 and "nope" not in _group_codes()


def _group_codes() -> set[str]:
    return set(db.session.scalars(select(Group.code)))


def test_views_find_their_row_one_way():
    """Every view finds its row with db.get_or_404 / db.first_or_404 (the site's 404 page),
    not `lookup(...) or abort(404)` beside them."""
    import re

    from tests.conftest import ROOT

    found = [
        (path.relative_to(ROOT), n)
        for folder in ("newsletter", "subscribers")
        for path in (ROOT / folder).rglob("*.py")
        for n, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if re.search(r"\bor abort\(404\)", line)
    ]
    assert not found, found
