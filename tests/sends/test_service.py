"""The one send service: never twice (refused re-sends, the follow-up to those who have not
received it), idempotent pages and API (double clicks, retried requests, also at once from
two threads), two identical sends at once, the schedule's sweep. Counted at a real
aiosmtpd server after RQ's worker drained the real queues (in process: tests/inprocess.py)."""

from __future__ import annotations

import collections
import re
import threading

import pytest
from sqlalchemy import func, select, update

from newsletter.delivery.models import Delivery, DeliveryState, Send
from newsletter.extensions import db
from newsletter.sends import service
from tests.conftest import csrf_token
from tests.delivery.test_send_end_to_end import READERS, add_readers

ALL = ["leadership", "members", "media", "universities"]


def received(smtp) -> collections.Counter:
    return collections.Counter(r for m in smtp.received for r in m.rcpt_tos)


def sends() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Send))


def send_form(client) -> dict:
    """The send page's form as a browser holds it: CSRF token and the one-time nonce."""
    html = client.get("/issues/396/send").get_data(as_text=True)
    nonce = re.search(r'id="nonce" name="nonce" type="hidden" value="([^"]+)"', html)
    assert nonce, "no nonce in the send form"
    return {
        "csrf_token": csrf_token(client, "/issues/396/send"),
        "nonce": nonce.group(1),
        "groups": ALL,
        "action": "confirm",
        "scheduled_at": "",
    }


# --- the page ---------------------------------------------------------------------------


def test_a_double_clicked_form_makes_one_send(staff_client, approved, smtp, run_jobs):
    client = staff_client("sender")
    form = send_form(client)
    first = client.post("/issues/396/send", data=form)
    second = client.post("/issues/396/send", data=form)  # the second click
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert sends() == 1
    assert "已经提交过" in client.get(second.headers["Location"]).get_data(as_text=True)
    run_jobs()
    assert received(smtp) == {a.lower(): 1 for a in READERS}


