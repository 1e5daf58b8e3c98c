"""Failed attempts counted per key in a sliding window: the progress lookup's rate limit.

A key (``client:127.0.0.1``, ``receipt:JW001-20260301-0001``) that failed ``limit`` times within the last
``window_s`` seconds is refused until its oldest failure leaves the window. Refusals say how long to
wait, never which part of an attempt was wrong. Thread-safe; memory is bounded by ``max_keys``.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable

__all__ = ["Throttle"]


class Throttle:
    def __init__(
        self,
        limit: int,
        window_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("need limit >= 1 and window_s > 0")
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_in(self, keys: Iterable[str]) -> float:
        """Seconds until every one of ``keys`` may try again; 0 when all may now."""
        with self._lock:
            now = self._clock()
            wait = 0.0
            for key in keys:
                times = self._recent(key, now)
                if len(times) >= self.limit:
                    wait = max(wait, times[0] + self.window_s - now)
            return wait

    def failed(self, keys: Iterable[str]) -> None:
        """Count one failed attempt against each of ``keys``."""
        with self._lock:
            now = self._clock()
            for key in keys:
                times = self._recent(key, now)
                times.append(now)
                self._failures[key] = times
                self._failures.move_to_end(key)
            while len(self._failures) > self._max_keys:
                self._failures.popitem(last=False)  # the least recently failing key goes first

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and now - times[0] >= self.window_s:
            times.popleft()
        return times
