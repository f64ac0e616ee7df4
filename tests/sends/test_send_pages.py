"""The send pages: audience per edition before confirming, sending, scheduling, moving,
cancelling, pausing, live progress; and who may do it."""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import select

from newsletter.bulletin.service import import_issue
from newsletter.delivery import pipeline
from newsletter.delivery.models import Delivery, Send, SendStatus
from newsletter.extensions import db
from newsletter.sends import service
from newsletter.timeutil import utcnow
from tests.conftest import approve_for_tests, csrf_token
from tests.delivery.support import all_final, wait_until
from tests.delivery.test_send_end_to_end import READERS, add_readers


def post_send(client, groups, action, scheduled_at=""):
    return client.post(
        "/issues/396/send",
        data={
            "csrf_token": csrf_token(client, "/issues/396/send"),
            "groups": groups,
            "action": action,
            "scheduled_at": scheduled_at,
        },
    )


def test_sender_sees_audience_per_edition_then_sends(
    staff_client, app, smtp, run_jobs, sample_text
):
    approve_for_tests(import_issue(db.session, sample_text)[0])  # 责编/复核 before a send
    add_readers()
    client = staff_client("sender")
    page = post_send(client, ["leadership", "members", "media", "universities"], "preview")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "领导版（优先发送）：2 人" in html and "普通版：2 人" in html
    assert db.session.scalar(select(Send)) is None  # a preview writes nothing

    response = post_send(client, ["leadership", "members", "media", "universities"], "confirm")
    assert response.status_code == 302
    send = db.session.scalar(select(Send))
    assert response.headers["Location"] == f"/sends/{send.id}"
    assert send.created_by.startswith("sender-")
    run_jobs()
    assert sorted(r for m in smtp.received for r in m.rcpt_tos) == sorted(
        a.lower() for a in READERS
    )
    progress = client.get(f"/sends/{send.id}/progress.json").get_json()
    assert progress["sent"] == 4 and progress["remaining"] == 0 and progress["status"] == "done"
    assert "已完成" in client.get(f"/sends/{send.id}").get_data(as_text=True)


def test_no_group_or_a_past_time_re_renders_with_a_message(staff_client, sample_text):
    approve_for_tests(import_issue(db.session, sample_text)[0])  # 责编/复核 before a send
    client = staff_client("sender")
    page = post_send(client, [], "confirm")
    assert page.status_code == 400 and "请至少选择一个分组" in page.get_data(as_text=True)
    page = post_send(client, ["media"], "confirm", "2020-01-01T09:00")
    assert page.status_code == 400 and "已经过去" in page.get_data(as_text=True)
    assert db.session.scalar(select(Send)) is None


def test_only_senders_may_start_or_control_a_send(staff_client, client, sample_text):
    approve_for_tests(import_issue(db.session, sample_text)[0])  # 责编/复核 before a send
    editor = staff_client("editor")
    assert editor.get("/issues/396/send").status_code == 403
    assert client.get("/issues/396/send").status_code == 302  # anonymous: to the login


def test_schedule_move_and_cancel(staff_client, sample_text):
    approve_for_tests(import_issue(db.session, sample_text)[0])  # 责编/复核 before a send
    add_readers()
    client = staff_client("sender")
    response = post_send(client, ["media"], "confirm", "2099-01-05T09:00")
    assert response.status_code == 302
    send = db.session.scalar(select(Send))
    assert send.status == SendStatus.SCHEDULED
    assert send.scheduled_at == dt.datetime(2099, 1, 5, 1, 0)  # 09:00 Beijing is 01:00 UTC
    assert db.session.scalar(select(Delivery)) is None  # recipients are chosen when it starts

    detail = f"/sends/{send.id}"
    client.post(
        f"{detail}/reschedule",
        data={"csrf_token": csrf_token(client, detail), "scheduled_at": "2099-01-12T09:30"},
    )
    db.session.refresh(send)
    assert send.scheduled_at == dt.datetime(2099, 1, 12, 1, 30)
    client.post(f"{detail}/cancel", data={"csrf_token": csrf_token(client, detail)})
    db.session.refresh(send)
    assert send.status == SendStatus.CANCELLED
    # A cancelled send cannot be paused: the page says so and nothing changes.
    page = client.post(
        f"{detail}/pause", data={"csrf_token": csrf_token(client, detail)}, follow_redirects=True
    )
    assert "不能暂停" in page.get_data(as_text=True)


