"""The relay pool: which relay takes the next message, at the relays' limits and the
receiving domains' paces (the configuration: `relays.load`).

`RelayPool` picks, for one recipient, a relay with room under its limits (counted in Redis
across every worker and machine, `ratelimit.RateLimiter`) and under the receiving domain's
pace, in order and by weight, skipping relays paused by their circuit breaker. When none
has room it says how long to wait and why; `quota_exhausted()` tells when every relay is out
of its daily quota and when the first one opens again. A paced domain that defers is slowed
for a while (`deferred`).
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from redis import Redis

from newsletter.delivery.ratelimit import RateLimiter, Slots, Window
from newsletter.delivery.relays import Pace, Relay, RelayConfig, domain_of

# A paced domain that answered 4xx is slowed by half per deferral, down to an eighth, for
# SLOW_SECONDS after the last deferral.
SLOW_SECONDS = 600
MAX_SLOW_LEVEL = 3


@dataclass
class Grant:
    """A relay may take one message to `domain` now (already counted); `release()` after."""

    relay: Relay
    domain: str
    _slots: Slots | None = None
    _holder: str = ""

    def release(self) -> None:
        if self._slots is not None:
            self._slots.release(self._holder)
            self._slots = None


@dataclass
class Wait:
    """No relay may take it now: wait `seconds`. reason: domain | rate | quota | paused."""

    seconds: float
    reason: str
    relay_waits: dict[str, float] = field(default_factory=dict)


class RelayPool:
    def __init__(
        self,
        redis: Redis,
        prefix: str,
        relay_config: RelayConfig,
        paused: Callable[[str], bool] | None = None,
    ):
        self.redis, self.prefix, self.config = redis, prefix, relay_config
        self.paused = paused or (lambda name: False)
        self._relay_limiters = {
            r.name: RateLimiter(redis, f"{prefix}:relay:{r.name}", r.limits.windows())
            for r in relay_config.relays
        }
        # The relays grouped by order, lowest first (the config does not change).
        orders = sorted({r.order for r in relay_config.relays})
        self._by_order = [tuple(r for r in relay_config.relays if r.order == o) for o in orders]
        # Limiters made once (a domain's per pace, as a deferral can slow it): unpaced
        # domains, nearly all of them, share one without windows.
        self._no_pace = RateLimiter(redis, f"{prefix}:domain:", [])
        self._limiters: dict[tuple[str, str, int], RateLimiter] = {}
        self._slots: dict[tuple[str, int], Slots] = {}

    # domains ------------------------------------------------------------------------
    def pace(self, domain: str) -> Pace:
        """The domain's pace now: its configured one, slowed after deferrals."""
        base = self.config.paces.get(domain, Pace())
        if not base.per_minute:
            return base  # never slowed (see `deferred`): no look-up per message
        level = int(self.redis.get(self._slow_key(domain)) or 0)
        if not level:
            return base
        return Pace(max(base.per_minute >> level, 1), base.connections)

    def deferred(self, domain: str) -> int:
        """A paced domain answered 4xx: halve its pace (down to an eighth) for SLOW_SECONDS.
        Domains without a pace (shipped or configured) keep going: there is no known rate
        to slow from (give one in the relays file to have it slowed)."""
        if not self.config.paces.get(domain, Pace()).per_minute:
            return 0
        key = self._slow_key(domain)
        with self.redis.pipeline() as pipe:
            pipe.incr(key)
            pipe.expire(key, SLOW_SECONDS)
            level = pipe.execute()[0]
        if level > MAX_SLOW_LEVEL:
            self.redis.set(key, MAX_SLOW_LEVEL, ex=SLOW_SECONDS)
            level = MAX_SLOW_LEVEL
        return level

    def _slow_key(self, domain: str) -> str:
        return f"{self.prefix}:domain:{domain}:slow"

    def _domain_limiter(self, domain: str, pace: Pace) -> RateLimiter:
        if not pace.per_minute:
            return self._no_pace
        return self._limiter("", domain, pace.per_minute)

    def _limiter(self, relay: str, domain: str, per_minute: int) -> RateLimiter:
        """The relay's limits and the domain's pace, counted together; made once each
        (paced domains are the few shipped or configured, each at up to four paces)."""
        key = (relay, domain, per_minute)
        limiter = self._limiters.get(key)
        if limiter is None:
            paced = RateLimiter(
                self.redis, f"{self.prefix}:domain:{domain}", [Window(60.0, per_minute)]
            )
            limiter = paced if not relay else self._relay_limiters[relay] + paced
            self._limiters[key] = limiter
        return limiter

    # relays -------------------------------------------------------------------------
    def limiter(self, relay_name: str) -> RateLimiter:
        return self._relay_limiters[relay_name]

    def _candidates(self) -> list[Relay]:
        """Relays not paused, by order; within one order, shuffled by weight."""
        out: list[Relay] = []
        for relays in self._by_order:
            group = [r for r in relays if not self.paused(r.name)]
            if len(group) == 1:
                out.append(group[0])  # nothing to shuffle (the common case: one per order)
                continue
            while group:
                pick = random.choices(group, weights=[r.weight for r in group])[0]
                out.append(pick)
                group.remove(pick)
        return out

    def acquire(self, rcpt: str) -> Grant | Wait:
        """A relay for one message to `rcpt`, counted against its limits and the domain's."""
        domain = domain_of(rcpt)
        candidates = self._candidates()
        if not candidates:
            return Wait(30.0, "paused")
        pace = self.pace(domain)
        slots = None
        holder = ""
        if pace.connections:
            holder = secrets.token_hex(8)
            slots = self._slots.get((domain, pace.connections))
            if slots is None:
                slots = self._slots[domain, pace.connections] = Slots(
                    self.redis, f"{self.prefix}:domain:{domain}:slots", pace.connections
                )
            if not slots.try_take(holder):
                return Wait(0.05, "domain")
        domain_limiter = self._domain_limiter(domain, pace)
        waits: dict[str, float] = {}
        for relay in candidates:
            if pace.per_minute:
                limiter = self._limiter(relay.name, domain, pace.per_minute)
            else:
                limiter = self._relay_limiters[relay.name]
            wait = limiter.try_acquire()
            if wait == 0:
                return Grant(relay, domain, slots, holder)
            waits[relay.name] = wait
        if slots is not None:
            slots.release(holder)
        if domain_limiter.windows and not domain_limiter.usage()[0].left:
            return Wait(min(waits.values()), "domain", waits)
        quota = self.quota_exhausted(candidates)
        return Wait(min(waits.values()), "quota" if quota else "rate", waits)

    def quota_exhausted(self, relays: list[Relay] | None = None) -> dt.datetime | None:
        """When every relay (not paused) is out of its daily quota: the UTC time the first
        opens again; None while one still has some left (or has no daily quota)."""
        opens: list[int] = []
        for relay in relays if relays is not None else self._candidates():
            day = [u for u in self._relay_limiters[relay.name].usage() if u.window.seconds >= 86400]
            if not day or day[0].left:
                return None
            opens.append(day[0].frees_at_ms)
        if not opens:
            return None
        return dt.datetime.fromtimestamp(min(opens) / 1000, dt.UTC).replace(tzinfo=None)

    def quota_left(self) -> dict[str, int | None]:
        """Messages each relay may still send in its day window (None: no daily quota)."""
        out: dict[str, int | None] = {}
        for relay in self.config.relays:
            day = [u for u in self._relay_limiters[relay.name].usage() if u.window.seconds >= 86400]
            out[relay.name] = day[0].left if day else None
        return out
