"""Server-side sessions in the hub database, shared by every web worker; only key hashes are stored.

:class:`DbStore` is a Litestar store over the ``web_sessions`` table: browser sessions (the session
middleware) and API tokens live there. :class:`RotatingSessionConfig` gives a signed-in user a fresh
session id, so an id planted before sign-in (session fixation) is worth nothing after it.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import anyio
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.middleware.session.server_side import ServerSideSessionBackend, ServerSideSessionConfig
from litestar.stores.base import Store
from litestar.utils.dataclass import extract_dataclass_items
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from hub.db.models import WebSessionRow, table
from protocol.envelope import utcnow

if TYPE_CHECKING:
    from litestar.connection import ASGIConnection
    from litestar.types import Message, ScopeSession

__all__ = ["ROTATE", "DbStore", "RotatingSessionConfig"]

_t = table(WebSessionRow)
ROTATE = "_rotate"
"""Put ``{ROTATE: True}`` in the session to have it saved under a new id (done at sign-in)."""


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _seconds(value: int | timedelta | None) -> float | None:
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class DbStore(Store):
    """A Litestar :class:`~litestar.stores.base.Store` in the hub database (SQLite or PostgreSQL)."""

    PURGE_EVERY_S = 600.0

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self._purged = 0.0

    # blocking halves, run in a worker thread
    def _set(self, key: str, value: bytes, expires_in: float | None) -> None:
        expires = utcnow() + timedelta(seconds=expires_in) if expires_in else None
        stmt = self._insert(_t).values(key_hash=_hash(key), data=value, expires_at=expires)
        with self.engine.begin() as conn:
            conn.execute(
                stmt.on_conflict_do_update(index_elements=["key_hash"], set_={"data": value, "expires_at": expires})
            )
        if time.monotonic() - self._purged > self.PURGE_EVERY_S:  # expired sessions go, now and then
            self._purged = time.monotonic()
            self.purge_expired()

    def _get(self, key: str, renew_for: float | None) -> bytes | None:
        now = utcnow()
        with self.engine.connect() as conn:
            row = conn.execute(select(_t.c.data, _t.c.expires_at).where(_t.c.key_hash == _hash(key))).first()
        if row is None or (row.expires_at is not None and row.expires_at <= now):
            return None
        if renew_for and row.expires_at is not None:
            with self.engine.begin() as conn:
                conn.execute(
                    update(_t).where(_t.c.key_hash == _hash(key)).values(expires_at=now + timedelta(seconds=renew_for))
                )
        return bytes(row.data)

    def _delete(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(_t).where(_t.c.key_hash == _hash(key)))

    def _expires_in(self, key: str) -> int | None:
        with self.engine.connect() as conn:
            expires = conn.execute(select(_t.c.expires_at).where(_t.c.key_hash == _hash(key))).scalar()
        return None if expires is None else max(0, int((expires - utcnow()).total_seconds()))

    def purge_expired(self) -> int:
        """Remove sessions past their expiry; returns how many."""
        with self.engine.begin() as conn:
            return conn.execute(delete(_t).where(_t.c.expires_at <= utcnow())).rowcount

    # the Store interface
    async def set(self, key: str, value: str | bytes, expires_in: int | timedelta | None = None) -> None:
        data = value.encode() if isinstance(value, str) else value
        await anyio.to_thread.run_sync(self._set, key, data, _seconds(expires_in))

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        return await anyio.to_thread.run_sync(self._get, key, _seconds(renew_for))

    async def delete(self, key: str) -> None:
        await anyio.to_thread.run_sync(self._delete, key)

    async def delete_all(self) -> None:
        def _all() -> None:
            with self.engine.begin() as conn:
                conn.execute(delete(_t))

        await anyio.to_thread.run_sync(_all)

    async def exists(self, key: str) -> bool:
        return await self.get(key) is not None

    async def expires_in(self, key: str) -> int | None:
        return await anyio.to_thread.run_sync(self._expires_in, key)


class _RotatingBackend(ServerSideSessionBackend):
    async def store_in_message(
        self, scope_session: ScopeSession, message: Message, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> None:
        if not (isinstance(scope_session, dict) and scope_session.pop(ROTATE, False)):
            await super().store_in_message(scope_session, message, connection)
            return
        store = self.config.get_store_from_app(connection.scope["app"])
        old = connection.cookies.get(self.config.key)
        if old and old != "null":
            await self.delete(old, store=store)
        session_id = self.generate_session_id()
        await self.set(session_id, self.serialize_data(scope_session, connection.scope), store=store)
        params = dict(extract_dataclass_items(self.config, exclude_none=True, include=Cookie.__dict__.keys()))
        cookie = Cookie(value=session_id, key=self.config.key, **params)
        MutableScopeHeaders.from_message(message).add("Set-Cookie", cookie.to_header(header=""))


@dataclass
class RotatingSessionConfig(ServerSideSessionConfig):
    """Server-side sessions whose id changes at sign-in (see :data:`ROTATE`)."""

    _backend_class = _RotatingBackend
