"""Report numbers against counts computed here from what the scenario did."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from sqlalchemy import select

from newsletter.delivery.models import DeliveryEvent, EventKind
from newsletter.extensions import db
from newsletter.reports import history, sendreport
from newsletter.timeutil import utcnow
from newsletter.tracking.models import TrackedEvent
from subscribers.models import Group
from tests.tracking.factory import make_send


def expected(sc, members: list[str]) -> dict:
    delivered = [e for e in members if e not in sc.hard | sc.failed]
    unique_opens = sum(1 for e in members if sc.opens.get(e))
    unique_clicks = sum(1 for e in members if sc.clicks.get(e))
    return {
        "total": len(members),
        "delivered": len(delivered),
        "failed": len(set(members) & sc.failed),
        "bounced": len(set(members) & sc.hard),
        "soft_bounced": len(set(members) & sc.soft),
        "unique_opens": unique_opens,
        "opens": sum(sc.opens.get(e, 0) for e in members),
        "unique_clicks": unique_clicks,
        "clicks": sum(len(sc.clicks.get(e, [])) for e in members),
        "unsubscribes": len(set(members) & sc.unsubscribed),
        "complaints": len(set(members) & sc.complained),
        "open_rate": round(100 * unique_opens / len(delivered), 1) if delivered else 0.0,
        "click_rate": round(100 * unique_clicks / len(delivered), 1) if delivered else 0.0,
    }


def as_dict(t: sendreport.Totals) -> dict:
    return {
        k: getattr(t, k)
        for k in (
            "total",
            "delivered",
            "failed",
            "bounced",
            "soft_bounced",
            "unique_opens",
            "opens",
            "unique_clicks",
            "clicks",
            "unsubscribes",
            "complaints",
            "open_rate",
            "click_rate",
        )
    }


def test_send_totals_match_the_ledger(scenario):
    sc = scenario
    totals = sendreport.send_totals(db.session, sc.s.send.id)
    assert as_dict(totals) == expected(sc, sc.emails)
    assert totals.bot_opens == sc.bot_opens
    # and the ledger agrees with the raw events (not the report's tables)
    raw = db.session.scalars(select(DeliveryEvent).where(DeliveryEvent.kind == "opened")).all()
    assert sum(1 for e in raw if "bot=" not in e.detail) == sum(sc.opens.values())


def test_by_edition_and_by_group_match_the_ledger(scenario):
    sc = scenario
    editions = {t.key: as_dict(t) for t in sendreport.by_edition(db.session, sc.s.send.id)}
    regular = [e for e in sc.emails if e not in sc.priority]
    assert editions == {
        "priority": expected(sc, sorted(sc.priority)),
        "regular": expected(sc, regular),
    }
    groups = {t.key: as_dict(t) for t in sendreport.by_group(db.session, sc.s.send.id)}
    want = {}
    for email, code in sc.groups.items():
        want.setdefault(code, []).append(email)
    assert groups == {code: expected(sc, members) for code, members in want.items()}


def test_top_links_timeline_and_failures(scenario):
    sc = scenario
    links = sendreport.top_links(db.session, sc.s.send.id)
    counted: dict[int, list[str]] = {}
    for email, ns in sc.clicks.items():
        for n in ns:
            counted.setdefault(n, []).append(email)
    assert {row["n"]: (row["clicks"], row["unique"]) for row in links} == {
        n: (len(es), len(set(es))) for n, es in counted.items()
    }
    top = links[0]
    assert top["article"] == "a-1" and top["label"] == "全国宣传部长会议在京召开 蔡奇出席并讲话"

    tl = sendreport.timeline(db.session, sc.s.send)
    assert len(tl["labels"]) == 72
    assert sum(tl["sent"]) == len(sc.emails) and tl["sent"][0] == len(sc.emails)
    assert sum(tl["opens"]) == sum(sc.opens.values())
    assert sum(tl["clicks"]) == sum(len(v) for v in sc.clicks.values())
    start = sc.s.send.started_at
    hour = int((utcnow() - start).total_seconds() // 3600)
    assert tl["opens"][hour] + tl["opens"][max(hour - 1, 0)] == sum(sc.opens.values())

    rows, reasons = sendreport.failures(db.session, sc.s.send.id)
    assert {(r["email"], r["state"]) for r in rows} == {
        *((e, "bounced") for e in sc.hard),
        *((e, "failed") for e in sc.failed),
        *((e, "soft") for e in sc.soft),
    }
    assert dict(reasons)["hard 5.1.1"] == 1 and dict(reasons)["soft 5.2.2"] == 1


def test_csv_export_has_one_row_per_delivery(scenario, staff_client):
    sc = scenario
    client = staff_client("editor")  # addresses and names: editors
    r = client.get(f"/reports/sends/{sc.s.send.id}.csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    text = r.get_data(as_text=True)
    assert text.startswith("\ufeff邮箱,")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert len(rows) == len(sc.emails)
    by = {row["邮箱"]: row for row in rows}
    for email in sc.emails:
        assert int(by[email]["打开次数"]) == sc.opens.get(email, 0)
        assert int(by[email]["点击次数"]) == len(sc.clicks.get(email, []))
    assert by["r00@example.com"]["点击的链接"] == " ".join(
        map(str, sorted(sc.clicks["r00@example.com"]))
    )
    assert by["r06@example.com"]["状态"] == "退信" and "5.1.1" in by["r06@example.com"]["错误"]
    assert by["r07@example.com"]["软退信"] == "1"


def test_csv_cells_cannot_become_formulas(app, staff_client, sample_text):
    s = make_send(sample_text, ["x@example.com"])
    d = s.deliveries[0]
    d.name, d.last_error = '=HYPERLINK("http://evil")', "+1 boom"
    db.session.commit()
    text = staff_client("editor").get(f"/reports/sends/{s.send.id}.csv").get_data(as_text=True)
    assert "'=HYPERLINK" in text and "'+1 boom" in text


def test_csv_export_with_a_click_of_no_known_link(app, staff_client, sample_text):
    """link_n is nullable: such a click is counted, and the export must not fail on it."""
    s = make_send(sample_text, ["x@example.com"])
    d = s.deliveries[0]
    for key, n in (("c1", 2), ("c2", None)):
        event = DeliveryEvent(delivery_id=d.id, kind=EventKind.CLICKED, detail="")
        db.session.add(event)
        db.session.flush()
        db.session.add(
            TrackedEvent(
                key=key,
                event_id=event.id,
                send_id=s.send.id,
                delivery_id=d.id,
                kind=EventKind.CLICKED,
                link_n=n,
            )
        )
    db.session.commit()
    r = staff_client("editor").get(f"/reports/sends/{s.send.id}.csv")
    assert r.status_code == 200
    row = next(csv.DictReader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
    assert row["点击次数"] == "2" and row["点击的链接"] == "2"


def test_trends_and_growth_count_per_week(app, scenario, sample_text):
    sc = scenario
    older = make_send(sample_text, sc.emails[:3], created_at=utcnow() - dt.timedelta(days=7))
    make_send(sample_text, ["t@example.com"], is_test=True)  # test sends stay out of trends
    t = history.trends(db.session)
    assert len(t["labels"]) == 2 and t["labels"][0].startswith("第 396 期")
    first_group = db.session.scalar(select(Group.code).order_by(Group.position))
    assert t["audience"][first_group] == [3, 6]
    assert (
        t["open_rate"][first_group][1]
        == expected(sc, [e for e, c in sc.groups.items() if c == first_group])["open_rate"]
    )
    assert t["open_rate"][first_group][0] == 0.0
    del older

    g = history.list_growth(db.session)
    assert len(g["labels"]) == 52
    this_week = g["labels"].index(history.week_start(utcnow()).isoformat())
    assert this_week == 51
    assert g["bounced"][this_week] == len(sc.hard) and g["complained"][this_week] == 1
    # subscribers were confirmed when their first send was created (factory): r00..r11 5 h
    # ago and t@ 1 h ago; which week that is depends on the clock, so count across weeks
    assert sum(g["subscribed"]) == len(sc.emails) + 1


@pytest.mark.parametrize("role", ["reviewer", "sender", "editor", "admin"])
def test_report_pages_for_every_staff_role(scenario, staff_client, role):
    client = staff_client(role)
    sid = scenario.s.send.id
    index = client.get("/reports/").get_data(as_text=True)
    assert "最近的发送" in index and f"/reports/sends/{sid}" in index
    page = client.get(f"/reports/sends/{sid}").get_data(as_text=True)
    for text in (
        "发送报告",
        "独立打开",
        "按版本",
        "按分组",
        "点击最多的文章与链接",
        "全国宣传部长会议在京召开 蔡奇出席并讲话",
        "hard 5.1.1",
        "vendor/chart.umd.min.js",
    ):
        assert text in page, text
    sub = scenario.s.deliveries[0].subscriber_id
    history = client.get(f"/reports/subscribers/{sub}")
    if role in ("reviewer", "sender"):  # readers' addresses are for subscriber managers
        assert history.status_code == 403
        assert client.get(f"/reports/sends/{sid}.csv").status_code == 403
        return
    history = history.get_data(as_text=True)
    assert "r00@example.com" in history and "打开" in history and "link=" in history


def test_reports_need_a_login_and_unknown_ids_are_404(client, staff_client, scenario):
    for path in (
        "/reports/",
        f"/reports/sends/{scenario.s.send.id}",
        f"/reports/sends/{scenario.s.send.id}.csv",
        "/reports/subscribers/1",
    ):
        r = client.get(path)
        assert r.status_code == 302 and r.headers["Location"].startswith("/staff/login")
    staff = staff_client("editor")
    assert staff.get("/reports/sends/999999").status_code == 404
    assert staff.get("/reports/sends/999999.csv").status_code == 404
    assert staff.get("/reports/subscribers/999999").status_code == 404
    r = staff.get("/reports/subscribers?email=nobody@example.com")
    assert r.status_code == 404 and "没有找到订阅者" in r.get_data(as_text=True)
    r = staff.get("/reports/subscribers?email=R00@Example.com")
    assert r.status_code == 302 and "/reports/subscribers/" in r.headers["Location"]
    assert staff.get("/reports/subscribers?email=").status_code == 200
