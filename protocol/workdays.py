"""Working days, for promised time limits (承诺办结时限) and overdue checks.

A :class:`WorkCalendar` is data an administrator maintains on the hub and publishes to terminals: public
holiday periods (放假) and the weekend days worked in exchange (调休上班). Outside the years it covers,
Monday to Friday are working days.

Counting follows the rule for periods in days (《民法典》第二百零一条): the day a case is accepted is not
counted, so a 1-day promise submitted on Monday is due on Tuesday. A case submitted on a non-working day is
taken as received on the next working day and counted from there. ``n == 0`` (an immediate item) is due
the same day when that is a working day, else on the next one: the centre is closed, and a 居住登记 left at
a kiosk on Saturday is not late on Monday.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cached_property
from importlib import resources
from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field, model_validator

from protocol.catalogue import content_hash
from protocol.envelope import Envelope, MessageType, Strict

__all__ = [
    "AdjustedWorkday",
    "CalendarAnnouncement",
    "CalendarBody",
    "Holiday",
    "WorkCalendar",
    "add_working_days",
    "load_seed_calendar",
    "next_working_day",
    "working_days_between",
]

_DAY = timedelta(days=1)
_MAX_SPAN = 31


class Holiday(Strict):
    """A run of days off, first to last inclusive, as the State Council notice states it."""

    name: str = Field(min_length=1, max_length=32)
    first: date
    last: date

    @model_validator(mode="after")
    def _ordered(self) -> Holiday:
        if not self.first <= self.last or (self.last - self.first).days >= _MAX_SPAN:
            raise ValueError(f"holiday {self.name}: {self.first}..{self.last} is not a span of 1-{_MAX_SPAN} days")
        return self

    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]


class AdjustedWorkday(Strict):
    """A Saturday or Sunday worked in exchange for a holiday (调休上班)."""

    day: date
    name: str = Field(min_length=1, max_length=32, description="the holiday it pays for")

    @model_validator(mode="after")
    def _weekend(self) -> AdjustedWorkday:
        if self.day.weekday() < 5:
            raise ValueError(f"{self.day} is a weekday: only a weekend day can be an adjusted working day")
        return self


class WorkCalendar(Strict):
    """Days off and adjusted working days for the ``years`` it covers."""

    version: int = Field(default=1, ge=1)
    years: list[int] = Field(default_factory=list, description="years whose arrangement is complete")
    source: str = Field(default="", max_length=200, description="the notice the data comes from")
    holidays: list[Holiday] = Field(default_factory=list)
    adjusted_workdays: list[AdjustedWorkday] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> WorkCalendar:
        for d in (*self._days_off, *self._days_on):
            if d.year not in self.years:
                raise ValueError(f"{d} lies outside the years covered ({self.years})")
        both = self._days_off & self._days_on
        if both:
            raise ValueError(f"both a holiday and a working day: {', '.join(map(str, sorted(both)))}")
        return self

    @cached_property
    def _days_off(self) -> frozenset[date]:
        return frozenset(d for h in self.holidays for d in h.days())

    @cached_property
    def _days_on(self) -> frozenset[date]:
        return frozenset(a.day for a in self.adjusted_workdays)

    def covers(self, day: date) -> bool:
        """Whether the calendar knows this day's year (otherwise only weekends are days off)."""
        return day.year in self.years

    def is_working_day(self, day: date) -> bool:
        if day in self._days_on:
            return True
        return day.weekday() < 5 and day not in self._days_off

    def content_hash(self) -> str:
        return content_hash(self)


class CalendarBody(Strict):
    calendar: WorkCalendar
    content_hash: str = Field(description="calendar.content_hash(): the terminal checks what it received")
    published_at: AwareDatetime


class CalendarAnnouncement(Envelope):
    """Retained on ``shegong/v1/hub/calendar`` (``terminal`` is ``hub``): the calendar the hub counts due
    dates by, which the terminals' kiosks count the dates they promise by too."""

    message_type: ClassVar[MessageType] = MessageType.CALENDAR
    type: Literal[MessageType.CALENDAR] = MessageType.CALENDAR
    body: CalendarBody


def next_working_day(day: date, calendar: WorkCalendar) -> date:
    """``day`` itself when it is a working day, else the first working day after it."""
    while not calendar.is_working_day(day):
        day += _DAY
    return day


def add_working_days(start: date, n: int, calendar: WorkCalendar) -> date:
    """The due date of an ``n``-working-day promise for a case submitted on ``start``."""
    if n < 0:
        raise ValueError("n must not be negative")
    day = next_working_day(start, calendar)
    while n:
        day += _DAY
        if calendar.is_working_day(day):
            n -= 1
    return day


def working_days_between(start: date, end: date, calendar: WorkCalendar) -> int:
    """Working days after ``start`` up to and including ``end``; negative when ``end`` is earlier.

    ``working_days_between(today, due)`` is the working days left; ``(submitted, today)`` those used.
    For a working-day ``start``, ``working_days_between(start, add_working_days(start, n)) == n``.
    """
    if end < start:
        return -working_days_between(end, start, calendar)
    count = 0
    day = start
    while day < end:
        day += _DAY
        count += calendar.is_working_day(day)
    return count


def load_seed_calendar() -> WorkCalendar:
    """The calendar shipped with the package (``protocol/seed/workcalendar.json``)."""
    data = resources.files("protocol.seed").joinpath("workcalendar.json").read_bytes()
    return WorkCalendar.model_validate_json(data)
