"""Staff pages: the list (search, filters, keyset paging), bulk group changes, the
subscriber page, CSV/JSON export, erasure, the suppression list, and who may see them."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re

import pytest
from sqlalchemy import func, insert, select

from newsletter.bulletin.service import import_issue
from newsletter.delivery.models import Delivery, DeliveryEvent, DeliveryState, Send
from newsletter.extensions import db
from newsletter.timeutil import utcnow
from subscribers.models import (
    Group,
    Membership,
    Subscriber,
    SubscriberStatus,
    Suppression,
    email_hash,
)
from tests.subscribers.conftest import form_token


@pytest.fixture
def editor(staff_client):
    return staff_client("editor")


def bulk_insert(n: int, group_code: str = "media", **values) -> None:
    gid = db.session.scalar(select(Group.id).where(Group.code == group_code))
    now = utcnow()
    rows = [
        {
            "email": f"bulk{i:05d}@example.org",
            "name": f"读者{i}",
            "organisation": "单位",
            "status": SubscriberStatus.ACTIVE,
            "locale": "zh_CN",
            "format": "html",
            "tracking_opt_out": False,
            "created_at": now,
            "source": "",
            **values,
        }
        for i in range(n)
    ]
    ids = db.session.execute(insert(Subscriber).returning(Subscriber.id), rows).scalars().all()
    db.session.execute(
        insert(Membership), [{"subscriber_id": i, "group_id": gid, "created_at": now} for i in ids]
    )
    db.session.commit()


def emails_on(page: str) -> list[str]:
    return re.findall(r'<a href="/staff/subscribers/\d+">([^<]+)</a>', page)


def test_staff_pages_need_an_editor(client, staff_client, make_subscriber):
    sub = make_subscriber()
    paths = [
        "/staff/subscribers/",
        f"/staff/subscribers/{sub.id}",
        f"/staff/subscribers/{sub.id}/export.json",
        "/staff/subscribers/export.csv",
        "/staff/subscribers/suppressions",
        "/staff/subscribers/import",
    ]
    for path in paths:
        assert client.get(path).status_code == 302  # to the login
    reviewer = staff_client("reviewer")
    for path in paths:
        assert reviewer.get(path).status_code == 403
    assert reviewer.post(f"/staff/subscribers/{sub.id}/erase").status_code in (400, 403)
    assert db.session.get(Subscriber, sub.id) is not None


def test_search_filters_and_keyset_paging(editor, make_subscriber):
    bulk_insert(120)
    make_subscriber(
        "wang@media.example.com",
        name="王编辑",
        organisation="某某日报",
        groups=("media", "leadership"),
    )
    make_subscriber("pending@example.org", status=SubscriberStatus.PENDING, groups=("tech",))
    make_subscriber(
        "rest@example.org", groups=("tech",), paused_until=utcnow() + dt.timedelta(days=7)
    )

    first = editor.get("/staff/subscribers/").get_data(as_text=True)
    assert "共 123 位" in first and len(emails_on(first)) == 50
    assert emails_on(first)[0] == "rest@example.org"  # newest first
    seen = list(emails_on(first))
    page = first
    while m := re.search(r'href="(/staff/subscribers/\?before=\d+)"', page):
        page = editor.get(m.group(1).replace("&amp;", "&")).get_data(as_text=True)
        seen += emails_on(page)
    assert len(seen) == len(set(seen)) == 123
    back = re.search(r'href="(/staff/subscribers/\?after=\d+)"', page).group(1)
    assert emails_on(editor.get(back).get_data(as_text=True))[-1] == seen[-24]

    def found(query: str) -> list[str]:
        return emails_on(editor.get(f"/staff/subscribers/?{query}").get_data(as_text=True))

    assert found("q=某某日报") == ["wang@media.example.com"]
    assert found("q=王编") == ["wang@media.example.com"]
    assert found("q=WANG@MEDIA") == ["wang@media.example.com"]
    assert found("q=100%25") == []  # % is literal, not a wildcard
    assert found("group=leadership") == ["wang@media.example.com"]
    assert found("status=pending") == ["pending@example.org"]
    assert found("status=paused") == ["rest@example.org"]
    assert "rest@example.org" not in found("status=active&group=tech")
    assert found("status=active&group=tech&q=x") == []


def test_bulk_add_and_remove_a_group(editor, make_subscriber):
    a = make_subscriber("a@example.org", groups=("media",))
    b = make_subscriber("b@example.org", groups=("media", "tech"))
    make_subscriber("c@example.org", groups=("research",))
    page = editor.get("/staff/subscribers/").get_data(as_text=True)
    token = form_token(page)
    response = editor.post(
        "/staff/subscribers/bulk",
        data={
            "csrf_token": token,
            "group": "leadership",
            "action": "add",
            "scope": "selected",
            "ids": [str(a.id), str(b.id)],
        },
    )
    assert response.status_code == 302
    leaders = db.session.scalars(
        select(Membership.subscriber_id).join(Group).where(Group.code == "leadership")
    ).all()
    assert sorted(leaders) == sorted([a.id, b.id])
    # Every subscriber matching the filter, without ticking them one by one.
    editor.post(
        "/staff/subscribers/bulk",
        data={
            "csrf_token": token,
            "group": "tech",
            "action": "remove",
            "scope": "filter",
            "fgroup": "media",
        },
    )
    assert (
        db.session.scalar(
            select(func.count()).select_from(Membership).join(Group).where(Group.code == "tech")
        )
        == 0
    )
    # Nothing ticked: a clear message, nothing done.
    response = editor.post(
        "/staff/subscribers/bulk",
        data={"csrf_token": token, "group": "tech", "action": "add", "scope": "selected"},
    )
    assert "请先勾选订阅者" in editor.get(response.headers["Location"]).get_data(as_text=True)
    assert (
        editor.post(
            "/staff/subscribers/bulk", data={"group": "tech", "action": "add", "scope": "filter"}
        ).status_code
        == 400
    )  # no CSRF


def test_subscriber_page_shows_groups_preferences_and_deliveries(
    editor, make_subscriber, sample_text
):
    issue, _ = import_issue(db.session, sample_text)
    sub = make_subscriber(
        "reader@example.org",
        name="读者甲",
        groups=("media",),
        sections=["要闻", "技术"],
        format="text",
    )
    send = Send(issue_id=issue.id, group_codes=["media"])
    db.session.add(send)
    db.session.flush()
    db.session.add(
        Delivery(
            send_id=send.id,
            subscriber_id=sub.id,
            email=sub.email,
            edition="regular",
            state=DeliveryState.SENT,
            sent_at=utcnow(),
        )
    )
    db.session.commit()
    page = editor.get(f"/staff/subscribers/{sub.id}").get_data(as_text=True)
    for text in ("读者甲", "要闻、技术", "纯文本", "第 396 期", "已送达", "媒体"):
        assert text in page
    # Staff may assign the 报 group that readers cannot choose.
    editor.post(
        f"/staff/subscribers/{sub.id}",
        data={"csrf_token": form_token(page), "groups": ["media", "leadership"]},
    )
    db.session.expire_all()
    assert sorted(g.code for g in db.session.get(Subscriber, sub.id).groups) == [
        "leadership",
        "media",
    ]


def test_csv_export_of_a_filtered_list_reimports_unchanged(editor, make_subscriber):
    make_subscriber(
        "a@example.org", name='=HYPERLINK("x")', organisation="甲单位", groups=("media", "tech")
    )
    make_subscriber("b@example.org", groups=("research",))
    response = editor.get("/staff/subscribers/export.csv?group=media")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")  # BOM: Excel opens it as UTF-8
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert [r["email"] for r in rows] == ["a@example.org"]
    assert rows[0]["groups"] == "media;tech" and rows[0]["organisation"] == "甲单位"
    assert rows[0]["name"].startswith("'=")  # a spreadsheet will not run it as a formula

    from tests.subscribers.test_import import upload

    db.session.execute(Membership.__table__.delete())
    db.session.execute(Subscriber.__table__.delete())
    db.session.commit()
    upload(editor, body)
    sub = db.session.scalar(select(Subscriber).where(Subscriber.email == "a@example.org"))
    assert sub.name == '=HYPERLINK("x")' and sorted(g.code for g in sub.groups) == ["media", "tech"]


def test_json_export_has_everything_stored_about_the_subscriber(editor, make_subscriber):
    sub = make_subscriber("a@example.org", name="甲", groups=("media",), sections=["要闻"])
    response = editor.get(f"/staff/subscribers/{sub.id}/export.json")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.get_data())
    assert data["email"] == "a@example.org" and data["name"] == "甲"
    assert data["groups"] == [{"code": "media", "name": "媒体"}]
    assert data["sections"] == ["要闻"] and data["deliveries"] == [] and data["suppressed"] is False


def test_erase_deletes_personal_data_and_keeps_the_hash(editor, make_subscriber, sample_text):
    issue, _ = import_issue(db.session, sample_text)
    sub = make_subscriber("erase.me@example.org", name="要删除", groups=("media",))
    keep = make_subscriber("keep@example.org", groups=("media",))
    sends = [Send(issue_id=issue.id, group_codes=["media"]) for _ in range(2)]
    db.session.add_all(sends)
    db.session.flush()
    sent = Delivery(
        send_id=sends[0].id,
        subscriber_id=sub.id,
        email=sub.email,
        name="要删除",
        edition="regular",
        state=DeliveryState.SENT,
        smtp_response="250 OK queued for <erase.me@example.org>",
    )
    waiting = Delivery(
        send_id=sends[1].id,
        subscriber_id=sub.id,
        email=sub.email,
        edition="regular",
        state=DeliveryState.QUEUED,
    )
    other = Delivery(
        send_id=sends[0].id,
        subscriber_id=keep.id,
        email=keep.email,
        edition="regular",
        state=DeliveryState.SENT,
    )
    db.session.add_all([sent, waiting, other])
    db.session.flush()
    db.session.add(
        DeliveryEvent(delivery_id=sent.id, kind="sent", detail="accepted: Erase.Me@example.org")
    )
    db.session.commit()
    sub_id = sub.id
    page = editor.get(f"/staff/subscribers/{sub_id}").get_data(as_text=True)
    wrong = editor.post(
        f"/staff/subscribers/{sub_id}/erase",
        data={"csrf_token": form_token(page), "confirm_email": "x@example.org"},
    )
    assert wrong.status_code == 302 and db.session.get(Subscriber, sub_id) is not None
    editor.post(
        f"/staff/subscribers/{sub_id}/erase",
        data={"csrf_token": form_token(page), "confirm_email": "erase.me@example.org"},
    )
    db.session.expire_all()
    assert db.session.get(Subscriber, sub_id) is None
    assert db.session.scalar(select(Membership).where(Membership.subscriber_id == sub_id)) is None
    supp = db.session.scalar(select(Suppression))
    assert (supp.email_hash, supp.reason) == (email_hash("erase.me@example.org"), "erased")
    rows = {d.id: d for d in db.session.scalars(select(Delivery))}
    assert rows[sent.id].email == f"erased-{sent.id}" and rows[sent.id].subscriber_id is None
    assert rows[sent.id].name == "" and "erase.me" not in rows[sent.id].smtp_response
    assert rows[waiting.id].state == DeliveryState.CANCELLED  # no worker mails it now
    assert rows[other.id].email == "keep@example.org"
    dump = " ".join(str(v) for d in rows.values() for v in vars(d).values())
    dump += " ".join(e.detail for e in db.session.scalars(select(DeliveryEvent)))
    assert "erase.me" not in dump.lower()


def test_suppression_list_lookup_and_manual_entry(editor, make_subscriber):
    make_subscriber("phone@example.org", groups=("media",))
    page = editor.get("/staff/subscribers/suppressions").get_data(as_text=True)
    assert "名单是空的" in page
    response = editor.post(
        "/staff/subscribers/suppressions",
        data={
            "csrf_token": form_token(page),
            "email": "Phone@Example.org",
            "detail": "电话要求停发",
        },
    )
    assert response.status_code == 302
    sub = db.session.scalar(select(Subscriber).where(Subscriber.email == "phone@example.org"))
    db.session.refresh(sub)
    assert sub.status == SubscriberStatus.SUPPRESSED
    page = editor.get("/staff/subscribers/suppressions").get_data(as_text=True)
    assert email_hash("phone@example.org")[:12] in page and "phone@example.org" not in page
    hit = editor.get("/staff/subscribers/suppressions?lookup=PHONE@example.org")
    assert "该地址在屏蔽名单中" in hit.get_data(as_text=True)
    miss = editor.get("/staff/subscribers/suppressions?lookup=none@example.org")
    assert "该地址不在屏蔽名单中" in miss.get_data(as_text=True)
    bad = editor.post(
        "/staff/subscribers/suppressions",
        data={"csrf_token": form_token(page), "email": "not an address"},
    )
    assert bad.status_code == 400 and "不是有效的邮箱地址" in bad.get_data(as_text=True)
