"""``/api/auth``: exchange a user name and password for a bearer token; give it back; who am I."""

from __future__ import annotations

from typing import Any

import anyio
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from hub.people.roles import ROLE_PERMISSIONS, Principal
from hub.people.service import Users
from hub.settings import WebSettings
from hub.web.api.schemas import LoginIn, MeOut, TokenOut, errors
from hub.web.auth import PUBLIC, client_of, issue_token, revoke_token

__all__ = ["login", "logout", "me", "me_out"]


def me_out(who: Principal) -> MeOut:
    return MeOut(
        user_id=who.user_id,
        username=who.username,
        display_name=who.display_name,
        role=who.role.value,
        departments=sorted(who.departments),
        permissions=sorted(p.value for p in ROLE_PERMISSIONS[who.role]),
    )


@post("/auth/login", opt={PUBLIC: True}, responses=errors(401, 429), security=[], tags=["auth"])
async def login(
    request: Request[Any, Any, Any],
    users: NamedDependency[Users],
    web_config: NamedDependency[WebSettings],
    data: JSONBody[LoginIn],
) -> TokenOut:
    """A bearer token for the user (good for ``token_max_age_s``; it ends sooner if their password changes).

    A client that keeps failing must wait between attempts: 429 with ``Retry-After``. Sign-ins are audited;
    failures are counted per hour, client and user name.
    """
    who = await anyio.to_thread.run_sync(users.authenticate, data.username, data.password, client_of(request))
    max_age = web_config.token_max_age_s
    token = await issue_token(request, who, max_age)
    return TokenOut(token=token, expires_in=max_age, user=me_out(who))


@post("/auth/logout", status_code=HTTP_204_NO_CONTENT, responses=errors(401), tags=["auth"])
async def logout(
    request: Request[Any, Any, Any], who: NamedDependency[Principal], users: NamedDependency[Users]
) -> None:
    await revoke_token(request)
    await anyio.to_thread.run_sync(users.record_logout, who)


@get("/me", responses=errors(401), tags=["auth"], sync_to_thread=False)
def me(who: NamedDependency[Principal]) -> MeOut:
    return me_out(who)
