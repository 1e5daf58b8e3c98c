"""The kiosk's Litestar app: pages, the event stream, CSRF, no-store headers and one error mapper."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from litestar import Litestar, Request, Response
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import MutableScopeHeaders, State
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.template.config import TemplateConfig
from litestar.types import Message, Scope

from edge.errors import EdgeError, StorageFailed, StorageFull
from edge.kiosk.context import SID_COOKIE, Kiosk, NoSession, Printer, redirect
from edge.kiosk.events import KioskEvents
from edge.kiosk.gate import GATE_COOKIE, OPEN_PATH, KioskGate
from edge.kiosk.ime import PinyinIndex
from edge.kiosk.routes import ROUTES
from edge.kiosk.session import SessionStore
from edge.kiosk.staff import StaffDirectory
from edge.settings import KioskSettings
from edge.store.cases import InvalidApplicant
from edge.store.ratings import AlreadyRated
from protocol.catalogue import Catalogue, load_seed
from protocol.workdays import WorkCalendar, load_seed_calendar

__all__ = ["build_kiosk", "create_app"]

log = logging.getLogger(__name__)

_HERE = Path(__file__).parent
_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'",
}


def build_kiosk(
    runtime: Any,
    devices: Printer | None = None,
    *,
    config: KioskSettings | None = None,
    catalogue: Catalogue | None = None,
    calendar: WorkCalendar | None = None,
    gate: KioskGate | None = None,
) -> Kiosk:
    """The kiosk's parts; ``gate`` is the way in for its browser (a new one, for this process, if None)."""
    config = config or runtime.settings.kiosk
    staff = StaffDirectory(config.staff_pins)
    if not staff.enabled:
        log.info("kiosk staff mode off: no staff PINs provisioned ([kiosk] staff_pins, docs/kiosk.md)")
    # Pages ping at most every ping_every_s: the server waits that much longer than the page's own timer,
    # so the warning a page shows is never cut short by the server.
    ping = max(0.5, min(5.0, config.warn_before_s / 4))
    sessions = SessionStore(
        config.idle_timeout_s + ping,
        config.warn_before_s,
        area=runtime.settings.committee_area,
        staff_signin=config.staff_signin_s,
    )
    if catalogue is not None:
        fixed = catalogue
        source: Callable[[], Catalogue] = lambda: fixed  # noqa: E731
    elif hasattr(getattr(runtime, "catalogue", None), "current"):
        source = runtime.catalogue.current  # the seed until the hub publishes one
    else:
        seed = load_seed()
        source = lambda: seed  # noqa: E731
    if calendar is not None:
        fixed_calendar = calendar
        calendar_source: Callable[[], WorkCalendar] = lambda: fixed_calendar  # noqa: E731
    elif hasattr(getattr(runtime, "calendar", None), "current"):
        calendar_source = runtime.calendar.current  # the seed until the hub's arrives
    else:
        seed_calendar = load_seed_calendar()
        calendar_source = lambda: seed_calendar  # noqa: E731
    kiosk = Kiosk(
        runtime=runtime,
        config=config,
        catalogue=source,
        calendar=calendar_source,
        sessions=sessions,
        events=KioskEvents(sessions),
        staff=staff,
        printer=devices,
        gate=gate or KioskGate(),
        ime=PinyinIndex(config.ime_path(runtime.settings.data_dir)),
    )
    if devices is not None and hasattr(devices, "on_event") and devices.on_event is None:
        devices.on_event = kiosk.events.on_device_event
    if hasattr(runtime, "on_staff_pins"):  # a PIN reset from the console holds at once, without a restart
        runtime.on_staff_pins.append(staff.reload)
    if hasattr(runtime, "help"):  # the hub answered a call for staff: the pages show who is coming
        runtime.help.on_answer.append(lambda answer: kiosk.events.publish({"help": answer.responder}))
    return kiosk


