"""Server-side sessions in the hub database, shared by every web worker; only key hashes are stored.

:class:`DbStore` is a Litestar store over the ``web_sessions`` table (:mod:`hub.people.sessions`): browser
sessions (the session middleware) and API tokens live there. :class:`RotatingSessionConfig` gives a
signed-in user a fresh session id, so an id planted before sign-in (session fixation) is worth nothing
after it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

import anyio
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.middleware.session.server_side import ServerSideSessionBackend, ServerSideSessionConfig
from litestar.stores.base import Store
from litestar.types import Empty
from litestar.utils.dataclass import extract_dataclass_items

from hub.people.sessions import SessionTable

if TYPE_CHECKING:
    from litestar.connection import ASGIConnection
    from litestar.types import Message, ScopeSession

__all__ = ["API_TOKEN_PREFIX", "ROTATE", "DbStore", "RotatingSessionConfig"]

API_TOKEN_PREFIX = "api:"
"""The store's keys of API tokens (``api:<token>``); a browser session's key never starts so. A cookie
naming one is no session: a web review signed in to the pages with ``hub_session=api:<token>``, and each
page then stretched the token's fixed life."""

ROTATE = "_rotate"
"""Put ``{ROTATE: True}`` in the session to have it saved under a new id (done at sign-in)."""


def _seconds(value: int | timedelta | None) -> float | None:
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class DbStore(Store):
    """A Litestar :class:`~litestar.stores.base.Store` over :class:`~hub.people.sessions.SessionTable`."""

    PURGE_EVERY_S = 600.0

    def __init__(self, table: SessionTable) -> None:
        self.table = table
        self._purged = 0.0

    def _set(self, key: str, value: bytes, expires_in: float | None) -> None:
        self.table.put(key, value, expires_in)
        if time.monotonic() - self._purged > self.PURGE_EVERY_S:  # expired sessions go, now and then
            self._purged = time.monotonic()
            self.table.purge_expired()

    # the Store interface; the table's calls block, so they run in a worker thread
    async def set(self, key: str, value: str | bytes, expires_in: int | timedelta | None = None) -> None:
        data = value.encode() if isinstance(value, str) else value
        await anyio.to_thread.run_sync(self._set, key, data, _seconds(expires_in))

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        return await anyio.to_thread.run_sync(self.table.get, key, _seconds(renew_for))

    async def delete(self, key: str) -> None:
        await anyio.to_thread.run_sync(self.table.delete, key)

    async def delete_all(self) -> None:
        await anyio.to_thread.run_sync(self.table.delete_all)

    async def exists(self, key: str) -> bool:
        return await self.get(key) is not None

    async def expires_in(self, key: str) -> int | None:
        return await anyio.to_thread.run_sync(self.table.expires_in, key)


_LOADED = "shegong.session_loaded"


class _RotatingBackend(ServerSideSessionBackend):
    """Litestar's backend, but an empty session is never kept: Litestar stored ``{}`` under a new id for
    every request that came without a cookie — a row in the hub database (a write transaction, on SQLite
    the one write lock ingest also needs) and a cookie for each visitor of the public portal, the sign-in
    page or a 404, at anyone's will. Now a request with nothing in its session writes nothing, and a
    session emptied by its request is deleted as a cleared one is."""

    def _cookie_params(self) -> dict[str, Any]:
        return dict(extract_dataclass_items(self.config, exclude_none=True, include=Cookie.__dict__.keys()))

    async def load_from_connection(self, connection: ASGIConnection[Any, Any, Any, Any]) -> dict[str, Any]:
        if connection.cookies.get(self.config.key, "").startswith(API_TOKEN_PREFIX):
            data: dict[str, Any] = {}  # an API token is no session (its cookie is expired on the way out)
        else:
            data = await super().load_from_connection(connection)
        cast("dict[str, Any]", connection.scope)[_LOADED] = bool(data)
        return data

    async def store_in_message(
        self, scope_session: ScopeSession, message: Message, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> None:
        if isinstance(scope_session, dict) and not scope_session:
            if cast("dict[str, Any]", connection.scope).get(_LOADED):
                scope_session = Empty  # it had something, now nothing: deleted, its cookie expired
            else:
                if connection.cookies.get(self.config.key, "null") != "null":  # it names nothing kept: forget it
                    params = {**self._cookie_params(), "max_age": 0}  # Max-Age outranks Expires in a browser
                    cookie = Cookie(value="null", key=self.config.key, expires=0, **params)
                    MutableScopeHeaders.from_message(message).add("Set-Cookie", cookie.to_header(header=""))
                return
        if not (isinstance(scope_session, dict) and scope_session.pop(ROTATE, False)):
            await super().store_in_message(scope_session, message, connection)
            return
        store = self.config.get_store_from_app(connection.scope["app"])
        old = connection.cookies.get(self.config.key)
        if old and old != "null":
            await self.delete(old, store=store)
        session_id = self.generate_session_id()
        await self.set(session_id, self.serialize_data(scope_session, connection.scope), store=store)
        cookie = Cookie(value=session_id, key=self.config.key, **self._cookie_params())
        MutableScopeHeaders.from_message(message).add("Set-Cookie", cookie.to_header(header=""))


@dataclass
class RotatingSessionConfig(ServerSideSessionConfig):
    """Server-side sessions whose id changes at sign-in (see :data:`ROTATE`)."""

    _backend_class = _RotatingBackend
