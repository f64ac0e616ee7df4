"""newsletter.hmackey: the same digests as the standard library's hmac, any key length."""

from __future__ import annotations

import hashlib
import hmac

from newsletter.hmackey import HmacKey


def test_digests_equal_hmac_for_keys_around_the_block_size():
    messages = [b"", b"1", b"trk:7:12345", b"x" * 64, bytes(range(256)) * 3]
    for digestmod in (hashlib.sha1, hashlib.sha256, hashlib.sha512):  # blocks 64, 64, 128
        for length in (0, 1, 20, 63, 64, 65, 127, 128, 129, 300):
            key = bytes((i * 37 + length) % 256 for i in range(length))
            mac = HmacKey(key, digestmod)
            for message in messages:
                assert mac.digest(message) == hmac.new(key, message, digestmod).digest()
            # Reused: each digest starts from the keyed state, not from the last message.
            assert mac.digest(b"again") == mac.digest(b"again")
            assert mac.digest(b"again") == hmac.digest(key, b"again", digestmod().name)