def test_the_same_form_posted_twice_at_once_makes_one_send(
    app, staff_client, approved, smtp, run_jobs
):
    client = staff_client("sender")
    form = send_form(client)
    other = app.test_client()  # a second connection of the same browser session
    cookie = client.get_cookie("session")
    other.set_cookie("session", cookie.value, domain=cookie.domain)
    barrier, answers = threading.Barrier(2), []

    def post(c):
        barrier.wait()
        answers.append(c.post("/issues/396/send", data=form))

    threads = [threading.Thread(target=post, args=(c,)) for c in (client, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert [a.status_code for a in answers] == [302, 302]
    assert len({a.headers["Location"] for a in answers}) == 1
    assert sends() == 1
    run_jobs()
    assert received(smtp) == {a.lower(): 1 for a in READERS}


def test_a_sent_issue_offers_only_the_follow_up(staff_client, approved, smtp, run_jobs):
    client = staff_client("sender")
    assert client.post("/issues/396/send", data=send_form(client)).status_code == 302
    run_jobs()
    page = client.get("/issues/396/send").get_data(as_text=True)
    assert "本期已发给 <strong>4</strong> 位读者" in page and "确认立即发送" not in page

    # the old form again (say, from the browser's history with a fresh nonce): refused
    stale = {**send_form(client), "action": "confirm"}
    refused = client.post("/issues/396/send", data=stale)
    assert refused.status_code == 409
    assert "不能再发一次" in refused.get_data(as_text=True) and sends() == 1

    assert "已发给所有读者" in client.get("/issues/396").get_data(as_text=True)
    add_readers({"new@example.org": ("新读者", ["media"])})
    issue_page = client.get("/issues/396").get_data(as_text=True)
    assert "补发给尚未收到的读者：1 人" in issue_page and ">发送…<" not in issue_page
    preview = client.post("/issues/396/send", data={**send_form(client), "action": "preview"})
    html = preview.get_data(as_text=True)
    assert "所选分组中已收到：<strong>4 人</strong>" in html
    assert "补发给尚未收到的读者：1 人" in html and "确认立即发送" not in html
    follow = client.post("/issues/396/send", data={**send_form(client), "action": "confirm_new"})
    assert follow.status_code == 302 and sends() == 2
    run_jobs()
    assert received(smtp) == {**{a.lower(): 1 for a in READERS}, "new@example.org": 1}
    nobody = client.post("/issues/396/send", data={**send_form(client), "action": "preview"})
    assert "没有需要补发的人" in nobody.get_data(as_text=True)


# --- the service itself: races and the follow-up ----------------------------------------------


def test_two_identical_sends_started_at_once_reach_each_reader_once(app, approved, smtp, run_jobs):
    barrier, outcomes = threading.Barrier(2), []

    def start():
        with app.app_context():
            barrier.wait()
            try:
                outcomes.append(service.send_issue(db.session, app.config, 396, ALL).send.id)
            except service.AlreadyReceived as exc:
                outcomes.append(str(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(outcomes) == 2
    assert sum(isinstance(o, int) for o in outcomes) == 1, outcomes
    assert any("不能再发一次" in str(o) for o in outcomes)
    run_jobs()
    assert received(smtp) == {a.lower(): 1 for a in READERS}


def test_the_follow_up_goes_only_to_those_who_have_not_received_it(app, approved, smtp, run_jobs):
    service.send_issue(db.session, app.config, 396, ["media"])
    run_jobs()
    assert received(smtp) == {"media@example.com": 1}
    # one reader's delivery failed for good (say, a relay problem): it never arrived
    add_readers(
        {
            "late@example.org": ("晚到的读者", ["media"]),
            "failed@example.org": ("失败的读者", ["media"]),
        }
    )
    with pytest.raises(service.AlreadyReceived, match="不能再发一次.*2 人"):
        service.send_issue(db.session, app.config, 396, ["media"])
    follow = service.send_issue(db.session, app.config, 396, ["media"], only_new=True)
    assert follow.skipped_received == 1 and follow.send.only_new
    run_jobs()
    assert received(smtp) == {
        "media@example.com": 1,
        "late@example.org": 1,
        "failed@example.org": 1,
    }
    # a failed delivery is "not received": the next follow-up tries that reader again
    db.session.execute(
        update(Delivery)
        .where(Delivery.email == "failed@example.org")
        .values(state=DeliveryState.FAILED)
    )
    db.session.commit()
    again = service.send_issue(db.session, app.config, 396, ["media"], only_new=True).send
    assert [
        d.email for d in db.session.scalars(select(Delivery).where(Delivery.send_id == again.id))
    ] == ["failed@example.org"]
    db.session.execute(
        update(Delivery).where(Delivery.send_id == again.id).values(state=DeliveryState.SENT)
    )
    db.session.commit()
    with pytest.raises(service.NothingToSend, match="没有需要补发的人"):
        service.send_issue(db.session, app.config, 396, ["media"], only_new=True)


def test_a_scheduled_send_skips_readers_who_got_the_issue_meanwhile(app, approved):
    import datetime as dt
    import time

    from newsletter.delivery.pipeline import PipelineSettings
    from newsletter.timeutil import utcnow

    at = utcnow() + dt.timedelta(seconds=1)
    scheduled = service.send_issue(db.session, app.config, 396, ALL, scheduled_at=at).send
    with pytest.raises(service.SendError, match="已有定时发送"):
        service.send_issue(db.session, app.config, 396, ["media"])
    # someone sends to media by hand after all (the schedule moved out of the way)
    db.session.execute(update(Send).where(Send.id == scheduled.id).values(status="cancelled"))
    db.session.commit()
    service.send_issue(db.session, app.config, 396, ["media"])
    db.session.execute(update(Send).where(Send.id == scheduled.id).values(status="scheduled"))
    db.session.commit()
    time.sleep(1.1)
    assert service.start_scheduled(
        db.session, PipelineSettings.from_config(app.config), scheduled.id
    )
    emails = set(db.session.scalars(select(Delivery.email).where(Delivery.send_id == scheduled.id)))
    assert emails == {a.lower() for a in READERS} - {"media@example.com"}


# --- the API and the CLI --------------------------------------------------------------------


def test_a_retried_api_request_with_the_same_key_makes_one_send(api, approved, smtp, run_jobs):
    client, headers = api("sender")
    body = {"issue": 396, "groups": ALL}
    keyed = {**headers, "Idempotency-Key": "order-7f3a"}
    first = client.post("/api/v1/sends", headers=keyed, json=body)
    retry = client.post("/api/v1/sends", headers=keyed, json=body)
    assert first.status_code == retry.status_code == 201
    assert first.get_json()["id"] == retry.get_json()["id"]
    assert (
        retry.headers["Idempotent-Replayed"] == "true"
        and "Idempotent-Replayed" not in first.headers
    )
    assert sends() == 1
    reused = client.post("/api/v1/sends", headers=keyed, json={"issue": 396, "groups": ["media"]})
    assert reused.status_code == 422
    assert reused.get_json()["error"]["code"] == "idempotency_key_reused"
    again = client.post("/api/v1/sends", headers={**headers, "Idempotency-Key": "new"}, json=body)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_received"
    assert "不能再发一次" in again.get_json()["error"]["message"]
    bad = client.post("/api/v1/sends", headers={**headers, "Idempotency-Key": "x" * 300}, json=body)
    assert bad.status_code == 400
    # another token's identical key is another request: refused as a re-send, not replayed
    other, other_headers = api("sender")
    elsewhere = other.post(
        "/api/v1/sends", json=body, headers={**other_headers, "Idempotency-Key": "order-7f3a"}
    )
    assert elsewhere.status_code == 409
    run_jobs()
    assert received(smtp) == {a.lower(): 1 for a in READERS}
    assert sends() == 1


def test_the_cli_refuses_a_re_send_and_does_the_follow_up(app, runner, approved, smtp, run_jobs):
    assert runner.invoke(args=["send", "396", "--group", "media"]).exit_code == 0
    again = runner.invoke(args=["send", "396", "--group", "media"])
    assert again.exit_code == 2 and "不能再发一次" in again.output
    none_left = runner.invoke(args=["send", "396", "--group", "media", "--only-new"])
    assert none_left.exit_code == 2 and "没有需要补发的人" in none_left.output
    add_readers({"new@example.org": ("新读者", ["media"])})
    follow = runner.invoke(args=["send", "396", "--group", "media", "--only-new"])
    assert follow.exit_code == 0, follow.output
    assert "1 deliveries" in follow.output and "1 who already have it left out" in follow.output
    run_jobs()
    assert received(smtp) == {"media@example.com": 1, "new@example.org": 1}


def test_a_scheduled_send_whose_rq_job_was_lost_is_started_by_the_sweep(
    app, approved, smtp, run_worker
):
    import datetime as dt
    import time

    from redis import Redis
    from rq.registry import ScheduledJobRegistry

    from newsletter.delivery import jobs
    from newsletter.delivery.models import SendStatus
    from newsletter.timeutil import utcnow
    from tests.delivery.support import all_final, wait_until

    send = service.send_issue(
        db.session, app.config, 396, ALL, scheduled_at=utcnow() + dt.timedelta(seconds=1)
    ).send
    redis = Redis.from_url(app.config["REDIS_URL"])
    lost = 0
    for name in jobs.queue_names(app.config):  # Redis lost the scheduled job
        registry = ScheduledJobRegistry(name, connection=redis)
        for job_id in registry.get_job_ids():
            registry.remove(job_id, delete_job=True)
            lost += 1
    assert lost == 1
    time.sleep(1.1)
    run_worker("--sweep-interval", "0.5", burst=False)
    wait_until(
        lambda: (
            all_final(send.id)
            and db.session.get(Send, send.id, populate_existing=True).status == SendStatus.DONE
        ),
        60,
        "the sweep to start and finish the scheduled send",
    )
    assert received(smtp) == {a.lower(): 1 for a in READERS}
