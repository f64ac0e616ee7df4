"""Sign-in lockout per account AND address: five wrong tries from one IP lock that IP out of
that account for fifteen minutes — the owner, signing in from elsewhere, is not locked out by
a stranger — and the same holds for emails that have no account, so the answer never tells
whether an account exists.

Counted in Redis with the one rate limiter (fixed window), under a prefix per account so an
admin's "unlock" can clear every address at once. Redis down: not counted (logged), like the
per-IP limit; the password check still runs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging

from flask import current_app

from newsletter.extensions import redis_store
from newsletter.ratelimit import FIXED, RateLimiter, RateLimitUnavailable

MAX_FAILURES = 5
LOCKOUT = dt.timedelta(minutes=15)
log = logging.getLogger(__name__)


def _limiter(email: str) -> RateLimiter:
    config = current_app.config
    account = hashlib.sha256(email.encode()).hexdigest()[:32]
    return RateLimiter(
        redis_store.client(config),
        f"{config['QUEUE_PREFIX']}:login-fail:{account}",
        MAX_FAILURES,
        LOCKOUT.total_seconds(),
        FIXED,
    )


def attempt(email: str, ip: str) -> bool:
    """Count one sign-in attempt for (email, ip); False once that pair is locked out."""
    try:
        return _limiter(email).hit(ip).allowed
    except RateLimitUnavailable:
        log.warning("lockout counter unavailable; attempt for an account not counted")
        return True


def succeeded(email: str, ip: str) -> None:
    """A good password forgives this address's earlier tries."""
    try:
        _limiter(email).reset(ip)
    except RateLimitUnavailable:
        pass


def clear(email: str) -> None:
    """An admin's unlock: every address's count for this account."""
    limiter = _limiter(email)
    keys = list(limiter.redis.scan_iter(f"{limiter.prefix}:*", count=1000))
    if keys:
        limiter.redis.delete(*keys)
