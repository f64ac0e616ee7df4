"""Fixtures for the tracking tests: the real Redis of the test, and the hand-written
DSN/ARF samples filled in with a delivery's VERP address and Message-ID."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

import pytest
from redis import Redis

SAMPLES = Path(__file__).parent / "samples"


@pytest.fixture
def redis(app):
    client = Redis.from_url(app.config["REDIS_URL"])
    yield client
    client.close()


def verp_for(
    secret: str, delivery_id: int, local: str = "weekly", domain: str = "news.example.org"
) -> str:
    sig = hmac.new(secret.encode(), str(delivery_id).encode(), hashlib.sha256).hexdigest()[:10]
    return f"{local}+b{delivery_id}-{sig}@{domain}"


def sample(name: str, *, verp: str = "", email: str = "", msgid: str = "") -> bytes:
    text = (SAMPLES / name).read_text("utf-8")
    text = (
        text.replace("{VERP}", verp)
        .replace("{EMAIL}", email)
        .replace("{MSGID}", msgid)
        .replace("{NONCE}", secrets.token_hex(4))
    )
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
