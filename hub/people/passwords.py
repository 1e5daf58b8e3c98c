"""argon2id password hashes (argon2-cffi's defaults: RFC 9106's low-memory profile, 64 MiB, 3 passes).

The parameters live in each hash, so a hash made with other parameters still verifies; a hash made
with weaker ones than the current hasher's is replaced at the next good sign-in.
"""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["MIN_LENGTH", "hash_password", "needs_rehash", "use_hasher", "verify_password"]

MIN_LENGTH = 10
_current = [PasswordHasher()]


def use_hasher(hasher: PasswordHasher) -> None:
    """Hash with ``hasher`` from now on (tests use cheap parameters; production keeps the default)."""
    _current[0] = hasher
    _dummy.cache_clear()


@cache
def _dummy() -> str:
    return _current[0].hash("an unknown user still costs one verification")


def hash_password(password: str) -> str:
    return _current[0].hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; an unknown user (``None``) costs the same time and fails."""
    try:
        return _current[0].verify(password_hash or _dummy(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _current[0].check_needs_rehash(password_hash)
