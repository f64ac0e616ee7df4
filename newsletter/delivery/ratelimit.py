"""A send rate limit shared by every worker (and machine) through Redis.

Sliding-window log: each window (per second, per hour, ...) is a sorted set of the
timestamps of messages let through; one Lua script checks every window and records the
message atomically, using Redis's own clock so workers on different machines agree.
Limiters combine (`a + b`): a relay's windows and a receiving domain's are checked and
counted in one atomic step (delivery.relaypool). `Slots` caps how many messages are in
flight at once (per receiving domain), with leases so a dead worker's slot frees itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from redis import Redis

_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = 0
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[2 * i - 1])
  local limit = tonumber(ARGV[2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= limit then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    local w = tonumber(oldest[2]) + window - now
    if w > wait then wait = w end
  end
end
if wait > 0 then return wait end
local seq = redis.call('INCR', KEYS[1] .. ':seq')
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, now .. '-' .. seq)
  redis.call('PEXPIRE', key, tonumber(ARGV[2 * i - 1]))
end
redis.call('PEXPIRE', KEYS[1] .. ':seq', 3600000)
return 0
"""


_USAGE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {now}
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  table.insert(out, redis.call('ZCARD', key))
  table.insert(out, oldest[2] and (tonumber(oldest[2]) + window) or 0)
end
return out
"""

_SLOTS_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
"""


@dataclass(frozen=True)
class Window:
    seconds: float
    limit: int


@dataclass(frozen=True)
class Usage:
    """One window now: messages counted in it, and when (Redis ms) its oldest leaves."""

    window: Window
    used: int
    frees_at_ms: int

    @property
    def left(self) -> int:
        return max(self.window.limit - self.used, 0)


class RateLimiter:
    """`acquire()` blocks until one more message may go out under every window."""

    def __init__(self, redis: Redis, name: str, windows: list[Window]):
        self.redis = redis
        self.windows = [w for w in windows if w.limit > 0]
        self.keys = [f"{name}:rate:{int(w.seconds * 1000)}ms" for w in self.windows]
        self._script = redis.register_script(_SCRIPT) if self.windows else None

    def __add__(self, other: RateLimiter) -> RateLimiter:
        """Both limiters' windows, checked and counted together in one atomic step."""
        both = RateLimiter(self.redis, "", [])
        both.windows, both.keys = self.windows + other.windows, self.keys + other.keys
        both._script = self.redis.register_script(_SCRIPT) if both.windows else None
        return both

    def usage(self) -> list[Usage]:
        """What each window holds now (nothing is counted)."""
        if not self.windows:
            return []
        out = self.redis.register_script(_USAGE_SCRIPT)(
            keys=self.keys, args=[int(w.seconds * 1000) for w in self.windows]
        )
        return [
            Usage(w, int(out[1 + 2 * i]), int(out[2 + 2 * i])) for i, w in enumerate(self.windows)
        ]

    def now_ms(self) -> int:
        seconds, micros = self.redis.time()
        return int(seconds) * 1000 + int(micros) // 1000

    def try_acquire(self) -> float:
        """0 if a message may go now (and it is counted); otherwise seconds to wait."""
        if self._script is None:
            return 0.0
        args: list[int] = []
        for w in self.windows:
            args += [int(w.seconds * 1000), w.limit]
        return int(self._script(keys=self.keys, args=args)) / 1000.0

    def acquire(self, before_wait: Callable[[], object] | None = None) -> None:
        """`before_wait` runs once, before the first sleep (a batch writes its marks)."""
        while (wait := self.try_acquire()) > 0:
            if before_wait is not None:
                before_wait()
                before_wait = None
            time.sleep(min(wait, 1.0))


class Slots:
    """At most `limit` holders at once under `key`; a slot not released expires after
    `lease_seconds` (its worker died)."""

    def __init__(self, redis: Redis, key: str, limit: int, lease_seconds: float = 120.0):
        self.redis, self.key, self.limit = redis, key, limit
        self.lease_ms = int(lease_seconds * 1000)
        self._script = redis.register_script(_SLOTS_SCRIPT)

    def try_take(self, holder: str) -> bool:
        if self.limit <= 0:
            return True
        return bool(self._script(keys=[self.key], args=[self.limit, self.lease_ms, holder]))

    def release(self, holder: str) -> None:
        if self.limit > 0:
            self.redis.zrem(self.key, holder)
