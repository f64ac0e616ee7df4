"""A sent test send with a known set of reader actions, done through the real endpoints,
the real bounce intake and the real flush; `ledger` is what the test did, kept apart from
anything the report code computes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.timeutil import utcnow
from newsletter.tracking import events
from newsletter.tracking.intake import ingest, record_unsubscribe
from newsletter.tracking.jobs import flush_job, redis_for
from newsletter.tracking.links import TrackingSettings, click_base_url, open_pixel_url
from subscribers.models import Group
from tests.tracking.conftest import sample, verp_for
from tests.tracking.factory import ARTICLE_1_URL, ARTICLE_2_URL, SentSend, make_send

BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 Version/17.2 Safari"


@dataclass
class Scenario:
    s: SentSend
    groups: dict[str, str]  # email -> group code
    priority: set[str]
    opens: dict[str, int] = field(default_factory=dict)  # human opens per email
    bot_opens: int = 0
    clicks: dict[str, list[int]] = field(default_factory=dict)  # human clicks: link numbers
    hard: set[str] = field(default_factory=set)
    soft: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    unsubscribed: set[str] = field(default_factory=set)
    complained: set[str] = field(default_factory=set)

    @property
    def emails(self) -> list[str]:
        return [d.email for d in self.s.deliveries]


@pytest.fixture
def scenario(app, client, sample_text) -> Scenario:
    codes = list(db.session.scalars(select(Group.code).order_by(Group.position)))
    emails = [f"r{i:02d}@example.com" for i in range(12)]
    groups = {e: codes[0] if i < 6 else codes[1] for i, e in enumerate(emails)}
    priority = {"r00@example.com", "r01@example.com"}
    start = utcnow() - dt.timedelta(hours=5)
    s = make_send(
        sample_text,
        emails,
        groups=groups,
        priority=priority,
        created_at=start,
        sent_at=start + dt.timedelta(minutes=2),
    )
    sc = Scenario(s, groups, priority)
    by_email = {d.email: d for d in s.deliveries}
    cfg = app.config

    def open_(email, ua=BROWSER):
        d = by_email[email]
        client.get(
            open_pixel_url(cfg, s.send.id, d.id).replace(cfg["BASE_URL"], ""),
            headers={"User-Agent": ua},
        )

    def click(email, url, ua=BROWSER):
        d = by_email[email]
        n = s.link_n(url)
        r = client.get(
            f"{click_base_url(cfg, s.send.id, d.id).replace(cfg['BASE_URL'], '')}/{n}",
            headers={"User-Agent": ua},
        )
        assert r.status_code == 302
        return n

    archive = f"{cfg['BASE_URL']}/archive/396"
    for email, times in (
        ("r00@example.com", 2),
        ("r01@example.com", 1),
        ("r02@example.com", 1),
        ("r03@example.com", 1),
    ):
        open_(email)
        for _ in range(times - 1):  # a later open (the endpoint counts one a minute)
            events.record(
                redis_for(app),
                TrackingSettings.from_config(cfg).events_key,
                events.OPEN,
                s.send.id,
                by_email[email].id,
            )
        sc.opens[email] = times
    open_("r04@example.com", ua="Mozilla/5.0")  # Apple MPP
    sc.bot_opens = 1
    for email, url in (
        ("r00@example.com", archive),
        ("r00@example.com", ARTICLE_1_URL),
        ("r01@example.com", ARTICLE_1_URL),
        ("r02@example.com", ARTICLE_2_URL),
    ):
        sc.clicks.setdefault(email, []).append(click(email, url))
    click("r05@example.com", ARTICLE_1_URL, ua="python-requests/2.31")  # a scanner
    assert flush_job()["written"] == 11

    settings = TrackingSettings.from_config(cfg)

    def report(name, email, **extra):
        d = by_email[email]
        raw = sample(
            name, verp=verp_for(cfg["SECRET_KEY"], d.id), email=email, msgid=d.message_id, **extra
        )
        return ingest(db.session, raw, settings)

    assert report("dsn-hard-multipart.eml", "r06@example.com").outcome == "hard"
    sc.hard.add("r06@example.com")
    assert report("dsn-soft-headers-only.eml", "r07@example.com").outcome == "soft"
    sc.soft.add("r07@example.com")
    assert report("arf-abuse.eml", "r10@example.com").outcome == "complaint"
    sc.complained.add("r10@example.com")
    failed = by_email["r08@example.com"]
    failed.state, failed.last_error = "failed", "550 5.7.1 rejected by policy"
    sc.failed.add("r08@example.com")
    record_unsubscribe(db.session, by_email["r09@example.com"].subscriber_id)
    sc.unsubscribed.add("r09@example.com")
    db.session.commit()
    return sc
