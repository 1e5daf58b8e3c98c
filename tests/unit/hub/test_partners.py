"""Partner keys for Open311: printed once, kept as an argon2 hash; a key verified once is not hashed again
on every status poll (argon2 costs half a second on purpose), yet a revocation counts at once, and a wrong
secret, a malformed or an unknown key each still cost one verification."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import text

from hub.db.engine import open_engine
from hub.open311.partners import Partners
from hub.people import passwords
from hub.people.throttle import TooManyAttempts
from protocol.envelope import utcnow


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
        assert partners.authenticate(f"{key_id}.{'x' * 43}", "198.51.100.1") is None and hasher.verified == 2
        assert partners.authenticate("not-a-key", "198.51.100.2") is None and hasher.verified == 3
        assert partners.authenticate(f"{'0' * 12}.{'y' * 43}", "198.51.100.3") is None and hasher.verified == 4
        partners.revoke("hotline-12345")
        assert partners.authenticate(key) is None
        assert Partners(engine).authenticate(key) is None  # another process: hashes again, refuses too
    finally:
        engine.dispose()


def test_a_client_sending_wrong_keys_waits_before_its_next_key_is_hashed(hub_db_url: str, hasher: CountingHasher):
    """Found by attacking Open311 as an outsider: every made-up ``api_key`` cost one argon2 verification
    (half a second and 64 MiB with the production parameters), without limit, so a few clients could hold
    every web thread and both cores. Now wrong keys are counted in the sign-in backoff's tally: after three
    (``login_free_failures``) a client waits 2 s, doubling, and its next key is not hashed at all until
    then; another client, and the partner whose key is right, are not slowed, nor counted."""
    engine = open_engine(hub_db_url)
    try:
        now = [utcnow()]
        partners = Partners(engine, clock=lambda: now[0])
        added, key = partners.add("hotline-12345")
        for _ in range(3):
            assert partners.authenticate(f"{'0' * 12}.{'y' * 43}", "203.0.113.7") is None
        assert hasher.verified == 3
        with pytest.raises(TooManyAttempts) as refused:
            partners.authenticate(f"{'0' * 12}.{'y' * 43}", "203.0.113.7")
        assert refused.value.retry_after_s == 2 and hasher.verified == 3, "refused before any hash"
        with pytest.raises(TooManyAttempts):
            partners.authenticate(key, "203.0.113.7")  # the right key too, from there, until the wait is over
        assert partners.authenticate(key, "198.51.100.9") == added and hasher.verified == 4  # elsewhere: at once

        now[0] += timedelta(seconds=2)
        assert Partners(engine, clock=lambda: now[0]).authenticate(key, "203.0.113.7") == added
        with engine.connect() as conn:
            left = conn.execute(
                text("SELECT sum(failures) FROM login_failures WHERE client = '203.0.113.7'")
            ).scalar_one()
        assert left == 3, "the right key is not counted; the three wrong ones stay counted"
    finally:
        engine.dispose()