def test_a_reschedule_without_a_time_says_so_and_changes_nothing(staff_client, sample_text):
    """The form's message is a lazy (translated) string: it is flashed, not a 500."""
    approve_for_tests(import_issue(db.session, sample_text)[0])  # 责编/复核 before a send
    add_readers()
    client = staff_client("sender")
    post_send(client, ["media"], "confirm", "2099-01-05T09:00")
    send = db.session.scalar(select(Send))
    detail = f"/sends/{send.id}"
    page = client.post(
        f"{detail}/reschedule",
        data={"csrf_token": csrf_token(client, detail), "scheduled_at": ""},
        follow_redirects=True,
    )
    assert page.status_code == 200 and "请填写时间。" in page.get_data(as_text=True)
    db.session.refresh(send)
    assert send.scheduled_at == dt.datetime(2099, 1, 5, 1, 0)


def test_control_without_csrf_token_changes_nothing(staff_client, sample_text):
    approve_for_tests(import_issue(db.session, sample_text)[0])  # 责编/复核 before a send
    add_readers()
    client = staff_client("sender")
    post_send(client, ["media"], "confirm", "2099-01-05T09:00")
    send = db.session.scalar(select(Send))
    client.post(f"/sends/{send.id}/cancel", data={})
    db.session.refresh(send)
    assert send.status == SendStatus.SCHEDULED


def test_a_scheduled_send_starts_on_time_through_rq_scheduler(app, smtp, run_worker, sample_text):
    approve_for_tests(import_issue(db.session, sample_text)[0])  # 责编/复核 before a send
    add_readers()
    at = utcnow() + dt.timedelta(seconds=2)
    send = service.send_issue(
        db.session, app.config, 396, ["media", "universities"], scheduled_at=at
    ).send  # schedules its start with RQ
    run_worker(burst=False)
    # The last batch commits its deliveries, then marks the send done: wait for both.
    wait_until(
        lambda: (
            all_final(send.id)
            and db.session.get(Send, send.id, populate_existing=True).status == SendStatus.DONE
        ),
        30,
        "the scheduled send to go out",
    )
    db.session.rollback()
    send = db.session.get(Send, send.id)
    assert send.status == SendStatus.DONE and send.started_at >= at
    assert sorted(r for m in smtp.received for r in m.rcpt_tos) == [
        "media@example.com",
        "uni@example.edu",
    ]


def test_a_scheduled_send_whose_issue_changed_since_approval_is_cancelled(app, sample_text):
    from newsletter.bulletin.models import Issue

    approve_for_tests(import_issue(db.session, sample_text)[0])
    add_readers()
    settings = pipeline.PipelineSettings.from_config(app.config)
    send = service.send_issue(
        db.session, app.config, 396, ["media"], scheduled_at=utcnow() + dt.timedelta(seconds=1)
    ).send
    issue = db.session.scalar(select(Issue))
    issue.title = "行业动态周报（未经复核的修改）"  # e.g. a re-import nobody recorded
    db.session.commit()
    time.sleep(1.1)
    assert service.start_scheduled(db.session, settings, send.id) is False
    db.session.refresh(send)
    assert send.status == SendStatus.CANCELLED
    assert db.session.scalar(select(Delivery)) is None


def test_cli_pause_and_cancel_report_progress_and_refuse_impossible_steps(app, runner, sample_text):
    approve_for_tests(import_issue(db.session, sample_text)[0])
    add_readers()
    assert runner.invoke(args=["send", "396", "--group", "media"]).exit_code == 0
    send_id = db.session.scalar(select(Send.id))
    paused = runner.invoke(args=["send", "pause", str(send_id)])
    assert paused.exit_code == 0 and '"status": "paused"' in paused.output
    cancelled = runner.invoke(args=["send", "cancel", str(send_id)])
    assert cancelled.exit_code == 0 and '"cancelled": 1' in cancelled.output
    again = runner.invoke(args=["send", "pause", str(send_id)])
    assert again.exit_code == 2 and f"发送 #{send_id} 已取消，不能暂停。" in again.output
