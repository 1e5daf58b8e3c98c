"""Sign-in, sign-out, a user's own password change, and the landing page."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Template

from hub.cases.queries import CaseQueries
from hub.people.passwords import MIN_LENGTH
from hub.people.roles import Principal
from hub.people.service import BadCredentials, InvalidUser, Users
from hub.people.throttle import TooManyAttempts
from hub.text import text
from hub.web.auth import PUBLIC, client_of, signed_in
from hub.web.chrome import landing
from hub.web.pages.common import field, page
from hub.web.sessions import ROTATE

__all__ = ["index", "login_form", "login_submit", "logout", "password_form", "password_submit"]

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _safe_next(target: str) -> str:
    """Only a path on this site (never ``//elsewhere`` or a full URL)."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


def _too_many(response: Template, exc: TooManyAttempts) -> Template:
    response.headers["Retry-After"] = str(exc.retry_after_s)
    return response


@get("/login", opt={PUBLIC: True}, include_in_schema=False, sync_to_thread=False)
def login_form(request: Request[Any, Any, Any], next: FromQuery[str] = "/") -> Template:
    return page(request, None, "login.html", next=_safe_next(next), error="")


@post("/login", opt={PUBLIC: True}, include_in_schema=False)
async def login_submit(request: Request[Any, Any, Any], users: NamedDependency[Users], data: Form) -> Any:
    target = _safe_next(field(data, "next", "/"))
    username = field(data, "username")[:64]
    password = field(data, "password")[:256]
    try:
        who = await anyio.to_thread.run_sync(users.authenticate, username, password, client_of(request))
    except BadCredentials as exc:
        return page(request, None, "login.html", 401, next=target, error=str(exc), username=username)
    except TooManyAttempts as exc:
        answer = page(request, None, "login.html", 429, next=target, error=str(exc), username=username)
        return _too_many(answer, exc)
    request.set_session({**signed_in(who), ROTATE: True})
    return Redirect(target, status_code=303)


@post("/logout", include_in_schema=False)
async def logout(
    request: Request[Any, Any, Any], who: NamedDependency[Principal], users: NamedDependency[Users]
) -> Redirect:
    await anyio.to_thread.run_sync(users.record_logout, who)
    request.clear_session()
    return Redirect("/login", status_code=303)


@get("/password", include_in_schema=False, sync_to_thread=False)
def password_form(
    request: Request[Any, Any, Any], who: NamedDependency[Principal], cases: NamedDependency[CaseQueries]
) -> Template:
    return page(request, who, "password.html", names=cases.department_names, error="")


@post("/password", include_in_schema=False)
async def password_submit(
    request: Request[Any, Any, Any],
    who: NamedDependency[Principal],
    users: NamedDependency[Users],
    cases: NamedDependency[CaseQueries],
    data: Form,
) -> Any:
    """The user's own new password; then every session of theirs ends, this one too: sign in again."""
    names = cases.department_names
    current, new = field(data, "current")[:256], field(data, "new")[:256]
    error = text("flash", "password_mismatch") if new != field(data, "again")[:256] else ""
    if not error:
        try:
            await anyio.to_thread.run_sync(users.change_own_password, who.username, current, new, client_of(request))
        except BadCredentials:
            error = text("flash", "password_wrong")
        except InvalidUser:
            error = text("flash", "password_weak", length=MIN_LENGTH)
        except TooManyAttempts as exc:
            return _too_many(page(request, who, "password.html", 429, names=names, error=str(exc)), exc)
    if error:
        return page(request, who, "password.html", 400, names=names, error=error)
    request.set_session({"flash": [["ok", text("flash", "password_changed")]], ROTATE: True})
    return Redirect("/login", status_code=303)


@get("/", include_in_schema=False, sync_to_thread=False)
def index(who: NamedDependency[Principal]) -> Redirect:
    """The signed-in user's landing page (:func:`hub.web.chrome.landing`)."""
    return Redirect(landing(who), status_code=303)
