"""Pixel and click endpoints against the real Redis, flushed into the real database."""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import func, select

from newsletter.delivery.models import DeliveryEvent
from newsletter.extensions import db
from newsletter.timeutil import utcnow
from newsletter.tracking import events
from newsletter.tracking.jobs import flush_job
from newsletter.tracking.links import TrackingSettings, click_base_url, open_pixel_url
from newsletter.tracking.models import TrackedEvent
from tests.tracking.factory import ARTICLE_1_URL, ARTICLE_2_URL, events_of, make_send

BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Safari/537.36"
)


def _path(url: str) -> str:
    return url.replace("http://newsletter.test", "")


def _sent(minutes_ago: float = 10):
    return utcnow() - dt.timedelta(minutes=minutes_ago)


def test_pixel_and_click_record_events_that_the_flush_writes(app, client, sample_text):
    s = make_send(sample_text, ["a@example.com", "b@example.com"], sent_at=_sent())
    a, b = s.deliveries
    pixel = _path(open_pixel_url(app.config, s.send.id, a.id))
    r = client.get(pixel, headers={"User-Agent": BROWSER})
    assert r.status_code == 200 and r.mimetype == "image/gif" and r.data.startswith(b"GIF89a")
    assert "no-store" in r.headers["Cache-Control"]
    client.get(pixel, headers={"User-Agent": BROWSER})  # a second open within the minute
    n = s.link_n(ARTICLE_1_URL)
    r = client.get(
        f"{_path(click_base_url(app.config, s.send.id, a.id))}/{n}", headers={"User-Agent": BROWSER}
    )
    assert r.status_code == 302 and r.headers["Location"] == ARTICLE_1_URL
    r = client.get(
        f"{_path(click_base_url(app.config, s.send.id, b.id))}/{s.link_n(ARTICLE_2_URL)}",
        headers={"User-Agent": BROWSER},
    )
    assert r.headers["Location"] == ARTICLE_2_URL  # &amp; in the HTML, & in the redirect

    assert events_of(a.id, "opened") == []  # nothing written before the flush
    result = flush_job()
    assert result["written"] == 3 and result["dropped"] == 0
    opens = events_of(a.id, "opened")  # one counted open per delivery per minute
    assert len(opens) == 1 and all(e.detail == "" for e in opens)
    [click] = events_of(a.id, "clicked")
    assert click.detail == f"link={n}"
    te = db.session.scalar(select(TrackedEvent).where(TrackedEvent.event_id == click.id))
    assert te.link_n == n and te.bot == "" and te.send_id == s.send.id
    assert flush_job()["read"] == 0  # drained


def test_tampered_or_unknown_links_are_refused_and_record_nothing(app, client, sample_text):
    s = make_send(sample_text, ["a@example.com"], sent_at=_sent())
    d = s.deliveries[0]
    base = _path(click_base_url(app.config, s.send.id, d.id))
    token = base.rsplit("/", 1)[1]
    send_part, delivery_part, sig = token.split(".")
    other = "A" if sig[0] != "A" else "B"
    bad_paths = [
        f"/t/c/{send_part}.{int(delivery_part) + 1}.{sig}/1",  # another delivery
        f"/t/c/{send_part}.{delivery_part}.{other}{sig[1:]}/1",  # altered signature
        f"/t/c/{token}/99",  # no such link
        f"/t/c/{token}/0",
        "/t/c/garbage/1",
        "/t/c/1.1.AAAAAAAAAAAAAAAA/1",
        f"/t/r/{send_part}.{sig}/1",  # delivery sig as send sig
    ]
    for path in bad_paths:
        r = client.get(path)
        assert r.status_code == 404, path
        assert "Location" not in r.headers
        assert "链接无效" in r.get_data(as_text=True)
    # there is no way to name a target: a url parameter is simply ignored
    r = client.get(f"{base}/1?url=https://evil.example/", headers={"User-Agent": BROWSER})
    assert r.headers["Location"] == "http://newsletter.test/archive/396"
    for path in (
        f"/t/o/{send_part}.{int(delivery_part) + 1}.{sig}.gif",
        "/t/o/x.gif",
        "/t/o/%00.gif",
    ):
        r = client.get(path)
        assert r.status_code == 404 and r.mimetype == "image/gif"
    result = flush_job()
    assert result["written"] == 1  # only the genuine click above
    assert len(events_of(d.id)) == 2  # sent + that click


