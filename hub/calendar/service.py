"""The holiday calendar in the hub database: seeded from the official arrangement, kept by an administrator.

One :class:`CalendarService` per hub process is the provider of the calendar in force: ingest's due
dates, the workflow's 补正 pauses, the cards and the web pages all ask its :meth:`CalendarService.calendar`.
A change made through it takes effect at once; one made by another process (``shegong hub calendar set``,
another worker) within ``check_s`` seconds: the calendar's few rows are read again at most that often
and the calendar is rebuilt only when they differ. A change also counts the due dates of the open cases
again, in its own transaction (:mod:`hub.calendar.recount`).

A year's arrangement is complete only once someone says so (:meth:`CalendarService.complete_year`): until
then the days entered for it count at the hub, its dates are tentative on receipts and the portal, the
terminals are sent none of its days (:meth:`CalendarService.published`), the pages ask for it, and a past
day of it may still be made a holiday — the State Council's notice may come, or be entered, after 元旦.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Connection, Engine, delete, func, or_
from sqlmodel import Session, col, select

from hub.audit.chain import AuditRecord, append
from hub.calendar.recount import recount_open_cases, recount_open_return_calls, recount_record
from hub.cases.states import OPEN
from hub.db.models import CalendarDayRow as Day
from hub.db.models import CalendarYearRow as Year
from hub.db.models import CaseRow, table
from hub.errors import HubError, NotFound
from hub.text import text
from kernel.db import read_only, transaction_lock, upsert_insert
from protocol.envelope import utcnow
from protocol.localtime import local_date
from protocol.workdays import AdjustedWorkday, Holiday, WorkCalendar

__all__ = ["CHECK_S", "MAX_SPAN", "NEXT_YEAR_EXPECTED", "CalendarDay", "CalendarGap", "CalendarService", "InvalidDay"]

CHECK_S = 2.0
"""Default: how often (seconds) to look for a calendar change made by another process."""
_Rows = tuple[tuple[int, ...], tuple[tuple[date, str, str], ...]]  # complete years; days entered
_days, _years, _cases = table(Day), table(Year), table(CaseRow)  # Core tables: upserts, the gaps' counts
_EDIT_LOCK = 730_004  # PostgreSQL advisory lock: one calendar edit (and its recount) at a time


MAX_SPAN = 31
"""Days one entry may cover (a holiday run, as ``protocol.workdays.Holiday`` allows)."""
NEXT_YEAR_EXPECTED = (11, 1)
"""(month, day) from which the next year's arrangement is missed when absent: the State Council publishes
it in October or November (the 2026 one on 4 November 2025)."""


class InvalidDay(HubError):
    status_code = 422


@dataclass(frozen=True, slots=True)
class CalendarDay:
    day: date
    kind: str  # "off": a holiday; "work": a weekend day worked (调休上班)
    name: str
    updated_by: str
    recounted: int = 0  # open cases whose due date the change moved


@dataclass(frozen=True, slots=True)
class CalendarGap:
    """A year the calendar holds nothing for, though due dates are counted in it (only weekends off there):
    this year, the next once its arrangement is expected, or a year open cases fall due in."""

    year: int
    open_cases: int  # open cases whose promised or statutory due date lies in it


class CalendarService:
    """The calendar in force and its edits. Thread-safe; :meth:`calendar` is cheap per call."""

    def __init__(
        self,
        engine: Engine,
        check_s: float = CHECK_S,
        clock: Callable[[], float] = time.monotonic,
        today: Callable[[], date] = lambda: local_date(utcnow()),
    ) -> None:
        self.engine = engine
        self.check_s = check_s
        self._clock = clock
        self._today = today
        self._lock = threading.Lock()
        self._cached: tuple[_Rows, WorkCalendar, WorkCalendar] | None = None
        self._checked_at = float("-inf")

    def calendar(self) -> WorkCalendar:
        """The calendar in force: every day entered, looked at again once ``check_s`` has passed. Its
        ``years`` include those not complete yet: ask :meth:`published` whether a date may still move."""
        return self._current()[1]

    def published(self) -> WorkCalendar:
        """The calendar of the complete years only: what the terminals count their promises on, and what
        says a date is tentative (``covers``)."""
        return self._current()[2]

    def _current(self) -> tuple[_Rows, WorkCalendar, WorkCalendar]:
        cached = self._cached
        if cached is not None and self._clock() - self._checked_at < self.check_s:
            return cached
        # Read without the write lock: ingest asks for due dates inside its own write transaction, and on
        # SQLite the engine's transactions begin IMMEDIATE, which would wait for that very one.
        with read_only(self.engine).connect() as conn:
            return self._keep(self._rows_of(conn))

    def in_force(self, conn: Connection) -> WorkCalendar:
        """The calendar as ``conn``'s transaction sees it, and no edit committing before that transaction
        ends (PostgreSQL: the edits' lock, shared): ingest counts a group's due dates again on it when the
        calendar changed after they were counted (a concurrency review: cases arriving during an edit kept
        the due date of the calendar before it). The same object as :meth:`calendar` while nothing changed."""
        return self._keep(self._rows_of(transaction_lock(conn, _EDIT_LOCK, shared=True)))[1]

    def _keep(self, rows: _Rows) -> tuple[_Rows, WorkCalendar, WorkCalendar]:
        """The calendars of ``rows`` (just read), built again only when they differ from those kept."""
        with self._lock:
            if self._cached is None or self._cached[0] != rows:
                self._cached = (rows, _build(rows), _build(rows, complete_only=True))
            self._checked_at = self._clock()
            return self._cached

    def _rows_of(self, conn: Connection) -> _Rows:
        years = tuple(int(y) for y in conn.execute(select(col(Year.year)).order_by(col(Year.year))).scalars())
        days = tuple(
            (d if isinstance(d, date) else date.fromisoformat(str(d)[:10]), str(k), str(n))
            for d, k, n in conn.execute(select(col(Day.day), col(Day.kind), col(Day.name)).order_by(col(Day.day)))
        )
        return years, days

    def _in_transaction(self, conn: Connection) -> WorkCalendar:
        """The calendar as ``conn``'s transaction sees it (its own change included)."""
        return _build(self._rows_of(conn))

    def _commit_change(self, conn: Connection, changes: list[AuditRecord]) -> int:
        """Recount the open cases on the changed calendar, then audit the changes (one per day) and the
        recount."""
        calendar = self._in_transaction(conn)
        moved = recount_open_cases(conn, calendar)
        calls = recount_open_return_calls(conn, calendar)
        first, last = changes[0], changes[-1]
        days = first.subject if first is last else f"{first.subject}..{last.subject}"
        cause = {"change": first.action, "day": days}
        append(conn, [*changes, *recount_record(first.at, first.actor, cause, moved, calls)])
        return len(moved)

    def days(self, year: int | None = None) -> list[CalendarDay]:
        q = select(Day).order_by(col(Day.day))
        if year is not None:
            q = q.where(col(Day.day) >= date(year, 1, 1), col(Day.day) <= date(year, 12, 31))
        with Session(self.engine) as session:
            return [CalendarDay(r.day, r.kind, r.name, r.updated_by) for r in session.exec(q)]

    def years(self) -> list[int]:
        """The years whose arrangement is complete."""
        with self.engine.connect() as conn:
            return list(conn.execute(select(col(Year.year)).order_by(col(Year.year))).scalars())

    def gaps(self, today: date) -> list[CalendarGap]:
        """The years due dates are counted in without a complete arrangement, and how many open cases fall
        due in each: the pages ask the administrator to enter them (open cases are counted again then)."""
        covered = set(self.published().years)
        is_open = _cases.c.status.in_([s.value for s in OPEN])
        with self.engine.connect() as conn:
            last = conn.execute(
                select(func.max(_cases.c.due_date), func.max(_cases.c.statutory_due)).where(is_open)
            ).one()
            wanted = {today.year} | ({today.year + 1} if (today.month, today.day) >= NEXT_YEAR_EXPECTED else set())
            furthest = max((d.year for d in last if d is not None), default=today.year)
            wanted |= set(range(today.year, furthest + 1))
            gaps = []
            for year in sorted(wanted - covered):
                first, end = date(year, 1, 1), date(year, 12, 31)
                due_then = or_(_cases.c.due_date.between(first, end), _cases.c.statutory_due.between(first, end))
                n = conn.execute(select(func.count()).select_from(_cases).where(is_open, due_then)).scalar_one()
                gaps.append(CalendarGap(year, int(n)))
        return gaps

    def set_day(self, day: date, kind: str, name: str, actor: str) -> CalendarDay:
        """Make ``day`` a holiday (``off``) or an adjusted working day (``work``, weekends only)."""
        return self.set_days(day, day, kind, name, actor)

    def set_days(self, first: date, last: date, kind: str, name: str, actor: str) -> CalendarDay:
        """Make every day from ``first`` to ``last`` (at most :data:`MAX_SPAN` days, as a notice gives a
        holiday: "10月1日至7日放假") a holiday, or each an adjusted working day (weekends only): in one
        transaction, the open cases counted again once. Returns the first day with how many moved."""
        name = name.strip()
        if kind not in {"off", "work"}:
            raise InvalidDay(text("calendar_error", "kind"))
        if not 1 <= len(name) <= 32:
            raise InvalidDay(text("calendar_error", "name"))
        if not (first.year >= 2000 and last.year <= 2100):
            raise InvalidDay(text("calendar_error", "range"))
        if not 0 <= (last - first).days < MAX_SPAN:
            raise InvalidDay(text("calendar_error", "span", first=first, last=last, days=MAX_SPAN))
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        weekday = next((d for d in days if d.weekday() < 5), None)
        if kind == "work" and weekday is not None:
            raise InvalidDay(text("calendar_error", "weekday", day=weekday))
        now = utcnow()
        insert = upsert_insert(self.engine)
        rows = [{"day": d, "kind": kind, "name": name, "updated_by": actor, "updated_at": now} for d in days]
        changes = [AuditRecord(now, actor, "calendar.set", d.isoformat(), {"kind": kind, "name": name}) for d in days]
        with self.engine.begin() as conn:
            self._not_past(_editing(conn), first, kind)
            for values in rows:
                conn.execute(insert(_days).values(**values).on_conflict_do_update(index_elements=["day"], set_=values))
            recounted = self._commit_change(conn, changes)
        self.invalidate()
        return CalendarDay(first, kind, name, actor, recounted)

    def complete_year(self, year: int, actor: str) -> bool:
        """Say that ``year``'s arrangement is entered in full: its dates stop being tentative, the terminals
        get its days, and its past days are fixed from then on. Returns False when it was already."""
        if not 2000 <= year <= 2100:
            raise InvalidDay(text("calendar_error", "range"))
        first, end = date(year, 1, 1), date(year, 12, 31)
        now = utcnow()
        with self.engine.begin() as conn:
            if _complete(_editing(conn), year):
                return False
            entered = conn.execute(
                select(func.count()).select_from(_days).where(_days.c.day.between(first, end), _days.c.kind == "off")
            ).scalar_one()
            if not entered:
                raise InvalidDay(text("calendar_error", "nothing_entered", year=year))
            conn.execute(_years.insert().values(year=year, source="administrator", updated_at=now))
            append(conn, [AuditRecord(now, actor, "calendar.year_complete", str(year), {"holidays": int(entered)})])
        self.invalidate()
        return True

    def remove_day(self, day: date, actor: str) -> int:
        """``day`` becomes an ordinary day again (a working day unless it is a weekend); returns how many
        open cases' due dates moved."""
        now = utcnow()
        with self.engine.begin() as conn:
            self._not_past(_editing(conn), day, None)
            if conn.execute(delete(Day).where(col(Day.day) == day)).rowcount == 0:
                raise NotFound(text("calendar_error", "not_special", day=day))
            recounted = self._commit_change(conn, [AuditRecord(now, actor, "calendar.removed", day.isoformat(), {})])
        self.invalidate()
        return recounted

    def _not_past(self, conn: Connection, day: date, kind: str | None) -> None:
        """A day gone by stays as it was: changing it would move the due dates (and statutory ones) of cases
        counted over it, after the fact, and take overdue cases off the board (a review found this done).
        Except in a year whose arrangement is not complete: its dates were given as tentative (遇法定节假日
        顺延), so a holiday entered late moves them as promised; an entry may be removed again (a mistake),
        but a past weekend is not made a working day (that would shorten a promise after the fact)."""
        today = self._today()
        if day >= today:
            return
        if _complete(conn, day.year):
            raise InvalidDay(text("calendar_error", "past", day=day, today=today))
        if kind == "work":
            raise InvalidDay(text("calendar_error", "past_work", day=day))

    def invalidate(self) -> None:
        """Read the database again at the next :meth:`calendar` (a change made here is in force at once)."""
        with self._lock:
            self._checked_at = float("-inf")


def _complete(conn: Connection, year: int) -> bool:
    """Whether ``year``'s arrangement was said complete, as ``conn``'s transaction sees it."""
    return conn.execute(select(col(Year.year)).where(col(Year.year) == year)).first() is not None


def _editing(conn: Connection) -> Connection:
    """``conn``'s transaction, alone among calendar edits (SQLite: its one writer already is). Two edits at
    once each recounted on a calendar without the other's day (a concurrency review: every open case's due
    date left on one holiday of two); a day checked "not past" against a year complete only after."""
    return transaction_lock(conn, _EDIT_LOCK)


def _build(rows: _Rows, complete_only: bool = False) -> WorkCalendar:
    years, days = rows
    if complete_only:
        days = tuple(d for d in days if d[0].year in years)
    return WorkCalendar(
        years=sorted(set(years) | {d.year for d, _, _ in days}),
        source="hub",
        holidays=[Holiday(name=name, first=d, last=d) for d, kind, name in days if kind == "off"],
        adjusted_workdays=[AdjustedWorkday(day=d, name=name) for d, kind, name in days if kind == "work"],
    )
