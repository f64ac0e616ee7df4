"""Test data for tracking and reports: a sent send of the sample issue, written directly.

The sample issue has no links of its own, so `linked_sample` adds markdown links to two
articles (one with a query string, to check &amp; handling) before importing it.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field

from sqlalchemy import select

from newsletter.bulletin.models import Issue
from newsletter.bulletin.service import import_issue
from newsletter.delivery.models import Delivery, DeliveryEvent, DeliveryState, Send, SendStatus
from newsletter.extensions import db
from newsletter.render import Edition, render_edition
from newsletter.timeutil import utcnow
from newsletter.tracking.links import rewrite_links, store_links
from subscribers.models import Group, Membership, Subscriber, SubscriberStatus

ARTICLE_1_URL = "https://www.news.cn/politics/2024-01/03/c_1130052156.htm"
ARTICLE_2_URL = "https://example.org/report?id=7&lang=zh"


def linked_sample(sample_text: bytes) -> bytes:
    text = sample_text.decode("utf-8")
    text = text.replace(
        "1 月 3 日，全国宣传部长会议在京召开。",
        f"1 月 3 日，全国宣传部长会议在京召开（[新华网]({ARTICLE_1_URL})）。",
        1,
    )
    text = text.replace(
        "1 月 5 日，国家网信办公开发布第三批境内深度合成服务算法备案信息。",
        f"1 月 5 日，国家网信办公开发布第三批境内深度合成服务算法备案信息"
        f"（[备案清单]({ARTICLE_2_URL})）。",
        1,
    )
    return text.encode("utf-8")


@dataclass
class SentSend:
    send: Send
    deliveries: list[Delivery]
    links: list[dict]
    htmls: dict[str, str] = field(default_factory=dict)

    def link_n(self, url: str) -> int:
        return next(row["n"] for row in self.links if row["url"] == url)


def issue_of(sample_text: bytes) -> Issue:
    issue = db.session.scalar(select(Issue).where(Issue.number == 396))
    if issue is None:
        issue, _ = import_issue(db.session, linked_sample(sample_text))
    return issue


def make_send(
    sample_text: bytes,
    emails: list[str],
    *,
    groups: dict[str, str] | None = None,
    opted_out: set[str] = frozenset(),
    priority: set[str] = frozenset(),
    sent_at: dt.datetime | None = None,
    created_at: dt.datetime | None = None,
    is_test: bool = False,
    base_url: str = "http://newsletter.test",
) -> SentSend:
    """A send whose deliveries are all `sent` (accepted) at `sent_at`, with its link table.

    `groups`: email -> group code the subscriber belongs to (default: the first group).
    """
    issue = issue_of(sample_text)
    created_at = created_at or utcnow() - dt.timedelta(hours=1)
    sent_at = sent_at or created_at + dt.timedelta(minutes=1)
    links: list[dict] = []
    htmls = {}
    for edition in Edition:
        rendered = render_edition(
            issue.to_doc(), edition, archive_url=f"{base_url}/archive/{issue.number}"
        )
        htmls[edition.value], links = rewrite_links(rendered.html, links)
    codes = list(db.session.scalars(select(Group.code).order_by(Group.position)))
    send = Send(
        issue_id=issue.id,
        group_codes=codes,
        is_test=is_test,
        status=SendStatus.DONE,
        created_at=created_at,
        started_at=created_at,
        finished_at=sent_at,
    )
    db.session.add(send)
    db.session.flush()
    store_links(db.session, send.id, links)
    deliveries = []
    for email in emails:
        sub = db.session.scalar(select(Subscriber).where(Subscriber.email == email))
        if sub is None:
            sub = Subscriber(
                email=email,
                name="读者",
                status=SubscriberStatus.ACTIVE,
                tracking_opt_out=email in opted_out,
                created_at=created_at,
                confirmed_at=created_at,
            )
            code = (groups or {}).get(email, codes[0])
            group = db.session.scalar(select(Group).where(Group.code == code))
            sub.memberships.append(Membership(group=group))
            db.session.add(sub)
            db.session.flush()
        d = Delivery(
            send_id=send.id,
            subscriber_id=sub.id,
            email=email,
            name="读者",
            edition=(Edition.PRIORITY if email in priority else Edition.REGULAR).value,
            state=DeliveryState.SENT,
            attempts=1,
            sent_at=sent_at,
            message_id=f"<{send.id}.{secrets.token_hex(6)}@news.example.org>",
            smtp_response="250 OK",
            created_at=created_at,
            updated_at=sent_at,
        )
        db.session.add(d)
        db.session.flush()
        db.session.add(
            DeliveryEvent(delivery_id=d.id, kind="sent", detail="250 OK", created_at=sent_at)
        )
        deliveries.append(d)
    db.session.commit()
    return SentSend(send, deliveries, links, htmls)


def events_of(delivery_id: int, kind: str | None = None) -> list[DeliveryEvent]:
    q = select(DeliveryEvent).where(DeliveryEvent.delivery_id == delivery_id)
    if kind:
        q = q.where(DeliveryEvent.kind == kind)
    return list(db.session.scalars(q.order_by(DeliveryEvent.id)))
