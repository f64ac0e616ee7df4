"""Signed, expiring tokens for subscriber links (no password, no login).

Each purpose has its own salt, so an unsubscribe token cannot be replayed as a
preference-center token, and each token names one subscriber id.

Tokens are itsdangerous `URLSafeTimedSerializer(SECRET_KEY, salt="subscriber-<purpose>")`
values and are read by it. `make_token` writes the same bytes itsdangerous' `dumps` would
at the same second, but without its per-call cost (a send worker makes three per message):
the derived key is keyed once per key and purpose (`newsletter.hmackey`), the timestamp
segment is made once per second, zlib is skipped where it cannot shorten the payload, and
the same token asked for again within its second (the unsubscribe link, then the
List-Unsubscribe mailto of the same message) is the one already made.
"""

from __future__ import annotations

import datetime as dt
import functools

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from itsdangerous.encoding import int_to_bytes
from itsdangerous.timed import TimestampSigner

from newsletter.hmackey import HmacKey, b64url

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


# Payloads of at most this many bytes are never compressed: zlib's output for any
# non-empty input is at least 9 bytes, and itsdangerous keeps it only if it saves 2.
_NEVER_COMPRESSED = 10

_stamp: tuple[int, bytes] = (-1, b"")  # (second, b".<its base64>."): one second's segment


class _Maker:
    """One key and purpose: `dumps` of an int, as `URLSafeTimedSerializer` signs it."""

    __slots__ = ("_serializer", "_signer", "_mac", "_last")

    def __init__(self, secret_key: str, purpose: str) -> None:
        self._serializer = _serializer(secret_key, purpose)
        signer = self._serializer.make_signer()
        if not isinstance(signer, TimestampSigner) or signer.sep != b".":
            raise TypeError("itsdangerous' URLSafeTimedSerializer signs otherwise than assumed")
        self._signer = signer
        # Its own key derivation and digest (django-concat, SHA-1 in itsdangerous 2.x).
        self._mac = HmacKey(signer.derive_key(), signer.digest_method)
        self._last: tuple[int, int, str] = (-1, -1, "")

    def dumps(self, subscriber_id: int) -> str:
        global _stamp
        # The signer's clock, looked up on each call as itsdangerous does (tests date
        # tokens back through TimestampSigner.get_timestamp).
        now = self._signer.get_timestamp()
        last_id, last_second, last_token = self._last
        if last_id == subscriber_id and last_second == now:
            return last_token
        second, stamp = _stamp
        if second != now:
            stamp = b"." + b64url(int_to_bytes(now)) + b"."
            _stamp = (now, stamp)
        json = b"%d" % subscriber_id  # the compact JSON of an int
        if len(json) <= _NEVER_COMPRESSED:
            payload = b64url(json)
        else:  # itsdangerous' own rule: compressed if that is 2 bytes shorter
            payload = self._serializer.dump_payload(subscriber_id)
        signed = payload + stamp
        token = (signed + b64url(self._mac.digest(signed[:-1]))).decode("ascii")
        self._last = (subscriber_id, now, token)
        return token


@functools.lru_cache(maxsize=64)
def _maker(secret_key: str, purpose: str) -> _Maker:
    return _Maker(secret_key, purpose)


def make_token(secret_key: str, purpose: str, subscriber_id: int) -> str:
    if type(subscriber_id) is not int:  # bool and int subclasses: itsdangerous itself
        return _serializer(secret_key, purpose).dumps(subscriber_id)
    return _maker(secret_key, purpose).dumps(subscriber_id)


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
