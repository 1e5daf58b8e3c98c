"""Public statistics (信息公开): per month, per department and per item, how many cases came, the share
decided in time and the satisfaction — the figures of :mod:`hub.reports` (one computation, the report's),
cut to aggregates the public may read.

A cell counting fewer than ``min_count`` cases (or, for satisfaction, ratings) is suppressed (None):
with two applications of an item in a month, the month's figures would tell a neighbour how one person
fared. The page says so. A line with nothing to show is left out.

The cases received add up — the items to their department, the departments to the centre — so hiding a
small count alone is not enough: 民政 4 with 最低生活保障 3 shown tells that one case went to another 民政
item, and the centre's 13 less 民政 8 and 人社 4 that one went to some other department. So, among the
lines that add up to a count shown, the smallest others are hidden too until those hidden add up to none
or to at least ``min_count`` (:func:`hidden`), and the items of a department whose count is hidden are
hidden with it (their department's count would otherwise come back as the centre's less the others).

Only months that are over are shown, the last one first. The month running changed with each case
received, decided or rated, and anyone could reload the page a minute later (:data:`CACHE_S`): an item's
satisfaction going from 4.60 to 4.00 as a neighbour is seen rating it says they gave 1 (23 of 5 ratings,
then 24 of 6), whatever ``min_count`` is. A month over no longer changes: its cells can only be read as
the month's whole.

The months are computed at most once a minute (:data:`CACHE_S`) per process: a public page anyone may
reload must not run twelve reports per reload.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from hub.reports.reporter import Reporter
from hub.reports.service import Figures, Period, per_item
from protocol.catalogue import Catalogue
from protocol.envelope import utcnow
from protocol.localtime import local_date

__all__ = ["CACHE_S", "MonthStats", "PublicLine", "PublicStats", "hidden"]

CACHE_S = 60.0


@dataclass(frozen=True, slots=True)
class PublicLine:
    """One department or item in one month; None: fewer than the threshold (not shown)."""

    code: str
    name: str
    name_en: str
    received: int | None
    in_time_share: float | None
    satisfaction: float | None
    """Mean level, 1 (非常不满意) to 5 (非常满意)."""


@dataclass(frozen=True, slots=True)
class MonthStats:
    month: str
    """``YYYY-MM``."""
    total: PublicLine
    departments: list[PublicLine]
    items: list[PublicLine]


def _months(today: date, n: int) -> list[tuple[date, date]]:
    """The last ``n`` months before ``today``'s, newest first: (first day, last day)."""
    out: list[tuple[date, date]] = []
    end = today.replace(day=1) - timedelta(days=1)
    first = end.replace(day=1)
    for _ in range(n):
        out.append((first, end))
        end = first - timedelta(days=1)
        first = end.replace(day=1)
    return out


def hidden(counts: Mapping[str, int], k: int) -> set[str]:
    """Of lines whose ``counts`` add up to their parent's (shown when it is ``k`` or more), those whose count
    is not shown: each under ``k``, then the smallest of the others (by count, then code) while those hidden
    add up to more than nothing and less than ``k`` — the parent less the lines shown would tell it."""
    out = {code for code, n in counts.items() if n < k}
    others = sorted((n, code) for code, n in counts.items() if code not in out)
    while others and 0 < sum(counts[code] for code in out) < k:
        out.add(others.pop(0)[1])
    return out


class PublicStats:
    def __init__(self, reporter: Reporter, catalogue: Callable[[], Catalogue], months: int, min_count: int) -> None:
        self.reporter = reporter
        self.catalogue = catalogue
        self.months = months
        self.min_count = min_count
        self._lock = threading.Lock()
        self._cached: tuple[float, date, list[MonthStats]] | None = None

    def _line(self, f: Figures, name_en: str, hide_received: bool = False) -> PublicLine:
        k = self.min_count
        return PublicLine(
            code=f.code,
            name=f.name,
            name_en=name_en,
            received=f.received if f.received >= k and not hide_received else None,
            in_time_share=round(f.in_time_share, 4) if f.in_time_share is not None and f.with_due >= k else None,
            satisfaction=round(f.mean_level, 2) if f.mean_level is not None and f.rated >= k else None,
        )

    def month(self, start: date, end: date) -> MonthStats:
        catalogue = self.catalogue()
        english = {d.code: d.name_en for d in catalogue.departments} | {i.code: i.name_en for i in catalogue.items}
        report = self.reporter.report(Period(start, end))
        k = self.min_count
        # Hidden by the item-and-department lines, which add up to their department's count: an item is hidden
        # where any of its lines is. Merged first, a department's items no longer added up to it, and a hidden
        # count could be worked out by subtraction (a review).
        secret = hidden({d.code: d.received for d in report.departments}, k)
        for d in report.departments:
            mine = {f.code: f.received for f in report.items if f.department == d.code}
            secret |= set(mine) if d.code in secret else hidden(mine, k)

        def shown(lines: list[Figures]) -> list[PublicLine]:
            out = [self._line(f, english.get(f.code, f.name), f.code in secret) for f in lines]
            return [p for p in out if (p.received, p.in_time_share, p.satisfaction) != (None, None, None)]

        return MonthStats(
            month=f"{start:%Y-%m}",
            total=self._line(report.total, "All"),
            departments=shown(report.departments),
            items=shown(per_item(report.items)),  # an item once, over the departments that held its cases
        )

    def recent(self, today: date | None = None) -> list[MonthStats]:
        """The last ``months`` months over, newest first (as computed within the last :data:`CACHE_S` seconds)."""
        today = today or local_date(utcnow())
        with self._lock:
            cached = self._cached
            if cached is not None and cached[1] == today and time.monotonic() - cached[0] < CACHE_S:
                return cached[2]
            months = [self.month(start, end) for start, end in _months(today, self.months)]
            self._cached = (time.monotonic(), today, months)
            return months
