"""The catalogue as the kiosk shows it: each holder's services by eligibility, search, due dates.

A tap needs every item's status (eligible, needs check, not eligible) and none of their sentences: the
lists are made from :func:`protocol.eligibility.status` (300 rules in well under a millisecond), and a verdict
is worded only for the item a page shows. What does not depend on the holder (item order, departments) is
worked out once per catalogue. The same few attribute sets (age, sex, household, card type) come back all
day: their statuses are kept, a few kB each, in caches bounded by count. Search matches
pinyin initials (from the start first, then anywhere), then Chinese, English and full-pinyin names; an
item's keywords count as names, so ``lnjt`` finds 老年综合津贴申领 by its keyword 老年津贴.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from cachetools import LRUCache

# pypinyin's phrase dictionary costs 55 MB of a 120 MB budget, and only fixes one reading in the seed
# (给付 jǐfù). The kiosk indexes every reading of each character instead, so either spelling is found; the
# ``shegong`` command turns the dictionary off at start (shegong.cli.LIBRARY_SWITCHES), before any import.
from pypinyin import Style, lazy_pinyin, pinyin

from protocol.catalogue import Catalogue, Department, ServiceItem
from protocol.eligibility import Attributes, Eligibility, ItemStatus, StatusTest, Verdict, compile_status
from protocol.likely import Ranked, rank
from protocol.workdays import WorkCalendar, add_working_days, next_working_day

__all__ = ["CENTRE_CLOSES", "DepartmentItems", "Directory", "Match", "SearchHit", "StatusItems", "search_keys"]

#: The centres' weekday hours are 8:30–16:30: after this a visit is suggested for the next working day.
CENTRE_CLOSES = time(15, 30)


def _readings(compact: str) -> list[tuple[str, str]]:
    """``(full pinyin, initials)`` of ``compact``: the default reading first, then one per other reading of
    a character with several (给 gěi/jǐ), so either spelling is found."""
    default = lazy_pinyin(compact, errors="default")
    readings = [("".join(default), "".join(s[0] for s in default if s))]
    options = pinyin(compact, style=Style.NORMAL, heteronym=True, errors="default")
    for n, choices in enumerate(options):
        for other in choices[1:4]:
            if other != default[n]:
                alt = [*default[:n], other, *default[n + 1 :]]
                readings.append(("".join(alt), "".join(s[0] for s in alt if s)))
    return readings


def _compact(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def search_keys(text: str) -> tuple[str, ...]:
    """``(chinese, full pinyin, initials, …)`` of a name, lower-case, without spaces or punctuation.

    A character with several readings (给 gěi/jǐ) adds the full pinyin and initials of each other reading.
    """
    compact = _compact(text)
    keys = [compact]
    for full, initials in _readings(compact):
        keys += [full, initials]
    return tuple(dict.fromkeys(keys))


class Match(enum.IntEnum):
    """How a query matched an item, best first: the order search results come in."""

    INITIALS_PREFIX = 0  # zc → 重残无业… (zcwy…)
    INITIALS = 1  # zc → 社区老年助餐… (sqlnzc…)
    NAME = 2  # 就业, jiuye or allowance anywhere in the Chinese, pinyin or English name


@dataclass(frozen=True)
class _Entry:
    item: ServiceItem
    initials: tuple[str, ...]  # of the name and each keyword, every reading
    texts: tuple[str, ...]  # the name and keywords in Chinese and full pinyin, and the English name


def _entry(item: ServiceItem) -> _Entry:
    initials: list[str] = []
    texts: list[str] = [_compact(item.name_en)]
    for name in (item.name, *item.keywords):
        compact = _compact(name)
        texts.append(compact)
        for full, first_letters in _readings(compact):
            texts.append(full)
            initials.append(first_letters)
    return _Entry(item, tuple(dict.fromkeys(initials)), tuple(dict.fromkeys(texts)))


def _match(query: str, entry: _Entry) -> Match | None:
    if any(key.startswith(query) for key in entry.initials):
        return Match.INITIALS_PREFIX
    if any(query in key for key in entry.initials):
        return Match.INITIALS
    if any(query in text for text in entry.texts):
        return Match.NAME
    return None


@dataclass(frozen=True)
class SearchHit:
    item: ServiceItem
    match: Match


@dataclass(frozen=True)
class DepartmentItems:
    """One department's items in one status group, in catalogue order."""

    department: Department
    items: tuple[ItemStatus, ...]


@dataclass(frozen=True)
class StatusItems:
    """The items of one status, by department (catalogue order); empty departments left out."""

    status: Eligibility
    departments: tuple[DepartmentItems, ...]

    @property
    def count(self) -> int:
        return sum(len(d.items) for d in self.departments)


_Key = tuple[tuple[str, object], ...]


def _key(attrs: Attributes) -> _Key:
    return tuple(sorted(attrs.values.items()))


