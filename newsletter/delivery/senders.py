"""What a batch sends through (one transport or the relay pool, the shared rate limit,
DKIM, a clock, who to tell of a pause), the circuit breaker's streaks, and what a batch
reports. Plain data and protocols: no SQL, no SMTP of its own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from newsletter.delivery.message import DkimSigner
from newsletter.delivery.routing import RelayRouter
from newsletter.timeutil import utcnow

if TYPE_CHECKING:
    from newsletter.delivery.relaycheck import CheckResult


class Clock(Protocol):
    def now(self) -> dt.datetime: ...


class Transport(Protocol):
    """What a batch hands messages to: transport.SmtpTransport, or a test's fake."""

    def send(self, mail_from: str, rcpt: str, message: bytes) -> str: ...


class Limiter(Protocol):
    """ratelimit.RateLimiter, or a test's stand-in: blocks until one more may go, calling
    `before_wait` first if it has to wait."""

    def acquire(self, before_wait: Callable[[], object] | None = None) -> None: ...


class SystemClock:
    def now(self) -> dt.datetime:
        return utcnow()


@dataclass
class Streak:
    """Failures of one kind in a row, for the circuit breaker (per send and relay)."""

    kind: tuple[object, ...] | None = None
    count: int = 0

    def add(self, kind: tuple[object, ...]) -> int:
        self.count = self.count + 1 if kind == self.kind else 1
        self.kind = kind
        return self.count

    def reset(self) -> None:
        self.kind, self.count = None, 0


# Per worker process: a streak outlives the batch (a relay failing every message of many
# small batches still trips the breaker).
_STREAKS: dict[tuple[int, str], Streak] = {}


@dataclass
class Senders:
    """What a batch sends through: one SMTP transport, the shared rate limit, DKIM, a clock,
    and who to tell when the breaker pauses a send (`on_pause(send_id)`)."""

    transport: Transport | None  # None: every message goes through `router`
    limiter: Limiter | None = None  # ratelimit.RateLimiter
    signer: DkimSigner | None = None
    clock: Clock = field(default_factory=SystemClock)
    relay: str = ""  # names the relay for the breaker
    on_pause: Callable[[int], None] | None = None
    # Several relays (delivery.routing): each message takes the relay the pool gives it,
    # with that relay's connection and envelope sender; None: `transport` for everything.
    router: RelayRouter | None = None
    # The relay check (delivery.relaycheck) a send runs before its first message: returns
    # one result per relay; a send whose every relay fails it does not start.
    preflight: Callable[[], list[CheckResult]] | None = None
    streaks: dict[tuple[int, str], Streak] = field(default_factory=lambda: _STREAKS)
    timezone: str = "Asia/Shanghai"  # for what the send page is told

    def streak(self, send_id: int) -> Streak:
        return self.streaks.setdefault((send_id, self.relay), Streak())


@dataclass
class BatchResult:
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    skipped: int = 0
    lease_lost: int = 0  # deliveries left when the lease was found lost
    paced: int = 0  # put back untried until a domain's pace or a relay's rate allows
    paused: bool = False  # the breaker paused the send
    # Regular deliveries handed back because priority ones are waiting: the job enqueues
    # them again behind the priority queue instead of holding its worker.
    yielded: list[int] = field(default_factory=list)
