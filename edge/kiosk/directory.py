"""The catalogue as the kiosk shows it: each holder's services by eligibility, search, due dates.

Evaluating 50–300 rules per tap is cheap but not free, and the same few attribute sets (age, sex,
household, card type) come back all day: verdict lists are cached per (attributes, day). Search matches
Chinese names, English names, full pinyin and pinyin initials, in order or as a subsequence, so
``lnjt`` finds 老年综合津贴申领 (老年津贴).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from cachetools import LRUCache

# pypinyin's phrase dictionary costs 55 MB of a 120 MB budget, and only fixes one reading in the seed
# (给付 jǐfù). The kiosk indexes every reading of each character instead, so either spelling is found.
os.environ.setdefault("PYPINYIN_NO_PHRASES", "1")
os.environ.setdefault("PYPINYIN_NO_DICT_COPY", "1")
from pypinyin import Style, lazy_pinyin, pinyin  # noqa: E402

from protocol.catalogue import Catalogue, ServiceItem
from protocol.eligibility import Attributes, Eligibility, StatusGroup, Verdict, evaluate_catalogue
from protocol.workdays import WorkCalendar, add_working_days, next_working_day

__all__ = ["CENTRE_CLOSES", "Directory", "SearchHit", "search_keys"]

#: The centres' weekday hours are 8:30–16:30: after this a visit is suggested for the next working day.
CENTRE_CLOSES = time(15, 30)


def search_keys(text: str) -> tuple[str, ...]:
    """``(chinese, full pinyin, initials, …)`` of a name, lower-case, without spaces or punctuation.

    A character with several readings (给 gěi/jǐ) adds the full pinyin and initials of each other reading.
    """
    compact = "".join(ch for ch in text.lower() if ch.isalnum())
    keys = [compact, "".join(lazy_pinyin(compact, errors="default"))]
    keys.append("".join(s[0] for s in lazy_pinyin(compact, style=Style.FIRST_LETTER, errors="default") if s))
    readings = pinyin(compact, style=Style.NORMAL, heteronym=True, errors="default")
    default = lazy_pinyin(compact, errors="default")
    for n, options in enumerate(readings):
        for other in options[1:4]:
            if other != default[n]:
                alt = [*default[:n], other, *default[n + 1 :]]
                keys += ["".join(alt), "".join(s[0] for s in alt if s)]
    return tuple(dict.fromkeys(keys))


def _subsequence_span(query: str, text: str) -> int | None:
    """Length of the shortest-from-first-match window of ``text`` holding ``query`` in order, or None."""
    start = text.find(query[0])
    if start < 0:
        return None
    i = start
    for ch in query[1:]:
        i = text.find(ch, i + 1)
        if i < 0:
            return None
    return i - start + 1


@dataclass(frozen=True)
class SearchHit:
    item: ServiceItem
    score: tuple[int, int, int]


class Directory:
    """One catalogue and one work calendar; safe to share between request threads."""

    def __init__(self, catalogue: Catalogue, calendar: WorkCalendar, cache_size: int = 512) -> None:
        self.catalogue = catalogue
        self.calendar = calendar
        self._order = {item.code: n for n, item in enumerate(catalogue.items)}
        self._index = [
            (item, search_keys(item.name), "".join(ch for ch in item.name_en.lower() if ch.isalnum()))
            for item in catalogue.items
        ]
        self._cache: LRUCache[tuple[object, ...], tuple[StatusGroup, ...]] = LRUCache(cache_size)
        self._verdicts: LRUCache[tuple[object, ...], dict[str, Verdict]] = LRUCache(cache_size)
        self._lock = threading.Lock()

    # -- eligibility --------------------------------------------------------------------------------------
    def groups(self, attrs: Attributes) -> tuple[StatusGroup, ...]:
        """Eligible, needs-check and not-eligible groups (by department), cached per attributes."""
        key = tuple(sorted(attrs.values.items()))
        with self._lock:
            hit = self._cache.get(key)
        if hit is None:
            hit = evaluate_catalogue(self.catalogue, attrs)
            with self._lock:
                self._cache[key] = hit
        return hit

    def verdict(self, attrs: Attributes, code: str) -> Verdict:
        key = tuple(sorted(attrs.values.items()))
        with self._lock:
            verdicts = self._verdicts.get(key)
        if verdicts is None:
            verdicts = {
                iv.item.code: iv.verdict
                for group in self.groups(attrs)
                for dept in group.departments
                for iv in dept.items
            }
            with self._lock:
                self._verdicts[key] = verdicts
        return verdicts[code]

    def item(self, code: str) -> ServiceItem | None:
        return self.catalogue.get(code)

    def department_name(self, code: str, lang: str = "zh") -> str:
        dept = self.catalogue.department(code)
        return dept.name_en if lang == "en" else dept.name

    # -- search -------------------------------------------------------------------------------------------
    def search(self, query: str, among: Sequence[ServiceItem] | None = None) -> list[ServiceItem]:
        """Items matching ``query`` best first: substring before subsequence, tighter before looser."""
        q = "".join(ch for ch in query.lower() if ch.isalnum())
        if not q:
            return list(among if among is not None else self.catalogue.items)
        allowed = None if among is None else {item.code for item in among}
        hits: list[SearchHit] = []
        for item, keys, english in self._index:
            if allowed is not None and item.code not in allowed:
                continue
            best: tuple[int, int, int] | None = None
            for text in (*keys, english):
                if q in text:
                    score = (0, len(text), self._order[item.code])
                else:
                    span = _subsequence_span(q, text) if len(q) >= 2 else None
                    if span is None or span > 3 * len(q):
                        continue
                    score = (1, span, self._order[item.code])
                if best is None or score < best:
                    best = score
            if best is not None:
                hits.append(SearchHit(item, best))
        return [h.item for h in sorted(hits, key=lambda h: h.score)]

    # -- dates --------------------------------------------------------------------------------------------
    def due_date(self, item: ServiceItem, submitted: date) -> date:
        """The promised completion date of a case submitted on ``submitted``."""
        return add_working_days(submitted, item.promised_days, self.calendar)

    def suggested_visit(self, now: datetime) -> date:
        """The next day the centre is open for a full visit: today before mid-afternoon on a working day."""
        today = now.date()
        start = today if now.time() < CENTRE_CLOSES else today + timedelta(days=1)
        return next_working_day(start, self.calendar)

    @staticmethod
    def is_eligible_status(verdict: Verdict) -> bool:
        return verdict.status is Eligibility.ELIGIBLE
