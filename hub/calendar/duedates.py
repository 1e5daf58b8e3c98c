"""Due dates (承诺办结时限): a case's promised working days counted on the centre's calendar.

:class:`DueDates` is what ingest and the workflow take: ``promise(item_code, start)`` → the working days
the catalogue in force promises for the item (or the item its terminal accepted the case under, when this
hub published it lately: ``item_hash``) and the last day the case may be decided on, counted from the
day the committee accepted the case (:func:`promise_start`), or ``None`` for an item no published version
ever listed. An item a later version withdrew is promised as the last version listing it did: a terminal
still on that version printed that promise on the resident's receipt. Both the catalogue and the calendar
are read at each call from their providers, so a published version or a calendar edit counts from the next
case on.

A case keeps the days promised at its arrival (``cases.promised_days``): a later catalogue version does
not change them. A calendar edit does count its due date again — :func:`count_due` from the same start
with those days (see :mod:`hub.calendar.recount`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import NamedTuple, Protocol

from sqlalchemy import Connection

from protocol.catalogue import ServiceItem
from protocol.localtime import local_date
from protocol.workdays import WorkCalendar, add_working_days, working_days_between

__all__ = ["CalendarSource", "DueDates", "Promise", "count_due", "paused_working_days", "promise_start"]


class CalendarSource(Protocol):
    """The provider of the calendar in force (:class:`hub.calendar.service.CalendarService`)."""

    def calendar(self) -> WorkCalendar: ...

    def in_force(self, conn: Connection) -> WorkCalendar: ...


class Promise(NamedTuple):
    days: int  # working days promised at arrival (the item's ``promised_days`` then)
    due: date
    statutory_days: int | None = None  # 法定办结时限 at arrival (the item's ``statutory_days`` then)
    statutory_due: date | None = None  # the last day the law allows
    done_on_spot: bool = False  # the item is finished at the kiosk (当场办结): the case arrives completed


def paused_working_days(paused_at: datetime, resumed_at: datetime, calendar: WorkCalendar) -> int:
    """Working days the clock stood still during 补正: those after the notice up to the day it ended."""
    return max(0, working_days_between(local_date(paused_at), local_date(resumed_at), calendar))


def promise_start(
    created_at: datetime, received_at: datetime, clock_skew_s: float | None, clock_fix_s: float | None = None
) -> datetime:
    """The instant a case's promised time runs from: when the committee accepted it (``created_at``, the
    instant its receipt counts the promised date from), not when it reached the hub — a case accepted
    offline on Friday and synchronised on Monday is due when its receipt says. A terminal whose clock was
    found off when the case arrived (``clock_skew_s`` stored) cannot say when that was: the hub's receipt
    time counts then, as before. A terminal whose clock was set after it accepted the case says by how much
    (``clock_fix_s``): the case was accepted that much later (or earlier) than stamped. Never later than
    the case arrived."""
    if clock_skew_s is not None:
        return received_at
    return min(created_at + timedelta(seconds=clock_fix_s or 0.0), received_at)


def count_due(start: datetime, days: int, paused_days: int, calendar: WorkCalendar) -> date:
    """The due date of a case whose promised time runs from ``start`` (:func:`promise_start`) with ``days``
    promised, moved later by the ``paused_days`` working days its 补正 pauses lasted — as ingest and the
    workflow count it."""
    due = add_working_days(local_date(start), days, calendar)
    return add_working_days(due, paused_days, calendar) if paused_days else due


class DueDates:
    """Promises by the items ``item(code)`` returns, counted on the calendar ``calendar`` provides."""

    def __init__(
        self,
        calendar: CalendarSource,
        item: Callable[[str], ServiceItem | None],
        as_promised: Callable[[str, str | None, datetime], ServiceItem | None] | None = None,
    ) -> None:
        """``item``: an item as the catalogue in force lists it, or one it withdrew as the last version that
        listed it (:meth:`hub.catalogue.in_force.CatalogueInForce.item`); ``as_promised``: an item by its code
        and the content hash a terminal accepted a case under at a time
        (:meth:`~hub.catalogue.in_force.CatalogueInForce.item_as_promised`; by default ``item``)."""
        self.calendar = calendar
        self.item = item
        self.as_promised = as_promised or (lambda code, _hash, _at: item(code))
        # Due dates counted on the calendar in force, by (day received, working days): ingest asks for the
        # same few again and again, and counting walks the calendar a day at a time.
        self._counted: tuple[WorkCalendar | None, dict[tuple[date, int], date]] = (None, {})

    def promised_days(self, item_code: str) -> int | None:
        item = self.item(item_code)
        return item.promised_days if item is not None else None

    def in_force(self, conn: Connection) -> WorkCalendar:
        """The calendar as ``conn``'s transaction sees it, no edit committing before it ends
        (:meth:`hub.calendar.service.CalendarService.in_force`): what a clerk's step counts on."""
        return self.calendar.in_force(conn)

    def promise(
        self, item_code: str, start: datetime, calendar: WorkCalendar | None = None, item_hash: str | None = None
    ) -> Promise | None:
        """The promised and statutory limits of a case of ``item_code`` whose time runs from ``start``
        (:func:`promise_start`), by the catalogue in force now — or by the item as the terminal accepted the
        case under it (``item_hash``, when this hub published it) — on ``calendar`` (by default the one in
        force as last looked at)."""
        item = self.as_promised(item_code, item_hash, start) if item_hash else self.item(item_code)
        if item is None:
            return None
        calendar, day = calendar or self.calendar.calendar(), local_date(start)
        return Promise(
            item.promised_days,
            self._due(day, item.promised_days, calendar),
            item.statutory_days,
            self._due(day, item.statutory_days, calendar),
            item.done_on_spot,
        )

    def _due(self, day: date, days: int, calendar: WorkCalendar) -> date:
        """``count_due`` from ``day`` without pauses, remembered while ``calendar`` is the one in force."""
        on, counted = self._counted
        if on is not calendar or len(counted) > 10_000:
            counted = {}
            self._counted = (calendar, counted)
        due = counted.get((day, days))
        if due is None:
            due = counted[(day, days)] = add_working_days(day, days, calendar)
        return due

    def after_working_days(self, at: datetime, days: int) -> date:
        """The day ``days`` working days after the local day of ``at`` (a return call's deadline)."""
        return count_due(at, days, 0, self.calendar.calendar())

    def __call__(self, item_code: str, start: datetime) -> date | None:
        promise = self.promise(item_code, start)
        return promise.due if promise is not None else None

    def extend(self, due: date, by_working_days: int, calendar: WorkCalendar | None = None) -> date:
        """``due`` moved later by working days (the clock paused for 补正), on ``calendar`` (by default
        the one in force as last looked at)."""
        if not by_working_days:
            return due
        return add_working_days(due, by_working_days, calendar or self.calendar.calendar())
