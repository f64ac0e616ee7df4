"""The audit log in sentences (issue 13): the CLI and the API are recorded as well as the
pages, counting the audience does not read like sending, personal-data reads through the
API are there too, technical details stay in a secondary, collapsible column."""

from __future__ import annotations

import re

from sqlalchemy import select

from newsletter.extensions import db
from newsletter.staff import audit_text
from newsletter.staff.models import AuditEntry
from tests.conftest import approve_for_tests
from tests.staff.conftest import login, post_form
from tests.subscribers.conftest import make_subscriber  # noqa: F401


def sentences(app, admin_client) -> list[str]:
    page = admin_client.get("/staff/audit").get_data(as_text=True)
    cells = re.findall(r'<td class="audit-sentence">(.*?)</td>', page, re.S)
    return [re.sub(r"<[^>]+>", "", c).strip() for c in cells]


def test_cli_import_and_send_read_as_sentences(
    app, runner, tmp_path, sample_text, staff, make_subscriber
):
    for i in range(3):
        make_subscriber(f"r{i}@example.org", groups=("media", "members"))
    path = tmp_path / "weekly-396.txt"
    path.write_bytes(sample_text)
    assert runner.invoke(args=["issues", "import", str(path)]).exit_code == 0
    approve_for_tests(396)
    assert (
        runner.invoke(args=["send", "396", "--group", "media", "--group", "members"]).exit_code == 0
    )
    entries = db.session.scalars(
        select(AuditEntry).where(AuditEntry.via == "cli").order_by(AuditEntry.id)
    ).all()
    assert [e.action for e in entries] == ["issue.imported", "send.created"]
    assert entries[1].detail["recipients"] == 3 and entries[1].detail["groups"] == [
        "media",
        "members",
    ]
    admin = login(app, staff("admin", name="周管理"))
    said = sentences(app, admin)
    assert any(
        re.fullmatch(r"命令行（.*）\s*导入第 396 期（7 个栏目，31 篇）", s)
        or s.endswith("导入第 396 期（7 个栏目，31 篇）")
        for s in said
    ), said
    assert any(s.endswith("向 2 个分组发送第 396 期（3 人）") for s in said), said
    page = admin.get("/staff/audit").get_data(as_text=True)
    assert "<details><summary>展开</summary>" in page and "send.created" in page
    assert "命令行" in page


def test_the_web_import_and_counting_are_told_apart_from_sending(
    app, staff, sample_text, make_subscriber
):
    make_subscriber("r@example.org", groups=("media",))
    editor = staff("editor", "sender", name="王编辑")
    client = login(app, editor)
    from tests.bulletin.test_views import upload

    assert upload(client, sample_text, "w.txt").status_code == 302
    approve_for_tests(396)
    r = post_form(client, "/issues/396/send", {"groups": ["media"], "action": "preview"})
    assert r.status_code in (200, 302)
    said = sentences(app, login(app, staff("admin")))
    assert "王编辑 导入第 396 期（7 个栏目，31 篇）" in said
    counted = [s for s in said if "统计第 396 期的收件人" in s]
    assert counted and all("未发送" in s for s in counted)
    assert not any(s.startswith("王编辑 发送") or "向 1 个分组发送" in s for s in said)


def test_record_send_for_the_send_service(app, staff, sample_text):
    from flask import current_app

    from newsletter.bulletin.service import import_issue
    from newsletter.sends import service as send_service

    import_issue(db.session, sample_text)
    approve_for_tests(396)
    sender = staff("sender", name="李发送")
    send = send_service.send_issue(db.session, current_app.config, 396, ["media"]).send
    entry = audit_text.record_send(send, recipients=3006, actor=sender, via="web")
    who, what = audit_text.describe(entry, {sender.id: "李发送"})
    assert (who, what) == ("李发送", "向 1 个分组发送第 396 期（3,006 人）")
    counted = audit_text.record_count(396, ["a", "b"], 12, actor=sender)
    assert (
        audit_text.describe(counted, {sender.id: "李发送"})[1]
        == "统计第 396 期的收件人（12 人，未发送）"
    )


def test_api_reads_of_personal_data_are_audited(app, api, make_subscriber):
    sub = make_subscriber("reader@example.org", groups=("media",))
    client, headers = api("editor")
    assert client.get(f"/api/v1/subscribers/{sub.id}", headers=headers).status_code == 200
    assert client.get("/api/v1/subscribers?q=reader", headers=headers).status_code == 200
    entries = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    actions = [(e.action, e.target, e.via) for e in entries]
    assert ("api.subscriber.read", f"subscriber:{sub.id}", "api") in actions
    listed = [e for e in entries if e.action == "api.subscriber.listed"]
    assert listed and listed[0].detail["count"] == 1
    assert audit_text.describe(listed[0], {})[1] == "列出订阅者（1 人）"
