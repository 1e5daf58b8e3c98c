"""Who is asking: the one guard every route passes, and sign-in/sign-out helpers.

Pages use the server-side session cookie (with CSRF on every form); the JSON API under ``/api`` uses
only ``Authorization: Bearer <token>`` (tokens from ``POST /api/auth/login``), never the cookie, so a
forged cross-site request carries no credentials there. Routes are closed unless marked public; a route
names the :class:`~hub.people.roles.Permission` it needs in ``opt``, and the guard checks it with the
same :func:`~hub.people.roles.authorize` the services use for department scoping.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import anyio
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.stores.base import Store

from hub.errors import HubError
from hub.people.roles import Permission, Principal, authorize

__all__ = [
    "PERMISSION",
    "PUBLIC",
    "SESSION_UID",
    "NotAuthenticated",
    "guard",
    "is_api",
    "issue_token",
    "provide_who",
    "revoke_token",
]

PUBLIC = "public"
PERMISSION = "permission"
SESSION_UID = "uid"
_TOKEN_PREFIX = "api:"


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


async def issue_token(request: Request[Any, Any, Any], who: Principal, max_age_s: int) -> str:
    token = secrets.token_urlsafe(32)
    data = json.dumps({SESSION_UID: who.user_id})
    await _store(request).set(_TOKEN_PREFIX + token, data, expires_in=max_age_s)
    return token


async def revoke_token(request: Request[Any, Any, Any]) -> None:
    token = _bearer(request)
    if token:
        await _store(request).delete(_TOKEN_PREFIX + token)


async def _uid(connection: ASGIConnection[Any, Any, Any, Any]) -> int | None:
    if is_api(connection):
        token = _bearer(connection)
        if not token or len(token) > 128:
            return None
        raw = await _store(connection).get(_TOKEN_PREFIX + token)
        value = json.loads(raw)[SESSION_UID] if raw else None
    else:
        value = connection.session.get(SESSION_UID) if "session" in connection.scope else None
    return value if isinstance(value, int) else None


async def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """The one gate: sign-in required unless the route is public; then the route's permission."""
    if handler.opt.get(PUBLIC) or connection.scope["path"].startswith("/schema"):
        return
    uid = await _uid(connection)
    services = connection.app.state.services
    who = await anyio.to_thread.run_sync(services.users.principal, uid) if uid is not None else None
    if who is None:
        raise NotAuthenticated("请先登录" if not is_api(connection) else "sign in first: Authorization: Bearer <token>")
    connection.state.principal = who
    permission: Permission | None = handler.opt.get(PERMISSION)
    if permission is not None:
        authorize(who, permission)


def provide_who(request: Request[Any, Any, Any]) -> Principal:
    """The principal the guard established (a dependency named ``who``)."""
    who: Principal = request.state.principal
    return who
