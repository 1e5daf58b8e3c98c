"""The holiday calendar in the hub database: seeded from the official arrangement, kept by an administrator.

One :class:`CalendarService` per hub process is the provider of the calendar in force: ingest's due
dates, the workflow's 补正 pauses, the cards and the web pages all ask its :meth:`CalendarService.calendar`.
A change made through it takes effect at once; one made by another process (``shegong hub calendar set``,
another worker) within ``check_s`` seconds: the calendar's few rows are read again at most that often
and the calendar is rebuilt only when they differ. A change also counts the due dates of the open cases
again, in its own transaction (:mod:`hub.calendar.recount`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, Engine, delete
from sqlmodel import Session, col, select

from hub.audit.chain import AuditRecord, append
from hub.calendar.recount import recount_open_cases, recount_record
from hub.db.models import CalendarDayRow as Day
from hub.db.models import CalendarYearRow as Year
from hub.db.models import table
from hub.errors import HubError, NotFound
from kernel.db import upsert_insert
from protocol.envelope import utcnow
from protocol.workdays import AdjustedWorkday, Holiday, WorkCalendar

__all__ = ["CHECK_S", "CalendarDay", "CalendarService", "InvalidDay"]

CHECK_S = 2.0
"""Default: how often (seconds) to look for a calendar change made by another process."""
_Rows = tuple[tuple[int, ...], tuple[tuple[date, str, str], ...]]
_days, _years = table(Day), table(Year)  # upserts, one statement per dialect


class InvalidDay(HubError):
    status_code = 422


@dataclass(frozen=True, slots=True)
class CalendarDay:
    day: date
    kind: str  # "off": a holiday; "work": a weekend day worked (调休上班)
    name: str
    updated_by: str
    recounted: int = 0  # open cases whose due date the change moved


class CalendarService:
    """The calendar in force and its edits. Thread-safe; :meth:`calendar` is cheap per call."""

    def __init__(self, engine: Engine, check_s: float = CHECK_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.check_s = check_s
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[_Rows, WorkCalendar] | None = None
        self._checked_at = float("-inf")

    def calendar(self) -> WorkCalendar:
        """The calendar in force: as the database holds it, looked at again once ``check_s`` has passed."""
        cached = self._cached
        if cached is not None and self._clock() - self._checked_at < self.check_s:
            return cached[1]
        rows = self._rows()
        with self._lock:
            if self._cached is None or self._cached[0] != rows:
                self._cached = (rows, _build(rows))
            self._checked_at = self._clock()
            return self._cached[1]

    def _rows(self) -> _Rows:
        # Read on a bare DBAPI connection: ingest asks for due dates inside its own write transaction,
        # and on SQLite the engine's transactions begin IMMEDIATE, which would wait for that very one.
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute("SELECT year FROM calendar_years ORDER BY year")
            years = tuple(int(y) for (y,) in cur.fetchall())
            cur.execute("SELECT day, kind, name FROM calendar_days ORDER BY day")
            days = tuple((date.fromisoformat(str(d)[:10]), str(kind), str(name)) for d, kind, name in cur.fetchall())
            cur.close()
        finally:
            raw.close()
        return years, days

    def _in_transaction(self, conn: Connection) -> WorkCalendar:
        """The calendar as ``conn``'s transaction sees it (its own change included)."""
        years = tuple(conn.execute(select(col(Year.year)).order_by(col(Year.year))).scalars())
        days = tuple(
            (d if isinstance(d, date) else date.fromisoformat(str(d)[:10]), str(k), str(n))
            for d, k, n in conn.execute(select(col(Day.day), col(Day.kind), col(Day.name)).order_by(col(Day.day)))
        )
        return _build((years, days))

    def _commit_change(self, conn: Connection, change: AuditRecord) -> int:
        """Recount the open cases on the changed calendar, then audit the change and the recount."""
        moved = recount_open_cases(conn, self._in_transaction(conn))
        cause = {"change": change.action, "day": change.subject}
        append(conn, [change, *recount_record(change.at, change.actor, cause, moved)])
        return len(moved)

    def days(self, year: int | None = None) -> list[CalendarDay]:
        q = select(Day).order_by(col(Day.day))
        if year is not None:
            q = q.where(col(Day.day) >= date(year, 1, 1), col(Day.day) <= date(year, 12, 31))
        with Session(self.engine) as session:
            return [CalendarDay(r.day, r.kind, r.name, r.updated_by) for r in session.exec(q)]

    def years(self) -> list[int]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(col(Year.year)).order_by(col(Year.year))).scalars())

    def set_day(self, day: date, kind: str, name: str, actor: str) -> CalendarDay:
        """Make ``day`` a holiday (``off``) or an adjusted working day (``work``, weekends only)."""
        name = name.strip()
        if kind not in {"off", "work"}:
            raise InvalidDay("kind 须为 off（放假）或 work（调休上班）")
        if not 1 <= len(name) <= 32:
            raise InvalidDay("请填写节日名称（1–32 字）")
        if kind == "work" and day.weekday() < 5:
            raise InvalidDay(f"{day} 是工作日，只有周末才能设为调休上班")
        if not 2000 <= day.year <= 2100:
            raise InvalidDay("日期超出范围")
        now = utcnow()
        insert = upsert_insert(self.engine)
        values = {"day": day, "kind": kind, "name": name, "updated_by": actor, "updated_at": now}
        with self.engine.begin() as conn:
            conn.execute(insert(_days).values(**values).on_conflict_do_update(index_elements=["day"], set_=values))
            conn.execute(
                insert(_years)
                .values(year=day.year, source="administrator", updated_at=now)
                .on_conflict_do_nothing(index_elements=["year"])
            )
            change = AuditRecord(now, actor, "calendar.set", day.isoformat(), {"kind": kind, "name": name})
            recounted = self._commit_change(conn, change)
        self.invalidate()
        return CalendarDay(day, kind, name, actor, recounted)

    def remove_day(self, day: date, actor: str) -> int:
        """``day`` becomes an ordinary day again (a working day unless it is a weekend); returns how many
        open cases' due dates moved."""
        now = utcnow()
        with self.engine.begin() as conn:
            if conn.execute(delete(Day).where(col(Day.day) == day)).rowcount == 0:
                raise NotFound(f"{day} 不是节假日或调休日")
            recounted = self._commit_change(conn, AuditRecord(now, actor, "calendar.removed", day.isoformat(), {}))
        self.invalidate()
        return recounted

    def invalidate(self) -> None:
        """Read the database again at the next :meth:`calendar` (a change made here is in force at once)."""
        with self._lock:
            self._checked_at = float("-inf")


def _build(rows: _Rows) -> WorkCalendar:
    years, days = rows
    return WorkCalendar(
        years=sorted(set(years) | {d.year for d, _, _ in days}),
        source="hub",
        holidays=[Holiday(name=name, first=d, last=d) for d, kind, name in days if kind == "off"],
        adjusted_workdays=[AdjustedWorkday(day=d, name=name) for d, kind, name in days if kind == "work"],
    )
