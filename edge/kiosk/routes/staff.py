"""Staff mode: a social worker logs in with a PIN to submit on a resident's behalf (代办) and tick materials."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Template

from edge.kiosk.context import redirect
from edge.kiosk.routes.home import kiosk_of, safe_next, set_session_cookie
from edge.kiosk.staff import StaffLocked

__all__ = ["ROUTES"]

log = logging.getLogger(__name__)
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


@get("/staff", sync_to_thread=False)
def staff_login(request: Request[Any, Any, Any], next: str = "/services") -> Template:  # noqa: A002
    kiosk = kiosk_of(request)
    return kiosk.render(request, "staff.html", next=safe_next(next, "/services"), error=None)


@post("/staff", sync_to_thread=True)
def staff_login_post(request: Request[Any, Any, Any], data: Form) -> Response[Any] | Template:
    kiosk = kiosk_of(request)
    staff_id = str(data.get("staff_id", "")).strip()[:32]
    pin = str(data.get("pin", ""))[:32]
    target = safe_next(str(data.get("next", "/services")), "/services")
    try:
        ok = kiosk.staff.login(staff_id, pin)
    except StaffLocked as exc:
        return kiosk.render(request, "staff.html", next=target, error="staff.locked", retry=int(exc.retry_in) + 1)
    if not ok:
        log.warning("kiosk staff login refused")
        return kiosk.render(request, "staff.html", next=target, error="staff.wrong_pin")
    session = kiosk.session(request)
    response = redirect(target)
    if session is None:
        session = kiosk.sessions.anonymous()
        set_session_cookie(response, session.sid)
    session.staff_id = staff_id
    session.help_called = False
    kiosk.runtime.alarms.clear("help_requested")
    log.info("staff %s logged in at the kiosk", staff_id)
    return response


@post("/staff/logout", sync_to_thread=False)
def staff_logout(request: Request[Any, Any, Any], data: Form) -> Response[Any]:
    kiosk = kiosk_of(request)
    session = kiosk.session(request)
    if session is not None:
        session.staff_id = None
    return redirect(safe_next(str(data.get("next", "/")), "/"))


ROUTES = [staff_login, staff_login_post, staff_logout]
