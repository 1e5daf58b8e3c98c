"""Reports over a period, per department and per item: the figures electronic supervision scores by.

For a period (local calendar days, inclusive):

- ``received``: cases received in the period;
- ``decided`` / ``completed`` / ``rejected`` / ``withdrawn``: cases closed in the period;
- ``median_days`` / ``p95_days``: received → decided (completed or rejected), calendar days;
- ``in_time_share``: of the decided cases with a promised time, the share decided by their due date
  (the due date already moved by any 补正 pause);
- ``overdue``: decided (or withdrawn) late in the period, plus still running past a due date that fell in
  the period or before it (a case overdue since before the period and still open is outstanding in it);
- ``refused``: of the decided, those refused at acceptance (不予受理); ``rejected`` are those decided
  against after review (不予批准);
- ``over_statutory``: decided (or withdrawn) after the statutory time limit (法定办结时限) in the period, plus still
  running past a statutory due date that fell in the period or before it;
- satisfaction: ratings given in the period, five levels; 不满意 (2) and 非常不满意 (1) are bad;
- return calls (回访整改): those bad ratings opened in the period, how many are recorded and how many
  were (or are) late.

Percentiles are computed in Python (:mod:`hub.reports.stats`) so both databases agree. The work is a
handful of grouped queries and one pass over the decided cases' durations: 100,000 cases well within
a second.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select
from sqlmodel import col

from hub.cases.states import OPEN
from hub.catalogue.in_force import catalogue_in_force
from hub.db.models import CaseRow, CaseWorkRow, RatingRow, ReturnCallRow, table
from hub.reports.stats import percentile
from hub.text import text
from kernel.db import read_only
from protocol.catalogue import Catalogue
from protocol.envelope import utcnow
from protocol.localtime import LOCAL_TZ, local_date

__all__ = ["LEVELS", "Figures", "Period", "Report", "WorstItem", "build", "build_all", "per_item"]

_cases, _work, _ratings = table(CaseRow), table(CaseWorkRow), table(RatingRow)
R = ReturnCallRow
LEVELS = (5, 4, 3, 2, 1)
"""非常满意 5, 满意 4, 基本满意 3, 不满意 2, 非常不满意 1."""
BAD = frozenset({1, 2})
_DAY_S = 86400.0


@dataclass(frozen=True, slots=True)
class Period:
    """Local calendar days ``start`` to ``end``, both included."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("the period ends before it starts")

    def bounds(self) -> tuple[datetime, datetime]:
        """The period as UTC instants, start included and end excluded."""
        lo = datetime.combine(self.start, time(), LOCAL_TZ).astimezone(UTC)
        hi = datetime.combine(self.end + timedelta(days=1), time(), LOCAL_TZ).astimezone(UTC)
        return lo, hi

    @classmethod
    def last_days(cls, days: int, today: date | None = None) -> Period:
        today = today or local_date(utcnow())
        return cls(today - timedelta(days=days - 1), today)


@dataclass(slots=True)
class Figures:
    """One line of the report: a department, an item, or the whole centre."""

    code: str
    name: str
    department: str = ""
    received: int = 0
    decided: int = 0
    completed: int = 0
    refused: int = 0
    rejected: int = 0
    withdrawn: int = 0
    over_statutory: int = 0
    return_calls: int = 0
    return_calls_done: int = 0
    return_calls_unreached: int = 0  # of those recorded, the resident was not reached (the call was not made good)
    return_calls_late: int = 0
    in_time: int = 0
    with_due: int = 0
    overdue: int = 0
    median_days: float | None = None
    p95_days: float | None = None
    ratings: dict[int, int] = field(default_factory=lambda: dict.fromkeys(LEVELS, 0))

    @property
    def in_time_share(self) -> float | None:
        return self.in_time / self.with_due if self.with_due else None

    @property
    def rated(self) -> int:
        return sum(self.ratings.values())

    @property
    def bad(self) -> int:
        return sum(n for level, n in self.ratings.items() if level in BAD)

    @property
    def bad_share(self) -> float | None:
        return self.bad / self.rated if self.rated else None

    @property
    def mean_level(self) -> float | None:
        return sum(level * n for level, n in self.ratings.items()) / self.rated if self.rated else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "department": self.department,
            "received": self.received,
            "decided": self.decided,
            "completed": self.completed,
            "refused": self.refused,
            "rejected": self.rejected,
            "withdrawn": self.withdrawn,
            "over_statutory": self.over_statutory,
            "return_calls": self.return_calls,
            "return_calls_done": self.return_calls_done,
            "return_calls_unreached": self.return_calls_unreached,
            "return_calls_late": self.return_calls_late,
            "median_days": _round(self.median_days),
            "p95_days": _round(self.p95_days),
            "in_time_share": _round(self.in_time_share, 4),
            "overdue": self.overdue,
            "ratings": {str(k): v for k, v in self.ratings.items()},
            "rated": self.rated,
            "bad": self.bad,
            "bad_share": _round(self.bad_share, 4),
            "mean_level": _round(self.mean_level, 2),
        }