class Directory:
    """One catalogue and one work calendar; safe to share between request threads.

    ``cache_size``: attribute sets whose statuses are kept (a tuple of one status per item); the grouped
    lists of the rarer all-services page are kept for an eighth as many.
    """

    def __init__(self, catalogue: Catalogue, calendar: WorkCalendar, cache_size: int = 512) -> None:
        self.catalogue = catalogue
        self.calendar = calendar
        self._codes = tuple(item.code for item in catalogue.items)
        self._order = {code: n for n, code in enumerate(self._codes)}
        self._index = [_entry(item) for item in catalogue.items]
        # Per catalogue, not per holder: each department's place, each item's department's place.
        dept_at = {dept.code: n for n, dept in enumerate(catalogue.departments)}
        self._dept_of = tuple(dept_at[item.department] for item in catalogue.items)
        self._eligibility: tuple[StatusTest, ...] = tuple(compile_status(i.eligibility) for i in catalogue.items)
        self._likely: tuple[tuple[int, str, StatusTest], ...] = tuple(
            (n, item.code, compile_status(item.likely))
            for n, item in enumerate(catalogue.items)
            if item.likely is not None
        )
        self._statuses: LRUCache[_Key, tuple[Eligibility, ...]] = LRUCache(cache_size)
        self._groups: LRUCache[_Key, tuple[StatusItems, ...]] = LRUCache(max(1, cache_size // 8))
        self._lock = threading.Lock()

    # -- eligibility --------------------------------------------------------------------------------------
    def statuses(self, attrs: Attributes) -> tuple[Eligibility, ...]:
        """Every item's status for ``attrs``, in catalogue order (no verdict worded), cached per attributes."""
        key = _key(attrs)
        with self._lock:
            hit = self._statuses.get(key)
        if hit is None:
            values = attrs.values
            hit = tuple(test(values) for test in self._eligibility)
            with self._lock:
                self._statuses[key] = hit
        return hit

    def groups(self, attrs: Attributes) -> tuple[StatusItems, ...]:
        """Eligible, needs-check and not-eligible items, always in that order, each by department; cached
        per attributes."""
        key = _key(attrs)
        with self._lock:
            hit = self._groups.get(key)
        if hit is None:
            buckets: dict[tuple[Eligibility, int], list[ItemStatus]] = {}
            for item, dept, status in zip(self.catalogue.items, self._dept_of, self.statuses(attrs), strict=True):
                buckets.setdefault((status, dept), []).append(ItemStatus(item, status))
            departments = self.catalogue.departments
            hit = tuple(
                StatusItems(
                    status,
                    tuple(
                        DepartmentItems(dept, tuple(items))
                        for n, dept in enumerate(departments)
                        if (items := buckets.get((status, n)))
                    ),
                )
                for status in Eligibility
            )
            with self._lock:
                self._groups[key] = hit
        return hit

    def ranked(self, attrs: Attributes) -> Ranked:
        """The items the holder may apply for, likeliest first (:func:`protocol.likely.rank`). Not kept: it
        is made in a fraction of a millisecond from the kept statuses, and the page showing it is kept."""
        values, statuses = attrs.values, self.statuses(attrs)
        likely = {  # only where it matters: items the holder may apply for
            code
            for n, code, test in self._likely
            if statuses[n] is not Eligibility.NOT_ELIGIBLE and test(values) is Eligibility.ELIGIBLE
        }
        return rank(self.catalogue, attrs, statuses, likely)

    def verdict(self, attrs: Attributes, code: str) -> Verdict:
        """Item ``code``'s verdict for ``attrs``, worded in both languages; ``KeyError`` for no such item."""
        item = self.catalogue.get(code)
        if item is None:
            raise KeyError(code)
        return item.evaluate(attrs)

    def item(self, code: str) -> ServiceItem | None:
        return self.catalogue.get(code)

    def department_name(self, code: str, lang: str = "zh") -> str:
        dept = self.catalogue.department(code)
        return dept.name_en if lang == "en" else dept.name

    # -- search -------------------------------------------------------------------------------------------
    def search(self, query: str, among: Sequence[ServiceItem] | None = None) -> list[ServiceItem]:
        """Items matching ``query``, best first: pinyin initials from the start (``sbk`` → 社保卡…), then
        initials anywhere, then the query anywhere in a name (Chinese, pinyin, English); catalogue order
        within each. A name's initials are also its keywords' (老年津贴 → ``lnjt``). Letters spread
        across a name (``zc`` in 知青档案查询, zqdacx) do not match."""
        return [hit.item for hit in self.hits(query, among)]

    def hits(self, query: str, among: Sequence[ServiceItem] | None = None) -> list[SearchHit]:
        """:meth:`search` with how each item matched."""
        q = _compact(query)
        if not q:
            return [SearchHit(item, Match.NAME) for item in (among if among is not None else self.catalogue.items)]
        allowed = None if among is None else {item.code for item in among}
        hits = []
        for entry in self._index:
            if allowed is not None and entry.item.code not in allowed:
                continue
            match = _match(q, entry)
            if match is not None:
                hits.append(SearchHit(entry.item, match))
        return sorted(hits, key=lambda h: (h.match, self._order[h.item.code]))

    # -- dates --------------------------------------------------------------------------------------------
    def due_date(self, item: ServiceItem, submitted: date) -> date:
        """The promised completion date of a case submitted on ``submitted``."""
        return add_working_days(submitted, item.promised_days, self.calendar)

    def tentative(self, due: date) -> bool:
        """Whether ``due`` lies in a year whose holiday arrangement this calendar lacks (only weekends are
        known there: a holiday announced later moves the date)."""
        return not self.calendar.covers(due)

    def suggested_visit(self, now: datetime) -> date:
        """The next day the centre is open for a full visit: today before mid-afternoon on a working day."""
        today = now.date()
        start = today if now.time() < CENTRE_CLOSES else today + timedelta(days=1)
        return next_working_day(start, self.calendar)