def test_prefetchers_scanners_and_head_requests_are_flagged_not_readers(app, client, sample_text):
    s = make_send(sample_text, ["a@example.com"], sent_at=_sent())
    d = s.deliveries[0]
    pixel = _path(open_pixel_url(app.config, s.send.id, d.id))
    click = f"{_path(click_base_url(app.config, s.send.id, d.id))}/1"
    client.get(pixel, headers={"User-Agent": "Mozilla/5.0"})  # Apple MPP
    client.get(pixel, headers={"User-Agent": BROWSER}, environ_base={"REMOTE_ADDR": "17.58.1.9"})
    client.get(pixel, headers={"User-Agent": ""})
    client.head(click, headers={"User-Agent": BROWSER})
    client.get(click, headers={"User-Agent": "Mozilla/5.0 (compatible; BarracudaCentral)"})
    client.get(click, headers={"User-Agent": "python-requests/2.31"})
    client.get(pixel, headers={"User-Agent": BROWSER + " (via ggpht.com GoogleImageProxy)"})
    flush_job()
    flags = [(e.kind, e.detail) for e in events_of(d.id) if e.kind != "sent"]
    # Robots' events have their own counting window (one open a minute, one click per link
    # a second), so the prefetch does not hide the reader's own open that follows.
    assert flags == [
        ("opened", "bot=apple-mpp"),
        ("clicked", "link=1; bot=head"),
        ("opened", ""),  # Gmail's proxy is the reader
    ]
    kinds = [e.kind for e in events_of(d.id) if e.kind != "sent"]
    assert kinds.count("opened") == 2


def test_a_click_within_seconds_of_delivery_is_a_scanner(app, client, sample_text):
    s = make_send(sample_text, ["a@example.com"], sent_at=utcnow())
    d = s.deliveries[0]
    client.get(
        f"{_path(click_base_url(app.config, s.send.id, d.id))}/1", headers={"User-Agent": BROWSER}
    )
    flush_job()
    [click] = events_of(d.id, "clicked")
    assert click.detail == "link=1; bot=fast-click"


def test_global_switch_off_records_nothing_but_still_serves(app, client, sample_text):
    s = make_send(sample_text, ["a@example.com"], sent_at=_sent())
    d = s.deliveries[0]
    pixel = _path(open_pixel_url(app.config, s.send.id, d.id))
    click = f"{_path(click_base_url(app.config, s.send.id, d.id))}/1"
    app.config["TRACKING_ENABLED"] = False
    app.extensions.pop("tracking_settings", None)
    assert client.get(pixel, headers={"User-Agent": BROWSER}).status_code == 200
    assert client.get(click, headers={"User-Agent": BROWSER}).status_code == 302
    assert flush_job()["read"] == 0
    assert events_of(d.id, "opened") == [] and events_of(d.id, "clicked") == []
    assert open_pixel_url(app.config, s.send.id, d.id) == ""


def test_opted_out_reader_gets_an_anonymous_redirect_and_late_opt_out_is_dropped(
    app, client, sample_text
):
    s = make_send(
        sample_text,
        ["a@example.com", "b@example.com"],
        opted_out={"a@example.com"},
        sent_at=_sent(),
    )
    a, b = s.deliveries
    anon = click_base_url(app.config, s.send.id, a.id, tracked=False)
    token = anon.split("/t/r/")[1]
    assert token.split(".")[0] == str(s.send.id) and len(token.split(".")) == 2  # no reader id
    r = client.get(f"{_path(anon)}/1", headers={"User-Agent": BROWSER})
    assert r.status_code == 302 and r.headers["Location"].endswith("/archive/396")
    # an old tracked link of the opted-out reader (mailed before they opted out)
    client.get(_path(open_pixel_url(app.config, s.send.id, a.id)), headers={"User-Agent": BROWSER})
    client.get(_path(open_pixel_url(app.config, s.send.id, b.id)), headers={"User-Agent": BROWSER})
    result = flush_job()
    assert result["written"] == 1 and result["dropped"] == 1
    assert events_of(a.id, "opened") == [] and len(events_of(b.id, "opened")) == 1