@dataclass(frozen=True, slots=True)
class WorstItem:
    code: str
    name: str
    department: str
    rated: int
    bad: int
    bad_share: float
    mean_level: float
    reasons: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "department": self.department,
            "rated": self.rated,
            "bad": self.bad,
            "bad_share": round(self.bad_share, 4),
            "mean_level": round(self.mean_level, 2),
            "reasons": self.reasons,
        }


@dataclass(frozen=True, slots=True)
class Report:
    period: Period
    generated_at: datetime
    today: date
    total: Figures
    departments: list[Figures]
    items: list[Figures]
    worst_items: list[WorstItem]

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.period.start.isoformat(),
            "end": self.period.end.isoformat(),
            "generated_at": self.generated_at.isoformat(),
            "today": self.today.isoformat(),
            "total": self.total.as_dict(),
            "departments": [f.as_dict() for f in self.departments],
            "items": [f.as_dict() for f in self.items],
            "worst_items": [w.as_dict() for w in self.worst_items],
        }


WORST_MIN_RATINGS = 3  # an item ranks among the worst-rated only with this many ratings in the period


def build(
    engine: Engine,
    period: Period,
    departments: Collection[str] | None = None,
    catalogue: Catalogue | None = None,
    today: date | None = None,
    worst: int = 5,
    min_ratings: int = WORST_MIN_RATINGS,
) -> Report:
    """The report for ``period``, limited to ``departments`` when given (all of them otherwise); items and
    departments are named by ``catalogue`` (by default the catalogue in force in ``engine``'s database)."""
    catalogue = catalogue or catalogue_in_force(engine)
    today = today or local_date(utcnow())
    lo, hi = period.bounds()
    dept_names = {d.code: d.name for d in catalogue.departments}
    # One line per item and department: a case a manager routed elsewhere, or an item a catalogue version
    # moved, counts for the department that holds it, not for whichever row of the item came first.
    items: dict[tuple[str, str], Figures] = {}

    def item(code: str, department: str) -> Figures:
        f = items.get((code, department))
        if f is None:
            known = catalogue.get(code)
            f = items[(code, department)] = Figures(code, known.name if known else code, department)
        return f

    def scoped(col: Any) -> list[Any]:
        return [col.in_(list(departments))] if departments is not None else []

    durations: dict[tuple[str, str], list[float]] = defaultdict(list)
    with read_only(engine).connect() as conn:
        received = select(_cases.c.department, _cases.c.item_code, func.count()).where(
            _cases.c.received_at >= lo, _cases.c.received_at < hi, *scoped(_cases.c.department)
        )
        for dept, code, n in conn.execute(received.group_by(_cases.c.department, _cases.c.item_code)):
            item(code, dept).received += n

        decided = select(
            _work.c.department, _work.c.item_code, _work.c.outcome, _work.c.processing_s, _work.c.in_time
        ).where(_work.c.decided_at >= lo, _work.c.decided_at < hi, *scoped(_work.c.department))
        rows = conn.execute(decided).all()
        tally = Counter((dept, code, outcome, in_time) for dept, code, outcome, _, in_time in rows)
        for dept, code, _, seconds, _ in rows:
            if seconds is not None:
                durations[(code, dept)].append(seconds / _DAY_S)
        del rows
        for (dept, code, outcome, in_time), n in tally.items():
            f = item(code, dept)
            if outcome == "withdrawn":  # no decision: only a withdrawal past the due date counts (late)
                f.withdrawn += n
                f.overdue += n if in_time is False else 0
                continue
            f.decided += n
            if outcome == "completed":
                f.completed += n
            elif outcome == "refused":
                f.refused += n
            else:
                f.rejected += n
            if in_time is not None:
                f.with_due += n
                if in_time:
                    f.in_time += n
                else:
                    f.overdue += n

        # Running at the period's end past the due date it had then (however long before the period): open now
        # or decided only after the period, and not waiting in 补正 then. A 补正 pause begun after the period
        # does not take the case out of it, nor does the due date its end moved on: the dates then were those
        # before the pause. A past period's figure stays as it was when the period ended (a numbers review).
        cutoff = min(period.end, today - timedelta(days=1))
        w = _work
        then = select(
            _cases.c.department,
            _cases.c.item_code,
            _cases.c.due_date,
            _cases.c.statutory_due,
            w.c.pause_began,
            w.c.pause_ended,
            w.c.due_before_pause,
            w.c.statutory_before_pause,
        ).select_from(_cases.outerjoin(w, w.c.case_id == _cases.c.case_id))
        then = then.where(
            or_(_cases.c.status.in_([s.value for s in OPEN]), w.c.decided_at >= hi),
            or_(
                *(
                    c <= cutoff
                    for c in (
                        _cases.c.due_date,
                        _cases.c.statutory_due,
                        w.c.due_before_pause,
                        w.c.statutory_before_pause,
                    )
                )
            ),
            *scoped(_cases.c.department),
        )
        for dept, code, due, law, began, ended, due_before, law_before in conn.execute(then):
            if began is not None and began < hi and (ended is None or ended >= hi):
                continue  # waiting in 补正 at the period's end: its clock stood still
            if began is not None and began >= hi:
                due, law = due_before, law_before
            f = item(code, dept)
            f.overdue += int(due is not None and due <= cutoff)
            f.over_statutory += int(law is not None and law <= cutoff)

        late_law = select(_work.c.department, _work.c.item_code, func.count()).where(
            _work.c.statutory_in_time.is_(False),
            _work.c.decided_at >= lo,
            _work.c.decided_at < hi,
            *scoped(_work.c.department),
        )
        for dept, code, n in conn.execute(late_law.group_by(_work.c.department, _work.c.item_code)):
            item(code, dept).over_statutory += n

        calls = select(col(R.department), col(R.item_code), col(R.due_date), col(R.done_at), col(R.reached)).where(
            col(R.opened_at) >= lo, col(R.opened_at) < hi, *scoped(col(R.department))
        )
        unassigned_calls = Figures("", "")
        for dept, code, due, done_at, reached in conn.execute(calls):  # one per bad rating: few, counted here
            f = item(code, dept) if code else unassigned_calls
            f.return_calls += 1
            f.return_calls_done += done_at is not None
            f.return_calls_unreached += done_at is not None and reached is False
            f.return_calls_late += (local_date(done_at) if done_at is not None else today) > due

        rated_where = [_ratings.c.rated_at >= lo, _ratings.c.rated_at < hi, *scoped(_ratings.c.department)]
        ratings = select(_ratings.c.department, _ratings.c.item_code, _ratings.c.level, func.count()).where(
            *rated_where
        )
        unassigned = Figures("", "")
        for dept, code, level, n in conn.execute(
            ratings.group_by(_ratings.c.department, _ratings.c.item_code, _ratings.c.level)
        ):
            if level not in LEVELS:
                continue
            f = item(code, dept) if code else unassigned
            f.ratings[level] += n

        worst_items = _worst(items.values(), worst, min_ratings)
        reasons: dict[tuple[str, str], list[str]] = defaultdict(list)
        if worst_items:
            q = (
                select(_ratings.c.item_code, _ratings.c.department, _ratings.c.reason)
                .where(
                    and_(*rated_where),
                    _ratings.c.item_code.in_([f.code for f in worst_items]),
                    _ratings.c.level.in_(sorted(BAD)),
                    _ratings.c.reason != "",
                )
                .order_by(_ratings.c.rated_at.desc())
                .limit(50 * len(worst_items))
            )
            for code, dept, reason in conn.execute(q):
                said = reasons[(code, dept)]
                if len(said) < 5 and reason not in said:
                    said.append(reason)

    all_durations: list[float] = []
    by_dept_durations: dict[str, list[float]] = defaultdict(list)
    for key, values in durations.items():
        values.sort()
        f = items[key]
        f.median_days, f.p95_days = percentile(values, 0.5), percentile(values, 0.95)
        by_dept_durations[f.department].extend(values)
        all_durations.extend(values)

    depts: dict[str, Figures] = {}
    for f in items.values():
        d = depts.get(f.department)
        if d is None:
            d = depts[f.department] = Figures(f.department, dept_names.get(f.department, f.department))
        _add(d, f)
    for dept in catalogue.departments:  # a department with nothing in the period shows its zeros, not nothing
        if departments is None or dept.code in departments:
            depts.setdefault(dept.code, Figures(dept.code, dept.name))
    for code, values in by_dept_durations.items():
        values.sort()
        depts[code].median_days, depts[code].p95_days = percentile(values, 0.5), percentile(values, 0.95)

    total = Figures("*", text("report", "total"))
    for d in depts.values():
        _add(total, d)
    _add(total, unassigned)
    _add(total, unassigned_calls)
    all_durations.sort()
    total.median_days, total.p95_days = percentile(all_durations, 0.5), percentile(all_durations, 0.95)

    order = {d.code: i for i, d in enumerate(catalogue.departments)}
    item_order = {it.code: i for i, it in enumerate(catalogue.items)}
    return Report(
        period=period,
        generated_at=utcnow(),
        today=today,
        total=total,
        departments=sorted(depts.values(), key=lambda f: (order.get(f.code, len(order)), f.code)),
        items=sorted(
            items.values(),
            key=lambda f: (item_order.get(f.code, len(item_order)), f.code, order.get(f.department, len(order))),
        ),
        worst_items=[
            WorstItem(
                f.code,
                f.name,
                f.department,
                f.rated,
                f.bad,
                f.bad_share or 0.0,
                f.mean_level or 0.0,
                reasons.get((f.code, f.department), []),
            )
            for f in worst_items
        ],
    )


