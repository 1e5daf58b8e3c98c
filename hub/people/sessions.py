"""Sign-ins kept in the hub database (``web_sessions``), shared by every web worker: browser sessions and
API tokens by the hash of their key, never the key itself."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import Engine, delete, select, update

from hub.db.models import WebSessionRow, table
from kernel.db import upsert_insert
from protocol.envelope import utcnow

__all__ = ["SessionTable"]

_t = table(WebSessionRow)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class SessionTable:
    """Blocking reads and writes of ``web_sessions`` (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._insert = upsert_insert(engine)

    def put(self, key: str, value: bytes, expires_in_s: float | None) -> None:
        """Keep ``value`` under ``key`` (replacing what was there), for ``expires_in_s`` or for ever."""
        expires = utcnow() + timedelta(seconds=expires_in_s) if expires_in_s else None
        stmt = self._insert(_t).values(key_hash=_hash(key), data=value, expires_at=expires)
        with self.engine.begin() as conn:
            conn.execute(
                stmt.on_conflict_do_update(index_elements=["key_hash"], set_={"data": value, "expires_at": expires})
            )

    def get(self, key: str, renew_for_s: float | None = None) -> bytes | None:
        """The value under ``key`` unless expired; its expiry moved ``renew_for_s`` from now if given."""
        now = utcnow()
        with self.engine.connect() as conn:
            row = conn.execute(select(_t.c.data, _t.c.expires_at).where(_t.c.key_hash == _hash(key))).first()
        if row is None or (row.expires_at is not None and row.expires_at <= now):
            return None
        if renew_for_s and row.expires_at is not None:
            with self.engine.begin() as conn:
                conn.execute(
                    update(_t)
                    .where(_t.c.key_hash == _hash(key))
                    .values(expires_at=now + timedelta(seconds=renew_for_s))
                )
        return bytes(row.data)

    def delete(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(_t).where(_t.c.key_hash == _hash(key)))

    def delete_all(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(_t))

    def expires_in(self, key: str) -> int | None:
        """Seconds until ``key`` expires (0 if past); None if it never does or is not there."""
        with self.engine.connect() as conn:
            expires = conn.execute(select(_t.c.expires_at).where(_t.c.key_hash == _hash(key))).scalar()
        return None if expires is None else max(0, int((expires - utcnow()).total_seconds()))

    def purge_expired(self) -> int:
        """Remove sessions past their expiry; returns how many."""
        with self.engine.begin() as conn:
            return int(conn.execute(delete(_t).where(_t.c.expires_at <= utcnow())).rowcount)
