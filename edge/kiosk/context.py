"""The kiosk's parts for one process, and what every page needs from them (language, session, rendering)."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from cachetools import LRUCache
from litestar import Request
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from markupsafe import Markup

from edge.devices.errors import DeviceError, PrinterNotReady
from edge.devices.escpos import Receipt
from edge.kiosk.directory import Directory
from edge.kiosk.events import KioskEvents
from edge.kiosk.gate import KioskGate
from edge.kiosk.i18n import DEFAULT_LANG, LANGS, Translator, translator
from edge.kiosk.ime import PinyinIndex
from edge.kiosk.session import KioskSession, SessionStore
from edge.kiosk.staff import StaffDirectory
from edge.kiosk.throttle import Throttle
from edge.settings import KioskSettings
from edge.sync.agent import LinkState
from protocol.catalogue import Catalogue
from protocol.idnumber import mask
from protocol.localtime import LOCAL_TZ
from protocol.workdays import WorkCalendar

__all__ = ["LANG_COOKIE", "PAGE_CACHE_BYTES", "SID_COOKIE", "Kiosk", "NoSession", "Printer", "local"]

log = logging.getLogger(__name__)

SID_COOKIE = "kiosk_sid"
LANG_COOKIE = "kiosk_lang"
PAGE_CACHE_BYTES = 2 * 2**20
"""Memory for rendered page bodies kept (see :meth:`Kiosk.render_cached`), least recently used dropped
first: a first screen takes about 4 kB, an all-services list of a large catalogue ten times that, so the
bound is in bytes, not pages (a Pi-class terminal has 120 MB for everything)."""
_CSRF_SLOT = Markup("<!--csrf-->")  # where a cached body had its form's CSRF field: each page puts its own


def local(at: datetime | None) -> datetime | None:
    """A stored time (aware, or naive UTC from SQLite) in Shanghai time."""
    if at is None:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(LOCAL_TZ)


class Printer(Protocol):
    """What the kiosk needs of the device service: print now, raising a DeviceError when it cannot."""

    def print_receipt(self, receipt: Receipt) -> Any: ...


class NoSession(Exception):
    """The page needs a card holder's session and there is none (ended, timed out, never started)."""


