"""The generic Redis rate limiter, on the real Redis."""

from __future__ import annotations

import time
import uuid

import pytest
from redis import Redis

from newsletter.ratelimit import (
    FIXED,
    SLIDING,
    RateLimiter,
    RateLimitUnavailable,
    parse_rate,
)
from tests.conftest import REDIS_URL


@pytest.fixture
def redis(queue_prefix):
    return Redis.from_url(REDIS_URL)


@pytest.fixture
def prefix(queue_prefix):
    return f"{queue_prefix}:rl:{uuid.uuid4().hex[:6]}"  # cleaned up with the queue prefix


@pytest.mark.parametrize("strategy", [FIXED, SLIDING])
def test_allows_the_limit_then_refuses_with_a_wait(redis, prefix, strategy):
    limiter = RateLimiter(redis, prefix, limit=3, window=60, strategy=strategy)
    decisions = [limiter.hit("198.51.100.7") for _ in range(5)]
    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    assert [d.remaining for d in decisions[:3]] == [2, 1, 0]
    assert 0 < decisions[3].retry_after <= 60
    # Keys are independent, and are stored hashed (no address or IP in Redis).
    assert limiter.hit("198.51.100.8").allowed
    assert not any(b"198.51.100" in k for k in redis.scan_iter(f"{prefix}*"))


@pytest.mark.parametrize("strategy", [FIXED, SLIDING])
def test_window_passes_and_hits_are_allowed_again(redis, prefix, strategy):
    limiter = RateLimiter(redis, prefix, limit=2, window=0.5, strategy=strategy)
    assert limiter.hit("k").allowed and limiter.hit("k").allowed
    assert not limiter.hit("k").allowed
    time.sleep(0.6)
    assert limiter.hit("k").allowed


def test_sliding_window_has_no_boundary_burst(redis, prefix):
    limiter = RateLimiter(redis, prefix, limit=2, window=1.0, strategy=SLIDING)
    assert limiter.hit("k").allowed
    time.sleep(0.6)
    assert limiter.hit("k").allowed
    assert not limiter.hit("k").allowed  # 2 in the last second
    time.sleep(0.5)  # the first hit has aged out, the second not
    assert limiter.hit("k").allowed
    assert not limiter.hit("k").allowed


def test_refused_hits_are_not_counted(redis, prefix):
    limiter = RateLimiter(redis, prefix, limit=1, window=0.4, strategy=SLIDING)
    assert limiter.hit("k").allowed
    for _ in range(20):
        assert not limiter.hit("k").allowed
    time.sleep(0.45)
    assert limiter.hit("k").allowed


def test_reset_forgets_a_key(redis, prefix):
    limiter = RateLimiter(redis, prefix, limit=1, window=60)
    limiter.hit("k")
    assert not limiter.hit("k").allowed
    limiter.reset("k")
    assert limiter.hit("k").allowed


def test_parse_rate():
    assert parse_rate("10/hour") == (10, 3600)
    assert parse_rate("3 / minutes") == (3, 60)
    assert parse_rate("5/30") == (5, 30)
    for bad in ("ten/hour", "10", "0/60", "10/fortnight", "5/-1"):
        with pytest.raises(ValueError, match="rate"):
            parse_rate(bad)


def test_redis_down_is_reported_not_ignored():
    limiter = RateLimiter(
        Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2),
        "x",
        limit=1,
        window=1,
        strategy=FIXED,
    )
    with pytest.raises(RateLimitUnavailable):
        limiter.hit("k")
