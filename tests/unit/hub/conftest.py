"""Back-office tests hash passwords with cheap argon2 parameters: the production ones cost half a
second each on purpose, which a test suite creating users in every test cannot pay."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from hub.people import passwords


@pytest.fixture(autouse=True)
def _cheap_password_hashes():
    passwords.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    yield
    passwords.use_hasher(PasswordHasher())