def create_app(runtime: Any, devices: Printer | None = None, **options: Any) -> Litestar:
    """The kiosk app for ``runtime`` (an EdgeRuntime) and ``devices`` (a DeviceService, or None).

    ``options`` go to :func:`build_kiosk` (``config``, ``catalogue``, ``calendar``, ``gate``). The app's
    ``state.kiosk`` is the :class:`Kiosk`; its device events are wired when the service has no handler.
    """
    kiosk = build_kiosk(runtime, devices, **options)

    @asynccontextmanager
    async def sweeper(app: Litestar) -> AsyncIterator[None]:
        async def sweep() -> None:
            while True:
                await asyncio.sleep(0.5)
                ended = kiosk.sessions.expire()
                if ended:
                    log.info("%d kiosk session(s) ended after idling", len(ended))
                    kiosk.events.ended(ended, "timeout")

        task = asyncio.create_task(sweep())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if kiosk.ime is not None:
                kiosk.ime.close()  # a build still running stops with the kiosk (the next start builds again)

    env = Environment(
        loader=PackageLoader("edge.kiosk", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        auto_reload=False,  # templates ship with the package: no stat() per render
        trim_blocks=True,
        lstrip_blocks=True,
    )
    app = Litestar(
        route_handlers=[
            *ROUTES,
            create_static_files_router(path="/static", directories=[_HERE / "static"], opt={"exclude_from_csrf": True}),
        ],
        template_config=TemplateConfig(instance=JinjaTemplateEngine.from_environment(env)),
        csrf_config=CSRFConfig(secret=secrets.token_hex(32), cookie_samesite="strict", exclude=["/static", "/events"]),
        exception_handlers={
            NoSession: _no_session,
            EdgeError: _edge_error,
            NotFoundException: _not_found,
            PermissionDeniedException: _forbidden,
            HTTP_500_INTERNAL_SERVER_ERROR: _failed,
        },
        before_request=_gate_keeper,
        before_send=[_headers],
        lifespan=[sweeper],
        logging_config=None,  # the process's logging is set once by the shegong command
        state=State({"kiosk": kiosk}),
        debug=False,
    )
    return app


async def _gate_keeper(request: Request[Any, Any, Any]) -> Response[Any] | None:
    """Only the browser that came in through the gate (:mod:`edge.kiosk.gate`) is served: other clients of
    the port get no event stream (no claim token), no claim, no page and no form.

    Async though it never awaits: Litestar runs a plain function hook in its thread pool, a hop between
    threads on every request (a quarter of a page's time at the kiosk, more while other threads run)."""
    path = request.url.path
    if path == OPEN_PATH or path.startswith("/static/"):
        return None
    kiosk = _kiosk(request)
    if kiosk.gate.admits(request.cookies.get(GATE_COOKIE)):
        return None
    log.warning("kiosk refused a client without the gate cookie (%s)", "event stream" if path == "/events" else "page")
    return Response(content=kiosk.t(request)("gate.closed"), status_code=403, media_type="text/plain")


async def _headers(message: Message, scope: Scope) -> None:
    """The kiosk's headers on every answer (no-store above all: a page may greet the holder by name). A
    ``before_send`` hook: an after-request one missed the error handlers' answers, and a review found a 404
    page with the holder's name in the kiosk browser's disk cache."""
    if message["type"] == "http.response.start":
        headers = MutableScopeHeaders.from_message(message)
        for key, value in _SECURITY_HEADERS.items():
            headers.setdefault(key, value)


def _kiosk(request: Request[Any, Any, Any]) -> Kiosk:
    kiosk: Kiosk = request.app.state.kiosk
    return kiosk


def _no_session(request: Request[Any, Any, Any], _exc: Exception) -> Response[Any]:
    response = redirect("/?ended=session")
    response.delete_cookie(SID_COOKIE)
    return response


_ERROR_KEYS: tuple[tuple[type[EdgeError], str], ...] = (
    (StorageFull, "error.storage_full"),
    (StorageFailed, "error.storage_failed"),
    (InvalidApplicant, "error.invalid_applicant"),
    (AlreadyRated, "error.already_rated"),
)


def _edge_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    kiosk = _kiosk(request)
    key = next((k for cls, k in _ERROR_KEYS if isinstance(exc, cls)), "error.generic")
    log.warning("kiosk refused a request: %s", type(exc).__name__)
    detail = str(exc) if kiosk.lang(request) == "zh" else ""
    return _page(request, "error.title", key, 409, detail)


def _not_found(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    return _page(request, "error.title", "error.not_found", 404)


def _forbidden(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    return _page(request, "error.title", "error.expired", 403)


def _failed(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A fault of the kiosk's own: logged with its traceback for the operator (the app logs nothing
    itself), and the resident asked to call staff, in their language."""
    log.error("kiosk page %s failed", request.url.path, exc_info=exc)
    return _page(request, "error.title", "error.generic", 500)


def _page(request: Request[Any, Any, Any], title: str, message: str, status: int, detail: str = "") -> Response[Any]:
    template = _kiosk(request).render(request, "message.html", title_key=title, message_key=message, detail=detail)
    template.status_code = status
    return template