def build_all(engine: Engine, period: Period) -> Report:
    """The benchmark's entry: the whole centre's report over ``period`` (every department and item)."""
    return build(engine, period)


def _worst(items: Iterable[Figures], n: int, min_ratings: int) -> list[Figures]:
    rated = [f for f in items if f.rated >= min_ratings and f.bad]
    rated.sort(key=lambda f: (-(f.bad_share or 0.0), f.mean_level or 0.0, f.code))
    return rated[:n]


def per_item(lines: Iterable[Figures]) -> list[Figures]:
    """Item lines summed over the departments that held the item's cases, one per item in their order (the
    public statistics name an item once); no durations, which do not add up."""
    merged: dict[str, Figures] = {}
    for f in lines:
        into = merged.get(f.code)
        if into is None:
            into = merged[f.code] = Figures(f.code, f.name, f.department)
        _add(into, f)
    return list(merged.values())


def _add(into: Figures, f: Figures) -> None:
    for name in (
        "received",
        "decided",
        "completed",
        "refused",
        "rejected",
        "withdrawn",
        "in_time",
        "with_due",
        "overdue",
        "over_statutory",
        "return_calls",
        "return_calls_done",
        "return_calls_unreached",
        "return_calls_late",
    ):
        setattr(into, name, getattr(into, name) + getattr(f, name))
    for level, n in f.ratings.items():
        into.ratings[level] += n


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)
