"""Sending services' events (DirectMail-style JSON, SendCloud-style form) through the signed
webhooks into the bounce intake: the same classification, suppression and idempotence."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from sqlalchemy import func, select

from newsletter.delivery.models import Delivery, DeliveryEvent, DeliveryState
from newsletter.extensions import db
from subscribers.models import Subscriber, SubscriberStatus, Suppression, email_hash
from tests.tracking.conftest import verp_for
from tests.tracking.factory import make_send

DM_SECRET, SC_KEY = "dm-secret", "sc-app-key"


@pytest.fixture
def hooks(app):
    app.config.update(DIRECTMAIL_WEBHOOK_SECRET=DM_SECRET, SENDCLOUD_WEBHOOK_KEY=SC_KEY)
    return app


def _suppressed(email):
    return db.session.scalar(select(Suppression).where(Suppression.email_hash == email_hash(email)))


def _dm_event(event_id, kind, rcpt, **data):
    return {
        "id": event_id,
        "source": "acs:dm",
        "specversion": "1.0",
        "type": kind,
        "data": {"rcpt": rcpt, "event": kind, "env_id": "600001", **data},
    }


def _post_dm(client, payload, secret=DM_SECRET):
    body = json.dumps(payload).encode()
    sig = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post(
        "/webhooks/directmail",
        data=body,
        content_type="application/json",
        headers={"X-Webhook-Signature": f"sha256={sig}"},
    )


def _sc_form(event, rcpt, key=SC_KEY, timestamp=None, **extra):
    timestamp = str(timestamp or int(time.time() * 1000))
    token = "t" * 50
    sig = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {
        "event": event,
        "recipient": rcpt,
        "emailId": f"1700000000_{rcpt}",
        "timestamp": timestamp,
        "token": token,
        "signature": sig,
        **extra,
    }


def test_directmail_events_bounce_complain_and_unsubscribe(hooks, client, sample_text):
    sent = make_send(
        sample_text,
        ["gone@aliyun.com", "full@qq.com", "angry@163.com", "leaving@126.com", "fine@sina.com"],
    )
    d = {x.email: x for x in sent.deliveries}
    verp = verp_for(hooks.config["SECRET_KEY"], d["gone@aliyun.com"].id)
    payload = [
        # Our header echoed back names the delivery; "dosn't exist" is DirectMail's spelling.
        _dm_event(
            "e1",
            "dm:Deliver:Fail",
            "gone@aliyun.com",
            err_code="554",
            err_msg="554 RCPT gone@aliyun.com dosn't exist",
            failed_type="SmtpNxBox",
            header={"X-Notify-Message-ID": verp},
        ),
        _dm_event(
            "e2",
            "dm:Deliver:Fail",
            "full@qq.com",
            err_code="552",
            err_msg="552 5.2.2 mailbox full",
            failed_type="SmtpReject",
        ),
        _dm_event("e3", "dm:Feedback:FblReport", "angry@163.com"),
        _dm_event("e4", "dm:Feedback:UnSubscribe", "leaving@126.com"),
        _dm_event("e5", "dm:Deliver:Succeed", "fine@sina.com"),
    ]
    response = _post_dm(client, payload)
    assert response.status_code == 200, response.get_json()
    outcomes = [r["outcome"] for r in response.get_json()["results"]]
    assert outcomes == ["hard", "soft", "complaint", "unsubscribed", "ignored"]
    db.session.expire_all()
    assert db.session.get(Delivery, d["gone@aliyun.com"].id).state == DeliveryState.BOUNCED
    assert _suppressed("gone@aliyun.com").reason == "bounced"
    assert _suppressed("full@qq.com") is None
    assert _suppressed("angry@163.com").reason == "complained"
    leaving = db.session.scalar(select(Subscriber).where(Subscriber.email == "leaving@126.com"))
    assert leaving.status == SubscriberStatus.UNSUBSCRIBED
    # The provider retries the same delivery of events: nothing counts twice.
    events = db.session.scalar(select(func.count(DeliveryEvent.id)))
    again = [r["outcome"] for r in _post_dm(client, payload).get_json()["results"]]
    assert again == ["duplicate", "duplicate", "duplicate", "unsubscribed", "ignored"]
    assert db.session.scalar(select(func.count(DeliveryEvent.id))) == events


def test_sendcloud_events_through_the_same_intake(hooks, client, sample_text):
    sent = make_send(sample_text, ["gone@sohu.com", "spam@qq.com", "busy@163.com"])
    d = {x.email: x for x in sent.deliveries}
    r = client.post(
        "/webhooks/sendcloud",
        data=_sc_form(
            "invalid",
            "gone@sohu.com",
            subStat="401",
            subStatDesc="收件人地址不存在",
            userHeaders=json.dumps({"SC-Custom-Ref": d["gone@sohu.com"].message_id}),
        ),
    )
    assert r.status_code == 200 and r.get_json()["outcome"] == "hard"
    assert r.get_json()["delivery_id"] == d["gone@sohu.com"].id
    r = client.post(
        "/webhooks/sendcloud",
        data=_sc_form(
            "soft_bounce", "busy@163.com", subStatDesc="451 DT:SPM 4.7.1 try again later"
        ),
    )
    assert r.get_json()["outcome"] == "soft"
    r = client.post("/webhooks/sendcloud", data=_sc_form("report_spam", "spam@qq.com"))
    assert r.get_json()["outcome"] == "complaint"
    assert _suppressed("gone@sohu.com") and _suppressed("spam@qq.com")
    assert not _suppressed("busy@163.com")


@pytest.mark.parametrize(
    ("form", "status", "message"),
    [
        (lambda: _sc_form("invalid", "a@b.cn", key="wrong"), 403, "signature"),
        (
            lambda: _sc_form("invalid", "a@b.cn", timestamp=int(time.time() - 7200) * 1000),
            403,
            "too old",
        ),
        (lambda: _sc_form("bogus", "a@b.cn"), 400, "unknown event"),
        (lambda: _sc_form("invalid", "not-an-address"), 400, "recipient"),
        (lambda: {"event": "invalid"}, 403, "signature"),
    ],
)
def test_sendcloud_refuses_what_it_cannot_trust_or_read(hooks, client, form, status, message):
    r = client.post("/webhooks/sendcloud", data=form())
    assert r.status_code == status and message in r.get_json()["error"]


def test_directmail_refuses_forged_and_malformed_bodies(hooks, client):
    event = _dm_event("e1", "dm:Deliver:Fail", "a@b.cn", err_code="554")
    assert _post_dm(client, event, secret="forged").status_code == 403
    r = client.post(
        "/webhooks/directmail",
        data=b"{",
        content_type="application/json",
        headers={
            "X-Webhook-Signature": "sha256="
            + hmac.new(DM_SECRET.encode(), b"{", hashlib.sha256).hexdigest()
        },
    )
    assert r.status_code == 400 and "not JSON" in r.get_json()["error"]
    assert _post_dm(client, {"id": "x", "type": "dm:Deliver:Fail"}).status_code == 400
    unknown = _post_dm(client, _dm_event("e9", "dm:Something", "a@b.cn"))
    assert unknown.status_code == 400 and "unknown type" in unknown.get_json()["error"]
    # Unconfigured: 404, whatever is sent.
    hooks.config["DIRECTMAIL_WEBHOOK_SECRET"] = ""
    assert _post_dm(client, event).status_code == 404


def test_an_event_for_nobody_we_mailed_is_dropped(hooks, client):
    r = client.post("/webhooks/sendcloud", data=_sc_form("invalid", "stranger@qq.com"))
    assert r.status_code == 200 and r.get_json()["outcome"] == "dropped"
