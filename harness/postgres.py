"""Throw-away PostgreSQL databases on the server at ``SHEGONG_TEST_PG``, for tests and benchmarks.

One place makes and drops them and builds their URLs: the test fixtures (a database per hub test, copied
from a template at the schema's head) and ``shegong bench`` (a database per run) both come here.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["ADMIN_URL", "database", "unavailable"]

ADMIN_URL = os.environ.get("SHEGONG_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def unavailable() -> str | None:
    """Why the server at ``ADMIN_URL`` cannot be used (the error's first line), or None when it answers."""
    try:
        import psycopg

        psycopg.connect(ADMIN_URL, connect_timeout=3).close()
    except Exception as exc:  # noqa: BLE001 - any failure: say why
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


@contextmanager
def database(prefix: str, template: str | None = None) -> Iterator[str]:
    """A new database named ``prefix`` and a random tail, empty or a copy of ``template``; yields its
    SQLAlchemy URL (psycopg 3) and drops it afterwards, closing whatever is still connected to it."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    try:
        yield f"{ADMIN_URL.rsplit('/', 1)[0].replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
