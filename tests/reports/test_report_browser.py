"""The report pages in headless Chromium: charts drawn from the test send's data."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def _login(page, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/staff/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("load")


@pytest.mark.parametrize("width", [800, 375])
def test_send_report_draws_its_charts(
    scenario, live_server, browser, make_staff, screenshot_dir, width
):
    user = make_staff("reviewer", password="correct horse battery")
    page = browser.new_page(viewport={"width": width, "height": 900})
    external = []
    page.on(
        "request", lambda req: None if req.url.startswith(live_server) else external.append(req.url)
    )
    try:
        _login(page, live_server, user.email, "correct horse battery")
        page.goto(f"{live_server}/reports/sends/{scenario.s.send.id}")
        page.wait_for_function("() => window.Chart && Chart.getChart('timeline-chart')")
        chart = page.evaluate("""() => {
            const c = Chart.getChart('timeline-chart');
            const sum = a => a.reduce((x, y) => x + (y || 0), 0);
            return {sent: sum(c.data.datasets[0].data), opens: sum(c.data.datasets[1].data),
                    clicks: sum(c.data.datasets[2].data), width: c.width};
        }""")
        assert chart == {
            "sent": 12,
            "opens": sum(scenario.opens.values()),
            "clicks": sum(len(v) for v in scenario.clicks.values()),
            "width": chart["width"],
        }
        assert chart["width"] > 200
        assert page.evaluate("() => !!Chart.getChart('links-chart')")
        # the canvas has ink on it (not a blank box)
        inked = page.evaluate("""() => {
            const c = document.getElementById('timeline-chart');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n;
        }""")
        assert inked > 1000
        # the report's own content fits (tables scroll inside their .table-wrap); the shared
        # top bar is checked by the layout's owner
        wide = page.evaluate(
            """(w) => [...document.querySelectorAll('main.page > *')]
            .filter(e => e.getBoundingClientRect().right > w + 1).map(e => e.tagName)""",
            width,
        )
        assert wide == []
        assert external == []  # no CDN, nothing fetched from elsewhere
        page.screenshot(path=str(screenshot_dir / f"report-send-{width}.png"), full_page=True)
        page.goto(f"{live_server}/reports/")
        page.wait_for_function("() => window.Chart && Chart.getChart('growth-chart')")
        assert page.evaluate("() => !!Chart.getChart('open-chart')")
        page.screenshot(path=str(screenshot_dir / f"report-index-{width}.png"), full_page=True)
        page.goto(f"{live_server}/reports/subscribers/{scenario.s.deliveries[0].subscriber_id}")
        page.screenshot(path=str(screenshot_dir / f"report-subscriber-{width}.png"), full_page=True)
    finally:
        page.close()


def test_send_report_of_a_busier_send_at_800px(
    app, live_server, browser, make_staff, screenshot_dir, sample_text
):
    """200 readers with opens and clicks spread over three days, written directly."""
    import datetime as dt
    import random

    from newsletter.delivery.models import DeliveryEvent
    from newsletter.extensions import db
    from newsletter.timeutil import utcnow
    from newsletter.tracking.models import TrackedEvent
    from tests.tracking.factory import make_send

    rnd = random.Random(396)
    start = utcnow() - dt.timedelta(days=4)
    emails = [f"reader{i:03d}@example.com" for i in range(200)]
    s = make_send(
        sample_text,
        emails,
        created_at=start,
        sent_at=start + dt.timedelta(minutes=30),
        priority=set(emails[:20]),
    )
    opens = clicks = 0
    for i, d in enumerate(s.deliveries):
        if rnd.random() > 0.45:
            continue
        for _ in range(rnd.choice((1, 1, 1, 2, 3))):
            at = start + dt.timedelta(hours=min(rnd.expovariate(1 / 9), 71.5))
            ev = DeliveryEvent(delivery_id=d.id, kind="opened", detail="", created_at=at)
            db.session.add(ev)
            db.session.flush()
            db.session.add(
                TrackedEvent(
                    key=f"o{i}-{ev.id}",
                    event_id=ev.id,
                    send_id=s.send.id,
                    delivery_id=d.id,
                    kind="opened",
                    created_at=at,
                )
            )
            opens += 1
            if rnd.random() < 0.3:
                n = rnd.choice((1, 2, 2, 3))
                cev = DeliveryEvent(
                    delivery_id=d.id,
                    kind="clicked",
                    detail=f"link={n}",
                    created_at=at + dt.timedelta(minutes=2),
                )
                db.session.add(cev)
                db.session.flush()
                db.session.add(
                    TrackedEvent(
                        key=f"c{i}-{cev.id}",
                        event_id=cev.id,
                        send_id=s.send.id,
                        delivery_id=d.id,
                        kind="clicked",
                        link_n=n,
                        created_at=cev.created_at,
                    )
                )
                clicks += 1
    db.session.commit()
    user = make_staff("editor", password="correct horse battery")
    page = browser.new_page(viewport={"width": 800, "height": 900})
    try:
        _login(page, live_server, user.email, "correct horse battery")
        page.goto(f"{live_server}/reports/sends/{s.send.id}")
        page.wait_for_function("() => window.Chart && Chart.getChart('timeline-chart')")
        sums = page.evaluate("""() => Chart.getChart('timeline-chart').data.datasets
            .map(ds => ds.data.reduce((a, b) => a + b, 0))""")
        assert sums == [200, opens, clicks]
        page.screenshot(path=str(screenshot_dir / "report-send-800-busy.png"), full_page=True)
    finally:
        page.close()


def test_csv_export_downloads_in_the_browser(scenario, live_server, browser, make_staff, tmp_path):
    """The stream ran outside the app context (a 200, the header line, then an abort):
    only a real server shows it, so download it the way a person does (issue 13)."""
    import csv
    import io

    user = make_staff("editor", password="correct horse battery")  # the CSV has addresses: editors
    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    try:
        _login(page, live_server, user.email, "correct horse battery")
        page.goto(f"{live_server}/reports/sends/{scenario.s.send.id}")
        with page.expect_download() as info:
            page.click("text=导出 CSV")
        download = info.value
        assert download.failure() is None
        target = tmp_path / download.suggested_filename
        download.save_as(target)
    finally:
        page.close()
    assert target.name == f"send-{scenario.s.send.id}-issue-396.csv"
    rows = list(csv.DictReader(io.StringIO(target.read_text("utf-8-sig"))))
    assert len(rows) == 12
    assert {r["状态"] for r in rows} <= {"已送达", "退信", "失败", "延迟重试", "排队中"}
    assert all(r["版本"] in ("普通版", "领导版") for r in rows)
    assert all(not r["发送时间"] or len(r["发送时间"]) == 16 for r in rows)  # 2026-12-01 16:05
