"""The relay pool (newsletter/delivery/relaypool.py): limits counted in the real Redis,
order and weight, breaker pauses, daily quotas and pacing per receiving domain."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from redis import Redis

from newsletter.delivery.relaypool import Grant, RelayPool, Wait
from newsletter.delivery.relays import DEFAULT_PACES, load
from tests.conftest import REDIS_URL
from tests.delivery.test_relays import _config


@pytest.fixture
def redis():
    client = Redis.from_url(REDIS_URL)
    prefix = f"nltest:relays:{uuid.uuid4().hex[:8]}"
    yield client, prefix
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)


def _pool(redis, tmp_path, text, paused=None):
    client, prefix = redis
    return RelayPool(client, prefix, load(_config(tmp_path, text), env={}), paused=paused)


TWO = """
[[relay]]
name = "first"
host = "a"
per_day = 3
order = 1
[[relay]]
name = "second"
host = "b"
per_day = 2
order = 2
"""


def test_relays_are_used_in_order_until_their_daily_quota_runs_out(redis, tmp_path):
    pool = _pool(redis, tmp_path, TWO)
    picks = [pool.acquire(f"r{n}@example.org") for n in range(6)]
    assert [p.relay.name for p in picks[:5]] == ["first"] * 3 + ["second"] * 2
    last = picks[5]
    assert isinstance(last, Wait) and last.reason == "quota"
    assert last.seconds > 86000  # the day window
    opens = pool.quota_exhausted()
    assert opens is not None and opens - dt.datetime.now(dt.UTC).replace(
        tzinfo=None
    ) > dt.timedelta(hours=23)
    assert pool.quota_left() == {"first": 0, "second": 0}


def test_a_relay_paused_by_its_breaker_hands_its_work_to_the_next(redis, tmp_path):
    pool = _pool(redis, tmp_path, TWO, paused=lambda name: name == "first")
    grant = pool.acquire("r@example.org")
    assert isinstance(grant, Grant) and grant.relay.name == "second"
    everything = _pool(redis, tmp_path, TWO, paused=lambda name: True)
    assert everything.acquire("r@example.org").reason == "paused"


def test_equal_order_shares_by_weight(redis, tmp_path):
    text = (
        "[[relay]]\nname = 'light'\nhost = 'a'\nweight = 1\n"
        "[[relay]]\nname = 'heavy'\nhost = 'b'\nweight = 4\n"
    )
    pool = _pool(redis, tmp_path, text)
    names = [pool.acquire(f"r{n}@example.org").relay.name for n in range(500)]
    assert 0.7 < names.count("heavy") / 500 < 0.9


def test_two_pools_share_the_limits_through_redis(redis, tmp_path):
    text = "[[relay]]\nname = 'only'\nhost = 'a'\nper_minute = 4\n"
    one, two = _pool(redis, tmp_path, text), _pool(redis, tmp_path, text)  # two workers
    got = [p.acquire(f"r{n}@example.org") for n in range(3) for p in (one, two)]
    assert sum(isinstance(g, Grant) for g in got) == 4
    refused = [g for g in got if isinstance(g, Wait)]
    assert {w.reason for w in refused} == {"rate"} and all(0 < w.seconds <= 60 for w in refused)


def test_a_domain_is_paced_while_the_others_flow(redis, tmp_path):
    text = (
        "[[relay]]\nname = 'only'\nhost = 'a'\n"
        '[domains."slow.example"]\nper_minute = 2\nconnections = 1\n'
    )
    pool = _pool(redis, tmp_path, text)
    first = pool.acquire("a@slow.example")
    assert isinstance(first, Grant)
    # One in flight: a second message to the domain waits for the slot.
    assert pool.acquire("b@slow.example").reason == "domain"
    first.release()
    second = pool.acquire("b@slow.example")
    assert isinstance(second, Grant)
    second.release()
    third = pool.acquire("c@slow.example")  # 2 per minute used up
    assert isinstance(third, Wait) and third.reason == "domain" and third.seconds > 50
    assert all(isinstance(pool.acquire(f"r{n}@fast.example"), Grant) for n in range(20))


def test_a_deferral_slows_only_that_domain(redis, tmp_path):
    pool = _pool(redis, tmp_path, "[[relay]]\nname = 'only'\nhost = 'a'\n")
    assert pool.pace("qq.com") == DEFAULT_PACES["qq.com"]
    assert pool.deferred("qq.com") == 1
    assert pool.pace("qq.com").per_minute == DEFAULT_PACES["qq.com"].per_minute // 2
    for _ in range(5):
        pool.deferred("qq.com")
    assert pool.pace("qq.com").per_minute == DEFAULT_PACES["qq.com"].per_minute // 8
    assert pool.pace("163.com") == DEFAULT_PACES["163.com"]
    # A domain without a pace keeps going: there is no known rate to slow down from.
    assert pool.deferred("corp.example") == 0
    assert all(isinstance(pool.acquire(f"r{n}@corp.example"), Grant) for n in range(100))
