"""A send rate limit shared by every worker (and machine) through Redis.

Sliding-window log: each window (per second, per hour, ...) is a sorted set of the
timestamps of messages let through; one Lua script checks every window and records the
message atomically, using Redis's own clock so workers on different machines agree.
"""

from __future__ import annotations

import time
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


@dataclass(frozen=True)
class Window:
    seconds: float
    limit: int


class RateLimiter:
    """`acquire()` blocks until one more message may go out under every window."""

    def __init__(self, redis: Redis, name: str, windows: list[Window]):
        self.windows = [w for w in windows if w.limit > 0]
        self.keys = [f"{name}:rate:{int(w.seconds * 1000)}ms" for w in self.windows]
        self._script = redis.register_script(_SCRIPT) if self.windows else None

    def try_acquire(self) -> float:
        """0 if a message may go now (and it is counted); otherwise seconds to wait."""
        if self._script is None:
            return 0.0
        args: list[int] = []
        for w in self.windows:
            args += [int(w.seconds * 1000), w.limit]
        return int(self._script(keys=self.keys, args=args)) / 1000.0

    def acquire(self) -> None:
        while (wait := self.try_acquire()) > 0:
            time.sleep(min(wait, 1.0))


def from_config(redis: Redis, config) -> RateLimiter:
    return RateLimiter(redis, config["QUEUE_PREFIX"], [
        Window(1.0, config["RATE_PER_SECOND"]),
        Window(3600.0, config["RATE_PER_HOUR"]),
    ])
