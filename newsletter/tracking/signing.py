"""Signed identifiers in tracking URLs and in the VERP bounce address.

A tracking token names (send, delivery) and carries an HMAC of them keyed by SECRET_KEY:
`<send>.<delivery>.<sig>`. An anonymous token (readers who opted out of tracking, or
tracking switched off) names the send only, so the URL cannot tell who clicked.
The VERP format is the pipeline's (`delivery.pipeline.verp_address`):
`local+b<delivery_id>-<hmac10>@domain`, hmac10 = hex HMAC-SHA256 of str(delivery_id).
Every parser here takes any string and returns None for anything not exactly right.
A send worker signs three of these per message: the key's HMAC set-up is made once per
key (`newsletter.hmackey`), the outputs are those of `hmac.new(key, msg, sha256)`.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re

from newsletter.hmackey import HmacKey, b64url

_SIG_LEN = 16  # base64url characters: 96 bits
_TOKEN_RE = re.compile(r"^([1-9][0-9]{0,11})\.([1-9][0-9]{0,11})\.([A-Za-z0-9_-]{16})$")
_ANON_RE = re.compile(r"^([1-9][0-9]{0,11})\.([A-Za-z0-9_-]{16})$")
_VERP_RE = re.compile(r"\+b([1-9][0-9]{0,11})-([0-9a-f]{10})@", re.IGNORECASE)


@functools.lru_cache(maxsize=16)
def _key(secret_key: str) -> HmacKey:
    return HmacKey(secret_key.encode(), hashlib.sha256)


def _sig(secret_key: str, message: str) -> str:
    """The first 16 characters of the URL-safe base64 of the HMAC-SHA256: its first 12
    bytes (12 bytes are exactly 16 characters, no padding)."""
    digest = _key(secret_key).digest(message.encode())
    return b64url(digest[:12]).decode()


def delivery_token(secret_key: str, send_id: int, delivery_id: int) -> str:
    return f"{send_id}.{delivery_id}.{_sig(secret_key, f'trk:{send_id}:{delivery_id}')}"


def read_delivery_token(secret_key: str, token: str) -> tuple[int, int] | None:
    """(send id, delivery id) of a genuine token, else None."""
    m = _TOKEN_RE.match(token or "")
    if not m:
        return None
    send_id, delivery_id = int(m.group(1)), int(m.group(2))
    expected = _sig(secret_key, f"trk:{send_id}:{delivery_id}")
    return (send_id, delivery_id) if hmac.compare_digest(expected, m.group(3)) else None


def send_token(secret_key: str, send_id: int) -> str:
    return f"{send_id}.{_sig(secret_key, f'trk-anon:{send_id}')}"


def read_send_token(secret_key: str, token: str) -> int | None:
    m = _ANON_RE.match(token or "")
    if not m:
        return None
    send_id = int(m.group(1))
    expected = _sig(secret_key, f"trk-anon:{send_id}")
    return send_id if hmac.compare_digest(expected, m.group(2)) else None


def verp_signature(secret_key: str, delivery_id: int) -> str:
    """The hmac10 of `delivery.pipeline.verp_address`: the first 10 hex digits (5 bytes)."""
    return _key(secret_key).digest(b"%d" % delivery_id)[:5].hex()


def read_verp(secret_key: str, address: str) -> int | None:
    """The delivery id named by a genuine VERP address (any surrounding <> or text), else None."""
    m = _VERP_RE.search(address or "")
    if not m:
        return None
    delivery_id = int(m.group(1))
    if hmac.compare_digest(verp_signature(secret_key, delivery_id), m.group(2).lower()):
        return delivery_id
    return None
