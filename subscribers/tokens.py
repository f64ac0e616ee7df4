"""Signed, expiring tokens for subscriber links (no password, no login).

Each purpose has its own salt, so an unsubscribe token cannot be replayed as a
preference-center token, and each token names one subscriber id.
"""

from __future__ import annotations

import datetime as dt
import functools

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

UNSUBSCRIBE = "unsubscribe"
PREFERENCES = "preferences"
CONFIRM = "confirm"

# How long a link in an email stays good. Unsubscribe links must outlive a mail in an
# inbox for a long time (RFC 8058 clients may act months later).
MAX_AGE = {
    UNSUBSCRIBE: 365 * 86400,
    PREFERENCES: 90 * 86400,
    CONFIRM: 7 * 86400,
}


class TokenError(ValueError):
    def __init__(self, message: str, expired: bool = False):
        super().__init__(message)
        self.expired = expired


@functools.lru_cache(maxsize=64)
def _serializer(secret_key: str, purpose: str) -> URLSafeTimedSerializer:
    # Made once per key and purpose: a send makes two tokens per message, and building
    # the serializer (key derivation set-up) was a quarter of that.
    return URLSafeTimedSerializer(secret_key, salt=f"subscriber-{purpose}")


def make_token(secret_key: str, purpose: str, subscriber_id: int) -> str:
    return _serializer(secret_key, purpose).dumps(subscriber_id)


def read_token(secret_key: str, purpose: str, token: str, max_age: int | None = None) -> int:
    """The subscriber id in the token; TokenError if it is altered, foreign or expired."""
    try:
        value = _serializer(secret_key, purpose).loads(
            token, max_age=MAX_AGE[purpose] if max_age is None else max_age
        )
    except SignatureExpired as exc:
        raise TokenError("link expired", expired=True) from exc
    except BadSignature as exc:
        raise TokenError("link invalid") from exc
    if not isinstance(value, int):
        raise TokenError("link invalid")
    return value


def read_token_issued(
    secret_key: str, purpose: str, token: str, max_age: int | None = None
) -> tuple[int, dt.datetime]:
    """Like `read_token`, plus when the token was signed (naive UTC, whole seconds).

    The pages compare it with the subscriber's creation time: on SQLite a deleted row's id
    can be given to the next new row, and a link made for the old one must not act on it.
    """
    try:
        value, signed_at = _serializer(secret_key, purpose).loads(
            token,
            max_age=MAX_AGE[purpose] if max_age is None else max_age,
            return_timestamp=True,
        )
    except SignatureExpired as exc:
        raise TokenError("link expired", expired=True) from exc
    except BadSignature as exc:
        raise TokenError("link invalid") from exc
    if not isinstance(value, int) or isinstance(value, bool):
        raise TokenError("link invalid")
    return value, signed_at.astimezone(dt.UTC).replace(tzinfo=None)
