"""The reader's pages over HTTP: double opt-in, preference center, unsubscribe, fresh
links, CSRF and rate limits. Mail goes through the real queue (drained in process) and SMTP server."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from newsletter.delivery import audience
from newsletter.extensions import db
from subscribers.models import Subscriber, SubscriberStatus, Suppression, email_hash
from tests.subscribers.conftest import form_token, links_in, mail_text, parse_mail

FORM = {
    "email": "Reader@Example.org",
    "name": "张三",
    "organisation": "某某日报",
    "groups": ["media", "members"],
    "sections": ["要闻", "技术"],
}


def subscribe(client, **overrides):
    token = form_token(client.get("/subscribe").get_data(as_text=True))
    return client.post("/subscribe", data={"csrf_token": token, **FORM, **overrides})


def subscriber(address="reader@example.org") -> Subscriber | None:
    db.session.expire_all()
    return db.session.scalar(select(Subscriber).where(Subscriber.email == address))


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_subscribe_page_offers_only_self_service_groups(client):
    page = client.get("/subscribe").get_data(as_text=True)
    assert "媒体" in page and "高校" in page and "要闻" in page
    assert "协会领导" not in page and 'value="leadership"' not in page


def test_double_opt_in(client, smtp, run_jobs):
    response = subscribe(client)
    assert response.status_code == 302 and response.headers["Location"] == "/subscribe/sent"
    sub = subscriber()
    assert sub.status == SubscriberStatus.PENDING and sub.name == "张三"
    assert sorted(g.code for g in sub.groups) == ["media", "members"]
    assert sub.sections == ["要闻", "技术"] and sub.source == "form"
    assert list(audience.recipients(db.session, ["media"])) == []  # unconfirmed: no weekly

    run_jobs()
    assert [m.rcpt_tos for m in smtp.received] == [["reader@example.org"]]
    message = parse_mail(smtp.received[0].data)
    assert message["Subject"] == "请确认订阅《行业动态周报》"
    (confirm_path,) = links_in(mail_text(smtp.received[0].data))
    assert confirm_path.startswith("/confirm/")

    page = client.get(confirm_path)  # what a link scanner does: nothing is confirmed
    assert page.status_code == 200 and subscriber().status == SubscriberStatus.PENDING
    done = client.post(confirm_path, data={"csrf_token": form_token(page.get_data(as_text=True))})
    assert done.status_code == 200 and "订阅成功" in done.get_data(as_text=True)
    sub = subscriber()
    assert sub.status == SubscriberStatus.ACTIVE and sub.confirmed_at is not None
    assert [r.email for r in audience.recipients(db.session, ["media"])] == ["reader@example.org"]
    again = client.get(confirm_path).get_data(as_text=True)
    assert "您已经订阅" in again


def test_subscribing_again_does_not_reveal_or_change_an_existing_address(
    client, smtp, run_jobs, make_subscriber
):
    make_subscriber("known@example.org", name="原名", groups=("research",))
    known = subscribe(client, email="known@example.org", name="冒名", groups=["media"])
    unknown = subscribe(client, email="fresh@example.org")
    assert (known.status_code, known.headers["Location"]) == (
        unknown.status_code,
        unknown.headers["Location"],
    )
    assert (
        client.get(known.headers["Location"]).get_data()
        == client.get(unknown.headers["Location"]).get_data()
    )
    sub = subscriber("known@example.org")
    assert sub.name == "原名" and [g.code for g in sub.groups] == ["research"]
    run_jobs()
    mails = {m.rcpt_tos[0]: m.data for m in smtp.received}
    assert parse_mail(mails["known@example.org"])["Subject"] == "您已订阅《行业动态周报》"
    paths = links_in(mail_text(mails["known@example.org"]))
    assert any(p.startswith("/preferences/") for p in paths)
    assert parse_mail(mails["fresh@example.org"])["Subject"] == "请确认订阅《行业动态周报》"


@pytest.mark.parametrize("address", ["not-an-email", "a@b", "张三@example", "a b@example.org"])
def test_an_invalid_address_gets_a_clear_message_and_nothing_is_written(client, address):
    response = subscribe(client, email=address)
    assert response.status_code == 400
    assert "不是有效的邮箱地址" in response.get_data(as_text=True)
    assert count(Subscriber) == 0


def test_the_staff_assigned_group_cannot_be_chosen(client):
    response = subscribe(client, groups=["leadership"])
    assert response.status_code == 400 and "无法选择" in response.get_data(as_text=True)
    assert count(Subscriber) == 0


def test_a_form_without_its_csrf_token_is_refused(client, make_subscriber, link):
    response = client.post("/subscribe", data=FORM)
    assert response.status_code == 400 and "表单已过期" in response.get_data(as_text=True)
    assert count(Subscriber) == 0
    sub = make_subscriber(groups=("media", "tech"))
    prefs = client.post(
        link("preferences", sub.id), data={"name": "改名", "groups": ["tech"], "sections": ["要闻"]}
    )
    assert prefs.status_code == 400 and subscriber().name == ""
    # The unsubscribe page's own form (keep some groups) needs its token too.
    bad = client.post(link("unsubscribe", sub.id), data={"csrf_token": "forged", "keep": ["tech"]})
    assert bad.status_code == 400
    assert subscriber().status == SubscriberStatus.ACTIVE and len(subscriber().groups) == 2


def test_rate_limit_per_ip_and_per_address(app, client):
    app.config["SUBSCRIBE_RATE_PER_IP"] = "3/hour"
    app.config["SUBSCRIBE_RATE_PER_ADDRESS"] = "2/hour"
    statuses = [subscribe(client, email=f"r{i}@example.org").status_code for i in range(4)]
    assert statuses == [302, 302, 302, 429]
    limited = subscribe(client, email="r9@example.org")
    assert (
        "请求过于频繁" in limited.get_data(as_text=True) and int(limited.headers["Retry-After"]) > 0
    )
    assert subscriber("r9@example.org") is None
    # Per address, whatever the IP: a mailbox cannot be flooded with confirmations.
    results = []
    for n in range(3):
        token = form_token(client.get("/subscribe").get_data(as_text=True))
        results.append(
            client.post(
                "/subscribe",
                data={"csrf_token": token, **FORM, "email": "victim@example.org"},
                environ_base={"REMOTE_ADDR": f"203.0.113.{n + 1}"},
            ).status_code
        )
    assert results == [302, 302, 429]


def test_preference_center_stores_every_choice(client, make_subscriber, link):
    sub = make_subscriber(groups=("media", "leadership"), name="旧名")
    path = link("preferences", sub.id)
    page = client.get(path).get_data(as_text=True)
    assert "旧名" in page and "协会领导" in page  # the staff-assigned group is shown, read-only
    assert 'value="leadership"' not in page
    response = client.post(
        path,
        data={
            "csrf_token": form_token(page),
            "name": "新名",
            "organisation": "新单位",
            "groups": ["tech", "research"],
            "sections": ["要闻", "技术"],
            "format": "text",
            "locale": "en",
            "pause": "2",
            "tracking_opt_out": "y",
        },
    )
    assert response.status_code == 302 and response.headers["Location"].endswith("saved=1")
    sub = subscriber()
    assert (sub.name, sub.organisation, sub.format, sub.locale) == ("新名", "新单位", "text", "en")
    assert sorted(g.code for g in sub.groups) == ["leadership", "research", "tech"]
    assert sub.sections == ["要闻", "技术"] and sub.tracking_opt_out is True
    assert sub.paused_until is not None and sub.status == SubscriberStatus.ACTIVE
    assert list(audience.recipients(db.session, ["tech"])) == []  # paused: skipped by the send
    # The page now speaks the reader's language; resuming clears the pause;
    # ticking every section stores None (later sections come too).
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Saved." in page or "已保存" in page
    every = ["要闻", "行业", "内容", "技术", "资本", "人事", "研究"]
    client.post(
        path,
        data={
            "csrf_token": form_token(page),
            "name": "新名",
            "groups": ["tech"],
            "sections": every,
            "format": "html",
            "locale": "zh_CN",
            "pause": "0",
        },
    )
    sub = subscriber()
    assert sub.sections is None and sub.paused_until is None and sub.locale == "zh_CN"


def test_preference_section_choices_follow_the_latest_issue(
    client, make_subscriber, link, sample_text
):
    from newsletter.bulletin.models import IssueStatus
    from newsletter.bulletin.service import import_issue

    text = sample_text.decode("utf-8").replace("研究", "观察")
    issue, _created = import_issue(db.session, text.encode())
    issue.status = IssueStatus.SENT  # only sent issues' sections are offered
    db.session.commit()
    sub = make_subscriber(sections=["研究"])  # an old pick stays visible
    page = client.get(link("preferences", sub.id)).get_data(as_text=True)
    assert 'value="观察"' in page and 'value="研究"' in page


@pytest.mark.parametrize(
    "change, message",
    [
        ({"sections": []}, "请至少选择一个栏目"),
        ({"groups": []}, "请至少选择一个分组"),
        ({"name": "换行\r\nBcc: x@example.org"}, "控制字符"),
        ({"groups": ["leadership"]}, "无法选择"),
        ({"format": "pdf"}, "不是有效的选择"),
    ],
)
def test_a_bad_preference_submission_writes_nothing(client, make_subscriber, link, change, message):
    sub = make_subscriber(groups=("media",), name="原名")
    path = link("preferences", sub.id)
    data = {
        "csrf_token": form_token(client.get(path).get_data(as_text=True)),
        "name": "新名",
        "groups": ["media"],
        "sections": ["要闻"],
        "format": "html",
        "locale": "zh_CN",
        "pause": "keep",
        **change,
    }
    response = client.post(path, data=data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    sub = subscriber()
    assert sub.name == "原名" and sub.sections is None and [g.code for g in sub.groups] == ["media"]


def test_one_click_unsubscribe_is_a_post_without_csrf_and_idempotent(client, make_subscriber, link):
    sub = make_subscriber(groups=("media",))
    path = link("unsubscribe", sub.id)
    for _ in range(2):
        response = client.post(
            path,
            data={"List-Unsubscribe": "One-Click"},
            content_type="application/x-www-form-urlencoded",
        )
        assert response.status_code == 200
    sub = subscriber()
    assert sub.status == SubscriberStatus.UNSUBSCRIBED and sub.unsubscribed_at is not None
    rows = db.session.scalars(select(Suppression)).all()
    assert [(r.email_hash, r.reason) for r in rows] == [(email_hash(sub.email), "unsubscribed")]
    assert list(audience.recipients(db.session, ["media"])) == []
    page = client.get(path).get_data(as_text=True)
    assert "已退订" in page


def test_unsubscribing_is_recorded_once_against_the_last_mail(
    client, make_subscriber, link, sample_text
):
    from newsletter.bulletin.service import import_issue
    from newsletter.delivery.models import Delivery, DeliveryEvent, DeliveryState, Send
    from newsletter.timeutil import utcnow

    issue, _ = import_issue(db.session, sample_text)
    sub = make_subscriber(groups=("media",))
    send = Send(issue_id=issue.id, group_codes=["media"])
    db.session.add(send)
    db.session.flush()
    delivery = Delivery(
        send_id=send.id,
        subscriber_id=sub.id,
        email=sub.email,
        edition="regular",
        state=DeliveryState.SENT,
        sent_at=utcnow(),
    )
    db.session.add(delivery)
    db.session.commit()
    for _ in range(3):
        client.post(link("unsubscribe", sub.id), data={"List-Unsubscribe": "One-Click"})
    kinds = db.session.scalars(
        select(DeliveryEvent.kind).where(DeliveryEvent.delivery_id == delivery.id)
    ).all()
    assert kinds == ["unsubscribed"]


def test_unsubscribe_page_confirms_and_can_keep_some_groups(client, make_subscriber, link):
    sub = make_subscriber(groups=("media", "tech", "members"))
    path = link("unsubscribe", sub.id)
    page = client.get(path).get_data(as_text=True)
    assert subscriber().status == SubscriberStatus.ACTIVE  # a GET changes nothing
    assert 'value="tech"' in page
    kept = client.post(path, data={"csrf_token": form_token(page), "keep": ["tech"]})
    assert kept.status_code == 200 and "只保留" in kept.get_data(as_text=True)
    sub = subscriber()
    assert sub.status == SubscriberStatus.ACTIVE and [g.code for g in sub.groups] == ["tech"]
    everything = client.post(path, data={"csrf_token": form_token(page)})
    assert everything.status_code == 200 and subscriber().status == SubscriberStatus.UNSUBSCRIBED


def test_resubscribing_after_unsubscribing_needs_a_new_confirmation(
    client, smtp, run_jobs, make_subscriber, link
):
    sub = make_subscriber("back@example.org", groups=("media",))
    client.post(link("unsubscribe", sub.id), data={"List-Unsubscribe": "One-Click"})
    assert subscribe(client, email="back@example.org").status_code == 302
    sub = subscriber("back@example.org")
    # Nothing changes until the mailbox owner confirms (a stranger may have typed it).
    assert sub.status == SubscriberStatus.UNSUBSCRIBED and count(Suppression) == 1
    run_jobs()
    (path,) = links_in(mail_text(smtp.received[0].data))
    page = client.get(path).get_data(as_text=True)
    client.post(path, data={"csrf_token": form_token(page)})
    assert subscriber("back@example.org").status == SubscriberStatus.ACTIVE
    assert count(Suppression) == 0  # a confirmed opt-in is fresh consent


def test_fresh_link_request(client, smtp, run_jobs, make_subscriber):
    make_subscriber("active@example.org")
    make_subscriber("pending@example.org", status=SubscriberStatus.PENDING)
    make_subscriber("gone@example.org", status=SubscriberStatus.UNSUBSCRIBED)
    pages = []
    for address in (
        "active@example.org",
        "pending@example.org",
        "gone@example.org",
        "nobody@example.org",
    ):
        token = form_token(client.get("/link").get_data(as_text=True))
        response = client.post("/link", data={"csrf_token": token, "email": address})
        assert response.status_code == 200
        pages.append(response.get_data(as_text=True).replace(token, ""))
    assert len(set(pages)) == 1  # the same answer whoever asks
    run_jobs()
    mails = {m.rcpt_tos[0]: m.data for m in smtp.received}
    assert sorted(mails) == ["active@example.org", "pending@example.org"]
    paths = links_in(mail_text(mails["active@example.org"]))
    prefs = next(p for p in paths if p.startswith("/preferences/"))
    assert client.get(prefs).status_code == 200
    assert links_in(mail_text(mails["pending@example.org"]))[0].startswith("/confirm/")


def test_without_redis_the_form_says_so_and_writes_nothing(app, client):
    page = client.get("/subscribe").get_data(as_text=True)
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    response = client.post("/subscribe", data={"csrf_token": form_token(page), **FORM})
    assert response.status_code == 503 and "服务暂时不可用" in response.get_data(as_text=True)
    assert count(Subscriber) == 0
