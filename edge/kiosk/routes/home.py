"""Welcome, the session's start and end, language, "call staff", the event stream and notices."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import ServerSentEvent, ServerSentEventMessage, Template

from edge.kiosk.context import LANG_COOKIE, SID_COOKIE, Kiosk, redirect
from edge.kiosk.gate import GATE_COOKIE, OPEN_PATH
from edge.kiosk.i18n import LANGS

__all__ = ["ROUTES"]

log = logging.getLogger(__name__)
KEEPALIVE_S = 15.0


def kiosk_of(request: Request[Any, Any, Any]) -> Kiosk:
    kiosk: Kiosk = request.app.state.kiosk
    return kiosk


def safe_next(path: str | None, default: str = "/") -> str:
    """A local path to return to: never another host, never a claim token."""
    if not path or not path.startswith("/") or path.startswith("//") or path.startswith("/claim/"):
        return default
    return path


def set_session_cookie(response: Response[Any], sid: str) -> None:
    response.set_cookie(SID_COOKIE, sid, httponly=True, samesite="strict", path="/")


@get(OPEN_PATH, sync_to_thread=False)
def open_kiosk(request: Request[Any, Any, Any], key: FromQuery[str] = "") -> Template | Response[Any]:
    """The way in for the kiosk's own browser (see :mod:`edge.kiosk.gate`): the right key sets the gate
    cookie; anything else opens nothing."""
    kiosk = kiosk_of(request)
    if not kiosk.gate.opens(key):
        log.warning("kiosk way in refused: wrong or missing key")
        return Response(content=kiosk.t(request)("gate.closed"), status_code=403, media_type="text/plain")
    page = kiosk.render(request, "opened.html")
    page.set_cookie(GATE_COOKIE, kiosk.gate.cookie_value, httponly=True, samesite="strict", path="/")
    return page


@get("/", sync_to_thread=False)
def welcome(request: Request[Any, Any, Any]) -> Template | Response[Any]:
    kiosk = kiosk_of(request)
    session = kiosk.session(request)
    if session is not None and session.holder is not None:
        return redirect("/services")
    ended = request.query_params.get("ended")
    ended = ended if ended in _ENDED else None
    return kiosk.render(request, "welcome.html", session=session, ended=ended, sscard=kiosk.sscard)


_ENDED = {"finish", "timeout", "session"}


@post("/browse", sync_to_thread=False)
def browse(request: Request[Any, Any, Any]) -> Response[Any]:
    session = kiosk_of(request).sessions.anonymous()
    response = redirect("/services")
    set_session_cookie(response, session.sid)
    return response


@post("/finish")
async def finish(request: Request[Any, Any, Any]) -> Response[Any]:
    kiosk = kiosk_of(request)
    form = await request.form()
    reason = "timeout" if form.get("reason") == "timeout" else "finish"
    kiosk.sessions.end(request.cookies.get(SID_COOKIE))
    response = redirect(f"/?ended={reason}")
    response.delete_cookie(SID_COOKIE)
    response.delete_cookie(LANG_COOKIE)  # the next resident starts in Chinese
    return response


@post("/session/extend", sync_to_thread=False)
def extend(request: Request[Any, Any, Any]) -> Response[Any]:
    """Activity on the page (or the warning's "continue" button): the idle clock starts again."""
    session = kiosk_of(request).session(request)
    return Response(content=b"", status_code=204 if session is not None else 410)


@post("/lang")
async def set_lang(request: Request[Any, Any, Any]) -> Response[Any]:
    form = await request.form()
    lang = str(form.get("lang", ""))
    response = redirect(safe_next(str(form.get("next", "/"))))
    if lang in LANGS:
        response.set_cookie(LANG_COOKIE, lang, httponly=True, samesite="strict", path="/")
    return response


@post("/help")
async def call_staff(request: Request[Any, Any, Any]) -> Response[Any]:
    """呼叫工作人员: raise an alarm the console and the hub see; the page says help is coming."""
    kiosk = kiosk_of(request)
    form = await request.form()
    session = kiosk.session(request)
    if session is not None:
        session.help_called = True
    await asyncio.to_thread(kiosk.runtime.help.call)
    log.info("resident called staff at the kiosk")
    target = safe_next(str(form.get("next", "/")))
    return redirect(target + ("&" if "?" in target else "?") + "help=1")


@get("/notice/{token:str}", sync_to_thread=False)
def notice(request: Request[Any, Any, Any], token: FromPath[str]) -> Template:
    kiosk = kiosk_of(request)
    found = kiosk.events.notice(token)
    t = kiosk.t(request)
    key = found.key if found and t.has(f"notice.{found.key}") else "card.card_refused"
    detail = found.detail if found and kiosk.lang(request) == "zh" else ""
    return kiosk.render(request, "message.html", title_key="notice.title", message_key=f"notice.{key}", detail=detail)


@get("/events")
async def events(request: Request[Any, Any, Any]) -> ServerSentEvent:
    """The page's event stream: where to go when a card is tapped, a code scanned or the session ends."""
    kiosk = kiosk_of(request)
    sub = kiosk.events.subscribe(request.cookies.get(SID_COOKIE))

    async def stream() -> AsyncIterator[ServerSentEventMessage]:
        try:
            yield ServerSentEventMessage(comment="hello", retry=1000)
            while True:
                try:
                    data = await asyncio.wait_for(sub.queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield ServerSentEventMessage(comment="keepalive")
                    continue
                yield ServerSentEventMessage(data=data)
        finally:
            kiosk.events.unsubscribe(sub)

    return ServerSentEvent(stream(), headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


ROUTES = [open_kiosk, welcome, browse, finish, extend, set_lang, call_staff, notice, events]
