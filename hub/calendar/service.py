"""The holiday calendar in the hub database: seeded from the official arrangement, kept by an administrator.

Reads are cached for a short while (ingest asks for a due date per case); a change made here drops the
cache at once, a change made by another process is seen within :data:`CACHE_S`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from hub.audit.chain import AuditRecord, append
from hub.db.models import CalendarDayRow, CalendarYearRow
from hub.errors import HubError, NotFound
from protocol.envelope import utcnow
from protocol.workdays import AdjustedWorkday, Holiday, WorkCalendar

__all__ = ["CACHE_S", "CalendarDay", "CalendarService", "InvalidDay"]

CACHE_S = 60.0
_days, _years = CalendarDayRow.__table__, CalendarYearRow.__table__


class InvalidDay(HubError):
    status_code = 422


@dataclass(frozen=True, slots=True)
class CalendarDay:
    day: date
    kind: str  # "off": a holiday; "work": a weekend day worked (调休上班)
    name: str
    updated_by: str


class CalendarService:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._cached: tuple[float, WorkCalendar] | None = None

    def calendar(self) -> WorkCalendar:
        """The calendar as the database holds it now (cached for :data:`CACHE_S`)."""
        with self._lock:
            if self._cached and time.monotonic() - self._cached[0] < CACHE_S:
                return self._cached[1]
        cal = self._load()
        with self._lock:
            self._cached = (time.monotonic(), cal)
        return cal

    def _load(self) -> WorkCalendar:
        # Read on a bare DBAPI connection: ingest asks for due dates inside its own write transaction,
        # and on SQLite the engine's transactions begin IMMEDIATE, which would wait for that very one.
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute("SELECT year FROM calendar_years")
            years = {int(y) for (y,) in cur.fetchall()}
            cur.execute("SELECT day, kind, name FROM calendar_days ORDER BY day")
            rows = [(date.fromisoformat(str(d)[:10]), kind, name) for d, kind, name in cur.fetchall()]
            cur.close()
        finally:
            raw.close()
        return WorkCalendar(
            years=sorted(years | {d.year for d, _, _ in rows}),
            source="hub",
            holidays=[Holiday(name=name, first=d, last=d) for d, kind, name in rows if kind == "off"],
            adjusted_workdays=[AdjustedWorkday(day=d, name=name) for d, kind, name in rows if kind == "work"],
        )

    def days(self, year: int | None = None) -> list[CalendarDay]:
        q = select(_days).order_by(_days.c.day)
        if year is not None:
            q = q.where(_days.c.day >= date(year, 1, 1), _days.c.day <= date(year, 12, 31))
        with self.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        return [CalendarDay(r["day"], r["kind"], r["name"], r["updated_by"]) for r in rows]

    def years(self) -> list[int]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(_years.c.year).order_by(_years.c.year)).scalars())

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
        insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        values = {"day": day, "kind": kind, "name": name, "updated_by": actor, "updated_at": now}
        with self.engine.begin() as conn:
            conn.execute(insert(_days).values(**values).on_conflict_do_update(index_elements=["day"], set_=values))
            conn.execute(
                insert(_years)
                .values(year=day.year, source="administrator", updated_at=now)
                .on_conflict_do_nothing(index_elements=["year"])
            )
            append(conn, [AuditRecord(now, actor, "calendar.set", day.isoformat(), {"kind": kind, "name": name})])
        self.invalidate()
        return CalendarDay(day, kind, name, actor)

    def remove_day(self, day: date, actor: str) -> None:
        """``day`` becomes an ordinary day again (a working day unless it is a weekend)."""
        now = utcnow()
        with self.engine.begin() as conn:
            if conn.execute(delete(_days).where(_days.c.day == day)).rowcount == 0:
                raise NotFound(f"{day} 不是节假日或调休日")
            append(conn, [AuditRecord(now, actor, "calendar.removed", day.isoformat(), {})])
        self.invalidate()

    def invalidate(self) -> None:
        with self._lock:
            self._cached = None
