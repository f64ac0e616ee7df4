"""Staff passwords hashed once per password and test session.

A scrypt hash (what `StaffUser.set_password` makes) costs 0.15-0.2 s of CPU and 32 MiB, and
most tests make an account or two. The hashes are real ones, each with its salt (shared by
the accounts of one password): signing in still checks the password for real.
"""

from __future__ import annotations

import uuid

_PASSWORD_HASHES: dict[str, str] = {}


def password_hash(password: str) -> str:
    """What `StaffUser.set_password(password)` stores, made on first use."""
    from newsletter.staff.models import StaffUser

    if password not in _PASSWORD_HASHES:
        probe = StaffUser()
        probe.set_password(password)
        _PASSWORD_HASHES[password] = probe.password_hash
    return _PASSWORD_HASHES[password]


def nobodys_hash() -> str:
    """The hash of a password nobody knows, for accounts nobody signs in as."""
    return password_hash(_NOBODYS_PASSWORD)


_NOBODYS_PASSWORD = uuid.uuid4().hex
