"""The holiday calendar the kiosk counts dates on: the hub's, as last received, or the shipped seed.

The hub keeps its calendar retained on ``shegong/v1/hub/calendar`` (hub.calendar.publish); a terminal
keeps the one it last received in its database, so after a restart without the hub it still counts on it.
:meth:`CalendarStore.current` is a plain attribute read, cheap on every request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import Connection, Engine, delete, insert, select
from sqlmodel import Session

from edge.store.alarms import Alarms
from edge.store.models import WorkCalendarRow, table
from edge.text import text as words
from protocol.codec import decode
from protocol.envelope import ProtocolError, utcnow
from protocol.workdays import CalendarAnnouncement, CalendarBody, WorkCalendar, load_seed_calendar

__all__ = ["CALENDAR_ALARM", "CalendarStore", "stored"]

log = logging.getLogger(__name__)
CALENDAR_ALARM = "calendar_refused"
_calendar = table(WorkCalendarRow)


def stored(conn: Connection) -> tuple[WorkCalendar, datetime] | None:
    """The hub's calendar as this terminal keeps it, and when it was received; None while it has none (or
    the one kept is unreadable: the shipped one counts then, and the log says why)."""
    row = conn.execute(select(_calendar.c.body, _calendar.c.received_at).where(_calendar.c.id == 1)).first()
    if row is None:
        return None
    try:
        return WorkCalendar.model_validate_json(row.body), row.received_at
    except ValidationError:
        log.exception("the stored holiday calendar is unreadable; counting on the shipped one")
        return None


class CalendarStore:
    """``current()`` is the calendar in force here; ``from_hub`` whether the hub's (else the seed)."""

    def __init__(
        self, engine: Engine, alarms: Alarms | None = None, seed: Callable[[], WorkCalendar] = load_seed_calendar
    ) -> None:
        self._engine = engine
        self._alarms = alarms  # a refused calendar raises CALENDAR_ALARM (in heartbeats: a fleet alert)
        self._lock = threading.Lock()
        loaded = self._load()
        self._current = loaded or seed()
        self.from_hub = loaded is not None
        self._hash = self._current.content_hash()

    def current(self) -> WorkCalendar:
        return self._current

    def _load(self) -> WorkCalendar | None:
        with Session(self._engine) as session:
            held = stored(session.connection())
        return held[0] if held else None

    def on_announcement(self, payload: bytes) -> list[tuple[str, bytes]]:
        """A retained message on ``shegong/v1/hub/calendar`` (the agent's thread)."""
        if not payload:  # the retained copy was cleared: keep what is held
            return []
        try:
            message = decode(payload, ignore_unknown=True)  # the hub may be newer (protocol.codec)
        except ProtocolError as exc:
            self._refused(f"refused a holiday calendar: {exc}")
            return []
        if not isinstance(message, CalendarAnnouncement):
            self._refused(f"refused a {message.type.value} message on the calendar topic")
            return []
        self.apply(message.body)
        return []

    def _refused(self, why: str) -> None:
        log.error("%s; the promised dates are counted on the calendar held", why)
        if self._alarms is not None:
            self._alarms.raise_(CALENDAR_ALARM, words("alarm.calendar_refused"))

    def apply(self, body: CalendarBody) -> bool:
        """Keep the hub's calendar and count on it from now on; False when it is the one held already, or
        does not hash to what the message says (nothing written)."""
        calendar = body.calendar
        digest = calendar.content_hash()
        if digest != body.content_hash:
            self._refused("refused a holiday calendar that does not hash to the hash it carries")
            return False
        if self._alarms is not None:
            self._alarms.clear(CALENDAR_ALARM)  # the hub's own came (again)
        with self._lock:
            if digest == self._hash and self.from_hub:
                return False
            with self._engine.begin() as conn:
                conn.execute(delete(WorkCalendarRow))
                conn.execute(
                    insert(WorkCalendarRow).values(
                        id=1,
                        content_hash=digest,
                        body=calendar.model_dump_json(),
                        published_at=body.published_at,
                        received_at=utcnow(),
                    )
                )
            self._current, self._hash, self.from_hub = calendar, digest, True
        log.info("holiday calendar of the hub in force (years %s, %s)", calendar.years, digest[:19])
        return True
