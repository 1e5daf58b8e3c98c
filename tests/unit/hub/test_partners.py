"""Partner keys for Open311: printed once, kept as an argon2 hash; a key verified once is not hashed again
on every status poll (argon2 costs half a second on purpose), yet a revocation counts at once, and a wrong
secret, a malformed or an unknown key each still cost one verification."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from argon2 import PasswordHasher

from hub.db.engine import open_engine
from hub.open311.partners import Partners
from hub.people import passwords


class CountingHasher(PasswordHasher):
    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.verified = 0

    def verify(self, hash: Any, password: Any) -> bool:  # noqa: A002 (argon2's own name)
        self.verified += 1
        return super().verify(hash, password)


@pytest.fixture
def hasher() -> Iterator[CountingHasher]:
    h = CountingHasher()
    passwords.use_hasher(h)
    yield h
    passwords.use_hasher(PasswordHasher())


def test_a_verified_key_is_remembered_but_a_revocation_counts_at_once(hub_db_url: str, hasher: CountingHasher):
    engine = open_engine(hub_db_url)
    try:
        partners = Partners(engine)
        added, key = partners.add("hotline-12345")
        assert partners.authenticate(key) == added and hasher.verified == 1
        assert partners.authenticate(key) == added and hasher.verified == 1  # remembered
        key_id = key.split(".")[0]
        assert partners.authenticate(f"{key_id}.{'x' * 43}") is None and hasher.verified == 2
        assert partners.authenticate("not-a-key") is None and hasher.verified == 3
        assert partners.authenticate(f"{'0' * 12}.{'y' * 43}") is None and hasher.verified == 4
        partners.revoke("hotline-12345")
        assert partners.authenticate(key) is None
        assert Partners(engine).authenticate(key) is None  # another process: hashes again, refuses too
    finally:
        engine.dispose()
