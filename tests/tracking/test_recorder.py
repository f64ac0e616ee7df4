"""The recorder's hand-over to Redis (newsletter/tracking/recorder.py), against the real Redis:
the counting windows per kind and per reader/robot, and every field of a kept event."""

from __future__ import annotations

import uuid

import pytest
from redis import Redis

from newsletter.tracking.recorder import WINDOW_MS, Recorder
from tests.conftest import REDIS_URL


@pytest.fixture
def stream():
    redis = Redis.from_url(REDIS_URL)
    key = f"nltest:{uuid.uuid4().hex[:8]}:events"
    yield redis, key
    leftovers = list(redis.scan_iter(key.rsplit(":", 1)[0] + ":*"))
    if leftovers:
        redis.delete(*leftovers)
    redis.close()


def test_the_windows_keep_one_event_per_kind_delivery_link_and_reader_or_robot(stream):
    redis, key = stream
    rec = Recorder(redis, key)
    rec.add("o", 7, 70, 0, "")
    rec.add("o", 7, 70, 0, "")  # the same reader's second open: in the window
    rec.add("o", 7, 70, 0, "apple-mpp")  # a robot's open: its own window
    rec.add("o", 7, 71, 0, "")  # another delivery
    rec.add("c", 7, 70, 1, "")
    rec.add("c", 7, 70, 1, "")  # the same link again
    rec.add("c", 7, 70, 2, "")  # another link
    # Its own thread may hand some over first; after push() everything is in Redis.
    rec.push()
    assert redis.xlen(key) == 5
    prefix = key.rsplit(":", 1)[0] + ":window"
    # Opens count once a minute, clicks once a second: each window key expires so.
    assert 0 < redis.pttl(f"{prefix}:o:70:0:h") <= WINDOW_MS["o"]
    assert redis.pttl(f"{prefix}:o:70:0:h") > WINDOW_MS["c"]
    assert 0 < redis.pttl(f"{prefix}:c:70:1:h") <= WINDOW_MS["c"]
    assert redis.exists(f"{prefix}:o:70:0:b")


def test_a_kept_event_carries_every_field_and_an_empty_bot_reason(stream):
    redis, key = stream
    rec = Recorder(redis, key)
    rec.add("c", 12, 345, 6, "")
    rec.add("o", 12, 346, 0, "scanner-ua")
    rec.push()
    entries = [{k.decode(): v.decode() for k, v in f.items()} for _, f in redis.xrange(key)]
    first, second = entries
    assert {k: first[k] for k in "ksdnb"} == {"k": "c", "s": "12", "d": "345", "n": "6", "b": ""}
    assert {k: second[k] for k in "ksdnb"} == {
        "k": "o",
        "s": "12",
        "d": "346",
        "n": "0",
        "b": "scanner-ua",
    }
    assert first["i"] != second["i"] and len(first["i"]) == 28
    assert float(first["t"]) > 1.7e9


def test_a_batch_of_hundreds_is_handed_over_whole(stream):
    redis, key = stream
    rec = Recorder(redis, key)
    for n in range(450):  # more than one script call's BATCH
        rec.add("o", 1, 1000 + n, 0, "" if n % 3 else "no-ua")
    rec.push()
    assert redis.xlen(key) == 450