@dataclass
class Kiosk:
    runtime: Any  # edge.runtime.EdgeRuntime (typed loosely so tests and the benchmark can pass their own)
    config: KioskSettings
    sessions: SessionStore
    events: KioskEvents
    staff: StaffDirectory
    catalogue: Callable[[], Catalogue]  # the catalogue in force now (it changes when the hub publishes)
    calendar: Callable[[], WorkCalendar]  # the calendar in force now (the hub's, once it arrived)
    printer: Printer | None = None
    #: the on-screen keyboard's pinyin → Chinese words (None: letters only)
    ime: PinyinIndex | None = None
    #: this start's way in for the kiosk's own browser; nothing else is served without its cookie
    gate: KioskGate = field(default_factory=KioskGate)
    #: failed progress lookups: 10 per client in 10 minutes, 5 per receipt number in 30 minutes
    progress_by_client: Throttle = field(default_factory=lambda: Throttle(10, 600.0))
    progress_by_receipt: Throttle = field(default_factory=lambda: Throttle(5, 1800.0))
    page_cache_bytes: int = PAGE_CACHE_BYTES
    _directory: Directory | None = field(default=None, repr=False)
    _bodies: LRUCache[Hashable, tuple[Markup, tuple[Markup, ...]]] = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def committee_name(self) -> str:
        """This terminal's committee, on pages and slips."""
        return str(self.runtime.settings.committee_name)

    @property
    def sscard(self) -> bool:
        """Whether this terminal reads social-security cards (a vendor library is configured): the welcome
        page offers the card only then — an older resident with only a 敬老卡 would insert it in vain."""
        return bool(self.runtime.settings.devices.sscard_lib)

    def __post_init__(self) -> None:
        self._bodies = LRUCache(max(1, self.page_cache_bytes), getsizeof=_body_bytes)

    @property
    def directory(self) -> Directory:
        """The catalogue as shown, rebuilt (search index, caches) when another catalogue or calendar comes
        into force."""
        catalogue, calendar = self.catalogue(), self.calendar()
        directory = self._directory
        if directory is None or directory.catalogue is not catalogue or directory.calendar is not calendar:
            directory = self._directory = Directory(catalogue, calendar)
            with self._lock:
                self._bodies.clear()  # they show the catalogue that was in force
        return directory

    # -- per request --------------------------------------------------------------------------------------
    def lang(self, request: Request[Any, Any, Any]) -> str:
        lang = request.cookies.get(LANG_COOKIE, DEFAULT_LANG)
        return lang if lang in LANGS else DEFAULT_LANG

    def t(self, request: Request[Any, Any, Any]) -> Translator:
        return translator(self.lang(request))

    def session(self, request: Request[Any, Any, Any], *, touch: bool = True) -> KioskSession | None:
        return self.sessions.get(request.cookies.get(SID_COOKIE), touch=touch)

    def holder_session(self, request: Request[Any, Any, Any]) -> KioskSession:
        session = self.session(request)
        if session is None or session.holder is None:
            raise NoSession
        return session

    def any_session(self, request: Request[Any, Any, Any]) -> KioskSession:
        session = self.session(request)
        if session is None:
            raise NoSession
        return session

    @property
    def online(self) -> bool:
        agent = getattr(self.runtime, "agent", None)
        return agent is not None and agent.state is LinkState.ONLINE

    def now(self) -> datetime:
        return datetime.now(LOCAL_TZ)

    def today(self) -> date:
        return self.now().date()

    def render(self, request: Request[Any, Any, Any], template: str, **context: Any) -> Template:
        session = context.pop("session", None) or self.session(request, touch=False)
        return Template(template_name=template, context={**self._base(request, session), **context})

    def render_cached(
        self,
        request: Request[Any, Any, Any],
        template: str,
        key: Hashable,
        build: Callable[[], Mapping[str, Any]],
        session: KioskSession | None = None,
        path: str | None = None,
    ) -> Template:
        """A page whose ``title`` and ``main`` blocks follow from ``key`` alone: those blocks are rendered
        (from ``build()``'s context) once per key and kept, the page around them every time.

        The key is taken together with the template, the language and whether a card holder and a staff
        member are there; it must name everything else ``build`` reads (the catalogue and the calendar in
        force are implied: the bodies are dropped when either changes). Personal data (the holder's name, ID
        number, cases) stays out of these blocks: ``base.html`` shows it. A form's CSRF field in ``main`` is
        filled per page. ``path`` is the address the page stands for, when it is not the request's.
        """
        session = session or self.session(request, touch=False)
        base = self._base(request, session, path)
        self.directory  # noqa: B018 - first: a catalogue or calendar change drops the kept bodies
        full_key = (template, base["lang"], bool(session and session.holder), bool(base["staff_id"]), key)
        with self._lock:
            body = self._bodies.get(full_key) if self.page_cache_bytes else None
        if body is None:
            engine = request.app.template_engine
            if not isinstance(engine, JinjaTemplateEngine):
                raise TypeError("the kiosk renders its pages with Jinja")
            env = engine.engine
            page = env.get_template(template)
            blocks = page.new_context({**base, **build(), "csrf_input": _CSRF_SLOT})
            # The template's top-level imports, macros and sets run before its parent's first output.
            whole = page.root_render_func(blocks)
            next(whole, None)
            whole.close()  # type: ignore[attr-defined]  # jinja2 3.1 types root_render_func as an Iterator; it is a generator
            title, main = (Markup("".join(page.blocks[name](blocks))) for name in ("title", "main"))
            body = (title, tuple(Markup(part) for part in main.split(_CSRF_SLOT)))
            if _body_bytes(body) <= self._bodies.maxsize:
                with self._lock:
                    self._bodies[full_key] = body
        return Template(template_name="_cached.html", context={**base, "body_title": body[0], "body_main": body[1]})

    def _base(
        self, request: Request[Any, Any, Any], session: KioskSession | None, path: str | None = None
    ) -> dict[str, Any]:
        """What ``base.html`` shows on every page: the language, the holder (masked), staff, help, link."""
        holder = session.holder if session else None
        t = self.t(request)
        # The staff sign-in is the kiosk's (across residents): shown on every page, with or without a session.
        signed_in = self.sessions.staff()
        staff_id = session.staff_id if session else (signed_in.staff_id if signed_in else None)
        return {
            "t": t,
            "lang": t.lang,
            "path": path or request.url.path,
            "kiosk": self.config,
            "committee_name": self.committee_name,
            "session": session,
            "staff_id": staff_id,
            "staff_left_s": int(signed_in.left_s) + 1 if signed_in and staff_id else None,
            "staff_until": (self.now() + timedelta(seconds=signed_in.left_s)).strftime("%H:%M")
            if signed_in and staff_id
            else None,
            "staff_enabled": self.staff.enabled,
            "holder_name": holder.name if holder else None,
            "holder_id": mask(holder.id_number) if holder else None,
            "help_called": bool(session and session.help_called) or request.query_params.get("help") == "1",
            "help_answer": self.help_answer,
            "ping_s": self.ping_every_s,
            "online": self.online,
        }

    @property
    def help_answer(self) -> str | None:
        """Who answered the latest call for staff at this kiosk (edge.sync.help), if anyone has."""
        help_call = getattr(self.runtime, "help", None)
        answer = help_call.answer if help_call is not None else None
        return answer.responder if answer is not None else None

    @property
    def ping_every_s(self) -> float:
        """How often an active page tells the server it is still in use (well inside the warning)."""
        return max(0.5, min(5.0, self.config.warn_before_s / 4))

    # -- printing -----------------------------------------------------------------------------------------
    def print(self, receipt: Receipt) -> str:
        """Print; returns ``"ok"`` or the catalogue code of what went wrong (``paper_out`` …)."""
        if self.printer is None:
            return "printer_offline"
        try:
            self.printer.print_receipt(receipt)
        except PrinterNotReady as exc:
            log.warning("printer not ready: %s", exc.code)
            return exc.code
        except DeviceError as exc:
            log.warning("printer: %s", exc.detail or exc.code)
            return (
                "printer_offline" if exc.code in ("no_device", "not_responding", "printer_offline") else "printer_error"
            )
        return "ok"


def _body_bytes(body: tuple[Markup, tuple[Markup, ...]]) -> int:
    """What a kept page body takes in memory (its strings)."""
    return sys.getsizeof(body[0]) + sum(sys.getsizeof(part) for part in body[1])


def redirect(path: str) -> Redirect:
    return Redirect(path=path, status_code=303)
