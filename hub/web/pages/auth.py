"""Sign-in, sign-out and the landing page."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Template

from hub.people.roles import Permission, Principal, can
from hub.people.service import BadCredentials
from hub.web.auth import PUBLIC, SESSION_UID
from hub.web.pages.common import field, page
from hub.web.sessions import ROTATE

__all__ = ["index", "login_form", "login_submit", "logout"]

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _safe_next(target: str) -> str:
    """Only a path on this site (never ``//elsewhere`` or a full URL)."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


@get("/login", opt={PUBLIC: True}, include_in_schema=False, sync_to_thread=False)
def login_form(request: Request[Any, Any, Any], next: FromQuery[str] = "/") -> Template:
    return page(request, None, "login.html", next=_safe_next(next), error="")


@post("/login", opt={PUBLIC: True}, include_in_schema=False)
async def login_submit(request: Request[Any, Any, Any], data: Form) -> Any:
    services = request.app.state.services
    target = _safe_next(field(data, "next", "/"))
    username = field(data, "username")[:64]
    try:
        who = await anyio.to_thread.run_sync(services.users.authenticate, username, field(data, "password")[:256])
    except BadCredentials as exc:
        return page(request, None, "login.html", 401, next=target, error=str(exc), username=username)
    request.set_session({SESSION_UID: who.user_id, ROTATE: True})
    return Redirect(target, status_code=303)


@post("/logout", include_in_schema=False)
async def logout(request: Request[Any, Any, Any], who: NamedDependency[Principal]) -> Redirect:
    await anyio.to_thread.run_sync(request.app.state.services.users.record_logout, who)
    request.clear_session()
    return Redirect("/login", status_code=303)


@get("/", include_in_schema=False, sync_to_thread=False)
def index(who: NamedDependency[Principal]) -> Redirect:
    for target, permission in (
        ("/queue", Permission.CASE_ACT),
        ("/overdue", Permission.OVERDUE_READ),
        ("/audit", Permission.AUDIT_READ),
        ("/calendar", Permission.CALENDAR_READ),
    ):
        if can(who, permission):
            return Redirect(target, status_code=303)
    return Redirect("/login", status_code=303)