def test_a_killed_flush_loses_nothing_and_counts_nothing_twice(app, client, redis, sample_text):
    s = make_send(sample_text, ["a@example.com"], sent_at=_sent())
    d = s.deliveries[0]
    settings = TrackingSettings.from_config(app.config)
    for _ in range(7):  # seven entries in the stream (the endpoints would keep one a minute)
        events.record(redis, settings.events_key, events.OPEN, s.send.id, d.id)
    events._ensure_group(redis, settings.events_key)
    # 1) a flush that read 3 entries and died before writing: they stay pending
    taken = events._read(redis, settings.events_key, ">", 3)
    assert len(taken) == 3
    # 2) a flush that read 2 more, committed them, and died before acknowledging
    taken = events._read(redis, settings.events_key, ">", 2)
    events._write(db.session, settings, taken)
    assert len(events_of(d.id, "opened")) == 2
    # the next flush resumes: pending first, then the rest; the committed two are skipped
    result = events.flush(db.session, redis, settings, batch=4)
    assert result.read == 7 and result.written == 5 and result.duplicates == 2
    assert len(events_of(d.id, "opened")) == 7
    assert events.pending_count(redis, settings) == 0
    assert redis.xpending(settings.events_key, events.GROUP)["pending"] == 0


def test_malformed_stream_entries_are_dropped_not_fatal(app, redis, sample_text):
    s = make_send(sample_text, ["a@example.com"], sent_at=_sent())
    settings = TrackingSettings.from_config(app.config)
    redis.xadd(settings.events_key, {"i": "zz", "k": "o"})
    redis.xadd(settings.events_key, {"i": "ab" * 12, "k": "x", "s": 1, "d": 1, "t": "1"})
    redis.xadd(
        settings.events_key, {"i": "cd" * 12, "k": "o", "s": s.send.id, "d": 10**9, "t": "1e30"}
    )
    events.record(redis, settings.events_key, events.OPEN, s.send.id, s.deliveries[0].id)
    result = events.flush(db.session, redis, settings)
    assert result.read == 4 and result.written == 1 and result.dropped == 3
    assert (
        db.session.scalar(
            select(func.count()).select_from(DeliveryEvent).where(DeliveryEvent.kind == "opened")
        )
        == 1
    )


def test_2000_forged_events_for_one_token_leave_bounded_rows(app, client, redis, sample_text):
    """A valid token replayed 2,000 times (pixel and one link, a robot too): one open per
    delivery per minute and one click per link per second reach the database."""
    s = make_send(sample_text, ["a@example.com", "b@example.com"], sent_at=_sent())
    a, b = s.deliveries
    pixel = _path(open_pixel_url(app.config, s.send.id, a.id))
    click = f"{_path(click_base_url(app.config, s.send.id, a.id))}/{s.link_n(ARTICLE_1_URL)}"
    t0 = time.monotonic()
    for _i in range(1000):
        assert client.get(pixel, headers={"User-Agent": BROWSER}).status_code == 200
        assert client.get(click, headers={"User-Agent": BROWSER}).status_code == 302
    seconds = time.monotonic() - t0
    client.get(
        _path(open_pixel_url(app.config, s.send.id, b.id)), headers={"User-Agent": BROWSER}
    )  # another reader is not held back
    result = flush_job()
    assert redis.xlen(TrackingSettings.from_config(app.config).events_key) == 0
    assert len(events_of(a.id, "opened")) == 1
    clicks = len(events_of(a.id, "clicked"))
    assert 1 <= clicks <= int(seconds) + 2  # one per link per second at most
    assert len(events_of(b.id, "opened")) == 1
    assert result["written"] == 2 + clicks
