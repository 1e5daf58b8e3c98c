"""Who is asking: the one guard every route passes, and sign-in/sign-out helpers.

Pages use the server-side session cookie (with CSRF on every form); the JSON API under ``/api`` uses
only ``Authorization: Bearer <token>`` (tokens from ``POST /api/auth/login``), never the cookie, so a
forged cross-site request carries no credentials there. Routes are closed unless marked public; a route
names the :class:`~hub.people.roles.Permission` it needs in ``opt``, and the guard checks it with the
same :func:`~hub.people.roles.authorize` the services use for department scoping.

A session or token remembers when it was made and the user's session epoch then: a browser session ends
``session_absolute_s`` after sign-in however busy it is, and every session and token of a user ends when
their password changes or they are disabled (the epoch moves on).
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import anyio
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.stores.base import Store

from hub.errors import HubError
from hub.people.roles import Permission, Principal, authorize
from hub.people.service import Users
from hub.people.throttle import client_key
from hub.settings import WebSettings
from hub.text import text
from hub.web.sessions import API_TOKEN_PREFIX

__all__ = [
    "PERMISSION",
    "PUBLIC",
    "SESSION_UID",
    "Guard",
    "NotAuthenticated",
    "client_of",
    "is_api",
    "principal_of",
    "issue_token",
    "provide_who",
    "revoke_token",
    "signed_in",
]

PUBLIC = "public"
PERMISSION = "permission"
SESSION_UID = "uid"
SESSION_EPOCH = "epoch"
SESSION_SINCE = "since"


class NotAuthenticated(HubError):
    status_code = 401


def is_api(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    path: str = connection.scope["path"]
    return path == "/api" or path.startswith("/api/")


def _bearer(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def _store(connection: ASGIConnection[Any, Any, Any, Any]) -> Store:
    return connection.app.stores.get("sessions")


def client_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """Who is asking, for the sign-in backoff: the peer's address (or, behind a trusted proxy, the address
    it forwards; see ``web_trusted_proxies``)."""
    return client_key(connection.client.host if connection.client else None)


def signed_in(who: Principal) -> dict[str, Any]:
    """What a new session or token holds: the user, their session epoch, and when (for the absolute limit)."""
    return {SESSION_UID: who.user_id, SESSION_EPOCH: who.session_epoch, SESSION_SINCE: round(time.time(), 3)}


async def issue_token(request: Request[Any, Any, Any], who: Principal, max_age_s: int) -> str:
    token = secrets.token_urlsafe(32)
    data = json.dumps(signed_in(who))
    await _store(request).set(API_TOKEN_PREFIX + token, data, expires_in=max_age_s)
    return token


async def revoke_token(request: Request[Any, Any, Any]) -> None:
    token = _bearer(request)
    if token:
        await _store(request).delete(API_TOKEN_PREFIX + token)


@dataclass(frozen=True, slots=True)
class _Signed:
    uid: int
    epoch: int
    since: float


def _signed(data: Any) -> _Signed | None:
    if not isinstance(data, dict):
        return None
    uid, epoch, since = data.get(SESSION_UID), data.get(SESSION_EPOCH), data.get(SESSION_SINCE)
    if isinstance(uid, int) and isinstance(epoch, int) and isinstance(since, int | float):
        return _Signed(uid, epoch, float(since))
    return None  # also a session from before epochs and sign-in times: signed in again once


class Guard:
    """The one gate every route passes: sign-in required unless the route is public; then the route's
    permission. Over the users (who a session or token names) and the web options (how long a browser
    session may live)."""

    def __init__(self, users: Users, config: WebSettings) -> None:
        self.users = users
        self.config = config

    async def _session(self, connection: ASGIConnection[Any, Any, Any, Any]) -> _Signed | None:
        """The token's or the session's sign-in, or None; a browser session past its absolute limit ends."""
        if is_api(connection):  # a token's own expiry is absolute: it is never renewed
            token = _bearer(connection)
            if not token or len(token) > 128:
                return None
            raw = await _store(connection).get(API_TOKEN_PREFIX + token)
            return _signed(json.loads(raw)) if raw else None
        if "session" not in connection.scope:
            return None
        signed = _signed(connection.session)
        if signed is None:
            return None
        if time.time() - signed.since > self.config.session_absolute_s:
            connection.clear_session()  # deleted from the store as the answer goes out
            return None
        return signed

    async def __call__(self, connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        if handler.opt.get(PUBLIC) or connection.scope["path"].startswith("/schema"):
            return
        signed = await self._session(connection)
        who = (
            await anyio.to_thread.run_sync(self.users.principal, signed.uid, signed.epoch)
            if signed is not None
            else None
        )
        if who is None:
            raise NotAuthenticated(
                text("web", "sign_in_first")
                if not is_api(connection)
                else "sign in first: Authorization: Bearer <token>"
            )
        connection.state.principal = who
        permission: Permission | None = handler.opt.get(PERMISSION)
        if permission is not None:
            authorize(who, permission)


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    """The principal the guard established for this request, if it did (a public route has none)."""
    who = connection.state.get("principal")
    return who if isinstance(who, Principal) else None


def provide_who(request: Request[Any, Any, Any]) -> Principal:
    """The principal the guard established (a dependency named ``who``)."""
    who = principal_of(request)
    if who is None:
        raise NotAuthenticated(text("web", "sign_in_first"))
    return who
