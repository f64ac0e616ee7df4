"""Staff pages in Chromium: the list, a subscriber, the suppression list, and a CSV import
whose progress bar is driven by a real worker. Screenshots at 375 and 800 px."""

from __future__ import annotations

import pytest

from newsletter.extensions import db
from tests.subscribers.test_journey import shoot
from tests.subscribers.test_staff import bulk_insert


def login(context, live_server, make_staff):
    make_staff("editor", email="editor@example.org", password="correct horse battery")
    page = context.new_page()
    page.goto(f"{live_server}/staff/login?next=/staff/subscribers/")
    page.fill("input[name=email]", "editor@example.org")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url("**/staff/subscribers/")
    return page


@pytest.mark.browser
def test_staff_subscriber_pages(
    live_server, browser, screenshot_dir, make_staff, make_subscriber, run_worker, tmp_path, app
):
    bulk_insert(60)
    sub = make_subscriber(
        "wang@media.example.com",
        name="王编辑",
        organisation="某某日报",
        groups=("media", "leadership"),
        sections=["要闻", "技术"],
    )
    context = browser.new_context()
    page = login(context, live_server, make_staff)
    assert "共 61 位" in page.inner_text("h1")
    shoot(page, screenshot_dir, "staff-list")
    page.fill("input[name=q]", "某某日报")
    page.click(".filters button[type=submit]")
    page.wait_for_selector("text=共 1 位")
    page.click("text=wang@media.example.com")
    page.wait_for_url(f"**/staff/subscribers/{sub.id}")
    shoot(page, screenshot_dir, "staff-subscriber")

    # A CSV big enough to go to the background: the bar moves as the worker imports.
    app.config["SUBSCRIBER_IMPORT_INLINE_ROWS"] = 10
    csv_path = tmp_path / "读者.csv"
    rows = "".join(f"r{i}@example.net,读者{i},单位{i},高校\n" for i in range(3000))
    csv_path.write_bytes(("email,name,organisation,groups\n" + rows).encode("gb18030"))
    page.goto(f"{live_server}/staff/subscribers/import")
    shoot(page, screenshot_dir, "staff-import")
    page.set_input_files("input[name=file]", str(csv_path))
    page.check("input[name=mode][value=confirmed]")
    page.click("main form button[type=submit]")
    page.wait_for_selector("#import-progress")
    assert "排队中" in page.inner_text("#import-state")
    worker = run_worker()
    page.wait_for_selector("text=导入完成", timeout=120_000)  # the page polls, then reloads
    assert worker.wait(timeout=60) == 0
    assert page.inner_text("#n-created") == "3000"
    assert page.eval_on_selector("#import-progress", "p => p.value === p.max")
    shoot(page, screenshot_dir, "staff-import-done")

    page.goto(f"{live_server}/staff/subscribers/suppressions")
    page.fill("section.card input[name=email]", "someone@example.org")
    page.click("section.card button[type=submit]")
    page.wait_for_selector("text=已加入屏蔽名单")
    shoot(page, screenshot_dir, "staff-suppressions")
    context.close()
    db.session.expire_all()
