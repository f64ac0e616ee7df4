"""One batch's way out through the relay pool: which relay takes each message, one open
connection per relay, the envelope sender each relay wants, and relay pauses.

A relay the circuit breaker stops (connection refused, TLS or AUTH failure, MAIL FROM
refused, a run of failures of one kind) is paused on its own — a Redis key with a time to
live, seen by every worker — and its work goes to the next relay; only when every relay is
paused does the send itself pause. `RelayRouter.paused` is what the pool asks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from redis import Redis
from redis.exceptions import RedisError

from newsletter.delivery.relaypool import Grant, RelayPool, Wait
from newsletter.delivery.relays import Relay, RelayConfig

# How long a relay stays paused after a relay-level failure when the answer gives no hint.
RELAY_PAUSE_SECONDS = 300.0
# A wait for a domain's pace or a relay's rate longer than this is not slept in place: the
# delivery is put back until then and the batch goes on with other domains.
MAX_WAIT_IN_PLACE = 2.0


class Transport(Protocol):
    """What a relay's connection is to the router: `SmtpTransport`, or a test's fake."""

    def send(self, mail_from: str, rcpt: str, message: bytes) -> str: ...

    def close(self) -> None: ...


class RelayRouter:
    def __init__(
        self,
        redis: Redis,
        prefix: str,
        relay_config: RelayConfig,
        transport_factory: Callable[[Relay], Transport],
    ):
        self.redis, self.prefix = redis, prefix
        self.pool = RelayPool(redis, prefix, relay_config, paused=self.paused)
        self._factory = transport_factory
        self._transports: dict[str, Transport] = {}
        self._paused_cache: dict[str, tuple[float, bool]] = {}

    @property
    def relays(self) -> tuple[Relay, ...]:
        return self.pool.config.relays

    # pauses -------------------------------------------------------------------------
    def _pause_key(self, name: str) -> str:
        return f"{self.prefix}:relay:{name}:paused"

    def paused(self, name: str) -> bool:
        """Whether the relay is paused (looked up in Redis at most once a second)."""
        now = time.monotonic()
        cached = self._paused_cache.get(name)
        if cached and now - cached[0] < 1.0:
            return cached[1]
        try:
            value = bool(self.redis.exists(self._pause_key(name)))
        except RedisError:
            value = False
        self._paused_cache[name] = (now, value)
        return value

    def pause(self, name: str, reason: str, seconds: float | None = None) -> None:
        self.redis.set(
            self._pause_key(name), reason[:500], ex=max(int(seconds or RELAY_PAUSE_SECONDS), 1)
        )
        self._paused_cache[name] = (time.monotonic(), True)
        self.drop(name)

    def pause_reason(self, name: str) -> str | None:
        value = self.redis.get(self._pause_key(name))
        if not value:
            return None
        # The shared client answers bytes (it is made without decode_responses).
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)

    def all_paused(self) -> bool:
        return all(self.paused(r.name) for r in self.relays)

    def resume(self, name: str) -> None:
        self.redis.delete(self._pause_key(name))
        self._paused_cache.pop(name, None)

    # routing ------------------------------------------------------------------------
    def route(self, rcpt: str, before_wait: Callable[[], object] | None = None) -> Grant | Wait:
        """A relay for `rcpt` now; short waits (under MAX_WAIT_IN_PLACE) are slept here,
        after `before_wait` (a batch writes its pending marks first)."""
        while True:
            got = self.pool.acquire(rcpt)
            if isinstance(got, Grant) or got.seconds > MAX_WAIT_IN_PLACE:
                return got
            if before_wait is not None:
                before_wait()
                before_wait = None
            time.sleep(max(min(got.seconds, MAX_WAIT_IN_PLACE), 0.01))

    def transport(self, relay: Relay) -> Transport:
        t = self._transports.get(relay.name)
        if t is None:
            t = self._transports[relay.name] = self._factory(relay)
        return t

    @staticmethod
    def envelope(relay: Relay, verp: str) -> str:
        return relay.envelope_sender if relay.envelope == "fixed" else verp

    def deferred(self, rcpt: str) -> None:
        """A 4xx from the receiving side: slow that domain only."""
        try:
            self.pool.deferred(rcpt.rpartition("@")[2].lower())
        except RedisError:
            pass

    def drop(self, name: str) -> None:
        t = self._transports.pop(name, None)
        if t is not None:
            t.close()

    def close(self) -> None:
        for name in list(self._transports):
            self.drop(name)
