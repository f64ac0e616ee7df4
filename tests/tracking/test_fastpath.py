"""The tracking fast path (a WSGI middleware before Flask) answers as the Flask views do
and records the same events; what it cannot answer goes to Flask unchanged."""

from __future__ import annotations

import datetime as dt

from werkzeug.test import Client

from newsletter.timeutil import utcnow
from newsletter.tracking.fastpath import TrackingFastPath
from newsletter.tracking.jobs import flush_job
from newsletter.tracking.links import click_base_url, open_pixel_url
from tests.tracking.factory import ARTICLE_1_URL, events_of, make_send

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
SAME = (
    "Cache-Control",
    "Pragma",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Permissions-Policy",
    "Cross-Origin-Opener-Policy",
    "Location",
)


def _path(url: str) -> str:
    return url.replace("http://newsletter.test", "")


def _both(app):
    assert isinstance(app.wsgi_app, TrackingFastPath)
    return Client(app.wsgi_app), Client(app.wsgi_app.wsgi_app)  # fast path, Flask alone


def test_fast_answers_equal_flask_answers_and_record_the_same(app, sample_text):
    s = make_send(
        sample_text, ["a@example.com", "b@example.com"], sent_at=utcnow() - dt.timedelta(minutes=10)
    )
    a, b = s.deliveries
    fast, flask = _both(app)
    n = s.link_n(ARTICLE_1_URL)
    token = open_pixel_url(app.config, s.send.id, a.id).rsplit("/", 1)[1][:-4]
    # Two forgeries of a's token: its last character changed to two others (a fixed "A" and
    # "B" were the genuine token itself once in 32 runs, and the two answers then differed).
    x, y = [c for c in "ABC" if c != token[-1]][:2]
    cases = [
        (
            _path(open_pixel_url(app.config, s.send.id, a.id)),
            _path(open_pixel_url(app.config, s.send.id, b.id)),
        ),
        (f"/t/o/{token[:-1]}{x}.gif", f"/t/o/{token[:-1]}{y}.gif"),  # forged: 404 GIF
        (
            f"{_path(click_base_url(app.config, s.send.id, a.id))}/{n}",
            f"{_path(click_base_url(app.config, s.send.id, b.id))}/{n}",
        ),
    ]
    flask.get(cases[2][1], headers={"User-Agent": BROWSER})  # warms this process's link cache
    for fast_path, flask_path in cases:
        rf = fast.get(fast_path, headers={"User-Agent": BROWSER})
        rs = flask.get(flask_path, headers={"User-Agent": BROWSER})
        assert rf.status_code == rs.status_code, fast_path
        for name in SAME:
            assert rf.headers.get(name) == rs.headers.get(name), (fast_path, name)
        if rs.mimetype == "image/gif":
            assert rf.data == rs.data and rf.mimetype == "image/gif"
            assert rf.headers["Content-Security-Policy"] == rs.headers["Content-Security-Policy"]
    assert rf.headers["Referrer-Policy"] == "no-referrer" == rs.headers["Referrer-Policy"]
    # Apple's proxy network is classified on the fast path too.
    fast.get(cases[0][0], headers={"User-Agent": BROWSER}, environ_base={"REMOTE_ADDR": "17.1.2.3"})
    flush_job()
    seen = {
        d.id: sorted((e.kind, e.detail) for e in events_of(d.id) if e.kind != "sent")
        for d in (a, b)
    }
    assert seen[b.id] == [("clicked", f"link={n}"), ("opened", "")]  # through Flask
    assert seen[a.id] == [("clicked", f"link={n}"), ("opened", ""), ("opened", "bot=apple-mpp")]


def test_what_the_fast_path_cannot_answer_goes_to_flask(app, sample_text):
    s = make_send(sample_text, ["a@example.com"], sent_at=utcnow() - dt.timedelta(minutes=10))
    d = s.deliveries[0]
    fast, _ = _both(app)
    base = _path(click_base_url(app.config, s.send.id, d.id))
    r = fast.get(f"{base}/99")  # no such link: Flask's page
    assert r.status_code == 404 and "链接无效" in r.get_data(as_text=True)
    r = fast.get(f"{base}/{s.link_n(ARTICLE_1_URL)}", headers={"User-Agent": BROWSER})
    assert r.status_code == 302 and r.headers["Location"] == ARTICLE_1_URL  # cold cache
    anon = _path(click_base_url(app.config, s.send.id, d.id, tracked=False))
    r = fast.get(f"{anon}/{s.link_n(ARTICLE_1_URL)}")
    assert r.status_code == 302 and r.headers["Location"] == ARTICLE_1_URL
    r = fast.head(f"{base}/{s.link_n(ARTICLE_1_URL)}", headers={"User-Agent": BROWSER})
    assert r.status_code == 302  # HEAD is Flask's (flagged as a robot there)
    flush_job()
    kinds = [(e.kind, e.detail) for e in events_of(d.id) if e.kind != "sent"]
    assert kinds == [
        ("clicked", f"link={s.link_n(ARTICLE_1_URL)}"),
        ("clicked", f"link={s.link_n(ARTICLE_1_URL)}; bot=head"),
    ]
