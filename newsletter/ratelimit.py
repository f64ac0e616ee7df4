"""A generic rate limiter on Redis: at most N hits per window, keyed by any string.

Two strategies, each one atomic Lua script so concurrent web processes agree:

- ``fixed``: one counter per window (INCR + expiry). Cheap; a burst of 2N is possible
  across a window boundary.
- ``sliding``: a sorted set of hit times; exactly N hits in any window-long span.

A refused hit is not counted, so a client that keeps hammering is let in again as soon as
its old hits age out. Keys are hashed before they reach Redis (an address or an IP never
sits there in clear). Used by the public subscriber forms; the staff login can reuse it.

    limiter = RateLimiter(redis, "nl:rl:subscribe-ip", limit=10, window=3600)
    decision = limiter.hit(request.remote_addr)
    if not decision.allowed: ... decision.retry_after seconds ...
"""

from __future__ import annotations

import hashlib
import math
import time
import uuid
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError

FIXED = "fixed"
SLIDING = "sliding"

_FIXED_LUA = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local limit = tonumber(ARGV[1])
if n >= limit then
  return {0, n, redis.call('PTTL', KEYS[1])}
end
n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return {1, n, redis.call('PTTL', KEYS[1])}
"""

_SLIDING_LUA = """
local now = tonumber(ARGV[3])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
if n >= tonumber(ARGV[1]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, n, tonumber(oldest[2]) + window - now}
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return {1, n + 1, window}
"""


class RateLimitUnavailable(RuntimeError):
    """Redis did not answer: callers decide whether to fail open or closed."""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    count: int  # hits counted in the current window (including this one if allowed)
    limit: int
    retry_after: float  # seconds until another hit would be allowed (0 when allowed)

    @property
    def remaining(self) -> int:
        return max(self.limit - self.count, 0)


def parse_rate(spec: str) -> tuple[int, int]:
    """'10/3600' or '10/hour' -> (10, 3600); ValueError with the reason otherwise."""
    units = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
    try:
        count, _, per = spec.strip().partition("/")
        per = per.strip().lower()
        seconds = units.get(per.rstrip("s")) or int(per)
        limit = int(count)
    except ValueError:
        raise ValueError(f"rate must look like '10/3600' or '10/hour': {spec!r}") from None
    if limit < 1 or seconds < 1:
        raise ValueError(f"rate must be positive: {spec!r}")
    return limit, seconds


class RateLimiter:
    def __init__(
        self, redis: Redis, prefix: str, limit: int, window: float, strategy: str = SLIDING
    ):
        if strategy not in (FIXED, SLIDING):
            raise ValueError(f"unknown strategy {strategy!r}")
        if limit < 1 or window <= 0:
            raise ValueError("limit and window must be positive")
        self.redis, self.prefix = redis, prefix
        self.limit, self.window, self.strategy = limit, window, strategy
        self._script = redis.register_script(_SLIDING_LUA if strategy == SLIDING else _FIXED_LUA)

    @classmethod
    def from_spec(
        cls, redis: Redis, prefix: str, spec: str, strategy: str = SLIDING
    ) -> RateLimiter:
        limit, seconds = parse_rate(spec)
        return cls(redis, prefix, limit, seconds, strategy)

    def key(self, value: str) -> str:
        digest = hashlib.sha256(value.encode()).hexdigest()[:32]
        return f"{self.prefix}:{digest}"

    def hit(self, value: str) -> Decision:
        """Count one hit for `value` if the limit allows it."""
        window_ms = int(self.window * 1000)
        try:
            if self.strategy == SLIDING:
                now_ms = int(time.time() * 1000)
                allowed, count, wait_ms = self._script(
                    keys=[self.key(value)],
                    args=[self.limit, window_ms, now_ms, f"{now_ms}-{uuid.uuid4().hex[:8]}"],
                )
            else:
                allowed, count, wait_ms = self._script(
                    keys=[self.key(value)], args=[self.limit, window_ms]
                )
        except RedisError as exc:
            raise RateLimitUnavailable(str(exc)) from exc
        wait = 0.0 if allowed else max(float(wait_ms), 0.0) / 1000
        return Decision(bool(allowed), int(count), self.limit, math.ceil(wait * 10) / 10)

    def reset(self, value: str) -> None:
        try:
            self.redis.delete(self.key(value))
        except RedisError as exc:
            raise RateLimitUnavailable(str(exc)) from exc
