"""From device threads to the browser: card taps, unreadable cards and scans become page navigations.

Device events arrive on the device service's threads. :class:`KioskEvents` turns each into a session
change (a tap starts a session and makes a claim token) and a message for the pages' event streams:
``{"go": "/claim/<token>"}``. The streams are asyncio queues; messages are handed over with
``call_soon_threadsafe``. Nothing personal travels on the stream: only opaque tokens and paths.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from edge.devices.events import CardTapped, CardUnreadable, DeviceEvent, Scanned
from edge.devices.facts import CardFacts
from edge.kiosk.receipts import parse_progress_code
from edge.kiosk.session import SessionStore
from protocol.idnumber import mask

__all__ = ["KioskEvents", "Notice", "Subscriber"]

log = logging.getLogger(__name__)

UNHEARD_TTL_S = 10.0  # a scan made while the page was loading is still shown, not a stale one
NOTICE_TTL_S = 60.0


@dataclass
class Subscriber:
    queue: asyncio.Queue[str]
    loop: asyncio.AbstractEventLoop
    sid: str | None


@dataclass(frozen=True)
class Notice:
    """Something to tell whoever stands at the kiosk, by catalogue key; ``detail`` is Chinese text."""

    key: str
    detail: str = ""
    made: float = 0.0


class KioskEvents:
    def __init__(self, sessions: SessionStore, clock: Callable[[], float] = time.monotonic) -> None:
        self.sessions = sessions
        self._clock = clock
        self._subscribers: list[Subscriber] = []
        self._notices: dict[str, Notice] = {}
        self._scans: dict[str, tuple[str, str, float]] = {}
        self._unheard: tuple[str, float] | None = None  # a broadcast no page was listening for
        self._lock = threading.Lock()

    # -- device side (any thread) -------------------------------------------------------------------------
    def on_device_event(self, event: DeviceEvent) -> None:
        if isinstance(event, CardTapped):
            self.card_tapped(event.facts)
        elif isinstance(event, CardUnreadable):
            self.notify(Notice(f"card.{event.code}", event.message))
        elif isinstance(event, Scanned):
            self.scanned(event.text)

    def card_tapped(self, facts: CardFacts) -> str | None:
        token, ended = self.sessions.card_tapped(facts)
        if token is None:
            log.info("same card again (%s): session goes on", mask(facts.id_number))
            # A page not in the session (the browser restarted and lost its cookie) takes it up at once;
            # the pages already in it stay where they are (the resident may be filling in a form).
            again = self.sessions.rejoin(facts)
            if again is not None:
                self.publish({"go": f"/claim/{again[0]}"}, but=again[1])
            return None
        log.info("card %s tapped: new session, %d ended", mask(facts.id_number), len(ended))
        self.publish({"go": f"/claim/{token}"})
        return token

    def scanned(self, text: str) -> None:
        found = parse_progress_code(text)
        if found is None:
            self.notify(Notice("scan.unknown"))
            return
        self.publish({"go": f"/progress/{self.remember(*found)}"})

    def remember(self, receipt_no: str, query_code: str) -> str:
        """A short-lived token for a receipt's number and query code (the page's URL carries it, not them):
        a scan's, or a failed look-up's for the form to show them again (:meth:`scan` takes it back)."""
        token = secrets.token_urlsafe(16)
        with self._lock:
            self._prune()
            self._scans[token] = (receipt_no, query_code, self._clock())
        return token

    def notify(self, notice: Notice) -> None:
        token = secrets.token_urlsafe(12)
        with self._lock:
            self._prune()
            self._notices[token] = Notice(notice.key, notice.detail, self._clock())
        self.publish({"go": f"/notice/{token}"})

    def ended(self, sids: list[str], reason: str) -> None:
        """Sessions ended on the server (idle): send their pages home."""
        for sid in sids:
            self.publish({"go": f"/?ended={reason}"}, sid=sid)

    # -- page side ----------------------------------------------------------------------------------------
    def notice(self, token: str) -> Notice | None:
        with self._lock:
            return self._notices.get(token)

    def scan(self, token: str) -> tuple[str, str] | None:
        with self._lock:
            found = self._scans.pop(token, None)
        if found is None or self._clock() - found[2] > NOTICE_TTL_S:
            return None
        return found[0], found[1]

    def subscribe(self, sid: str | None) -> Subscriber:
        sub = Subscriber(asyncio.Queue(), asyncio.get_running_loop(), sid)
        with self._lock:
            self._subscribers.append(sub)
        token = self.sessions.pending_claim(but=sid)
        with self._lock:
            unheard, self._unheard = self._unheard, None
        if token is not None:  # the tap came while this page was loading
            sub.queue.put_nowait(json.dumps({"go": f"/claim/{token}"}))
        elif unheard is not None and self._clock() - unheard[1] <= UNHEARD_TTL_S:  # likewise a scan or notice
            sub.queue.put_nowait(unheard[0])
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            if sub in self._subscribers:
                self._subscribers.remove(sub)

    def publish(self, message: dict[str, object], sid: str | None = None, but: str | None = None) -> None:
        """To every page, or only to the pages of session ``sid``, or to all but those of session ``but``
        (such a message is picked up later through :meth:`SessionStore.pending_claim`, not kept here)."""
        data = json.dumps(message)
        with self._lock:
            targets = [s for s in self._subscribers if (sid is None or s.sid == sid) and (but is None or s.sid != but)]
            if not targets and sid is None and but is None:
                self._unheard = (data, self._clock())
        for sub in targets:
            try:
                sub.loop.call_soon_threadsafe(sub.queue.put_nowait, data)
            except RuntimeError:  # its loop has closed: the page is gone
                self.unsubscribe(sub)

    def _prune(self) -> None:
        now = self._clock()
        self._notices = {k: n for k, n in self._notices.items() if now - n.made <= NOTICE_TTL_S}
        self._scans = {k: s for k, s in self._scans.items() if now - s[2] <= NOTICE_TTL_S}
