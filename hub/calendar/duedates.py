"""Due dates (承诺办结时限): a case's promised working days counted on the centre's calendar.

:class:`DueDates` is the callable ingest takes (``Handler(due_date=…)``): ``(item_code, received_at)``
→ the last day the case may be decided on, or ``None`` for an item the catalogue does not know.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from hub.calendar.service import CalendarService
from protocol.workdays import WorkCalendar, add_working_days, working_days_between

__all__ = ["LOCAL_TZ", "DueDates", "local_date", "paused_working_days"]

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def local_date(at: datetime) -> date:
    """The centre's calendar day of an instant."""
    return at.astimezone(LOCAL_TZ).date()


def paused_working_days(paused_at: datetime, resumed_at: datetime, calendar: WorkCalendar) -> int:
    """Working days the clock stood still during 补正: those after the notice up to the day it ended."""
    return max(0, working_days_between(local_date(paused_at), local_date(resumed_at), calendar))


class DueDates:
    """``due_date(item_code, received_at)`` on the calendar the hub database holds."""

    def __init__(self, calendar: CalendarService, promised_days: Callable[[str], int | None]) -> None:
        self.calendar = calendar
        self.promised_days = promised_days

    @classmethod
    def from_engine(cls, engine: Engine, catalogue: object | None = None) -> DueDates:
        """Due dates from ``engine``'s calendar and ``catalogue`` (the seed catalogue when not given)."""
        if catalogue is None:
            from protocol.catalogue import load_seed

            catalogue = load_seed()
        days = {item.code: item.promised_days for item in catalogue.items}  # type: ignore[attr-defined]
        return cls(CalendarService(engine), days.get)

    def __call__(self, item_code: str, received_at: datetime) -> date | None:
        days = self.promised_days(item_code)
        if days is None:
            return None
        return add_working_days(local_date(received_at), days, self.calendar.calendar())

    def extend(self, due: date, by_working_days: int) -> date:
        """``due`` moved later by working days (the clock paused for 补正)."""
        return add_working_days(due, by_working_days, self.calendar.calendar()) if by_working_days else due
