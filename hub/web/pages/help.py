"""Residents' calls for staff (``/help``): who is calling where, answered by a named person.

Everyone with ``help.answer`` (clerks, the manager, operators) sees the calls — all committees, or one
(``?committee=JW001``: the view a committee's own staff keep open); one who can go answers with
「我去处理」, and the kiosk then shows their name. The page refreshes itself every 10 seconds, flashes
and chimes (where the browser lets a page play sound) while a call waits unanswered."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import anyio
from litestar import Request, Router, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from hub.cases.queries import CaseQueries
from hub.fleet.help import HelpDesk
from hub.ingest.committees import CommitteeNames
from hub.people.roles import Permission, Principal
from hub.text import text
from hub.web.auth import PERMISSION
from hub.web.pages.common import flash, page, redirect_back
from protocol.envelope import utcnow

__all__ = ["help_router"]

RECENT = timedelta(hours=24)


@get("/", sync_to_thread=True, name="help:calls", include_in_schema=False)
def calls_page(
    request: Request[Any, Any, Any],
    who: NamedDependency[Principal],
    help_desk: NamedDependency[HelpDesk],
    committees: NamedDependency[CommitteeNames],
    cases: NamedDependency[CaseQueries],
    committee: FromQuery[str] = "",
    refresh: FromQuery[str] = "",
) -> Template:
    """``refresh=off``: the page does not reload itself (an accessibility review: a keyboard or screen
    reader user was sent back to the top every 10 s, WCAG 2.2.1)."""
    calls = help_desk.calls(committee or None, since=utcnow() - RECENT)
    waiting = sum(c.waiting for c in help_desk.calls())
    return page(
        request,
        who,
        "help.html",
        names=cases.department_names,
        calls=calls,
        committee=committee,
        committees=sorted(committees.all().items(), key=lambda kv: kv[1]),
        paused=refresh == "off",
        help_waiting=waiting,
        now=utcnow(),
    )


@post("/{alert_id:int}/ack", name="help:ack", include_in_schema=False)
async def acknowledge(
    request: Request[Any, Any, Any],
    who: NamedDependency[Principal],
    help_desk: NamedDependency[HelpDesk],
    alert_id: FromPath[int],
    committee: FromQuery[str] = "",
) -> Redirect:
    call = await anyio.to_thread.run_sync(help_desk.acknowledge, alert_id, who)
    flash(request, "ok", text("help", "answered", name=call.responder))
    return redirect_back("/help" + (f"?committee={committee}" if committee else ""))


def help_router() -> Router:
    """``/help``, for users with ``help.answer``."""
    return Router(path="/help", route_handlers=[calls_page, acknowledge], opt={PERMISSION: Permission.HELP_ANSWER})
