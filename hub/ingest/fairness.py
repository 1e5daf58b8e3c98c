"""What keeps one terminal from starving the others inside the hub: a queue per terminal served in turn,
and a token bucket per terminal.

paho's network thread puts each message in its terminal's lane of a :class:`FairQueue`; the ingest thread
takes a group by visiting the lanes in turn, one message each, so a terminal with a thousand messages
waiting delays another terminal's next message by at most one of its own per group.

A :class:`RateLimits` bucket per terminal holds ``burst`` tokens and gains ``rate`` a second; each message
takes one. A message that finds its terminal's bucket empty is not processed (the ingest worker
dead-letters it as ``rate_limited`` and acknowledges it, and the terminal sends a case batch again from
its outbox), so a flood costs the hub one short insert per message, not a decode, an opening and a
transaction of work.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["FairQueue", "RateLimits"]

T = TypeVar("T")


class FairQueue(Generic[T]):
    """A bounded queue of lanes (one per key), taken round robin. ``put`` blocks while ``maxsize`` items
    wait; :meth:`close` wakes every taker, which then gets what is left and, after that, None."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._lanes: OrderedDict[str, deque[T]] = OrderedDict()
        self._size = 0
        self._closed = False
        self._cond = threading.Condition()

    def put(self, key: str, item: T) -> None:
        with self._cond:
            while self._size >= self.maxsize and not self._closed:
                self._cond.wait()
            lane = self._lanes.get(key)
            if lane is None:
                lane = self._lanes[key] = deque()
            lane.append(item)
            self._size += 1
            self._cond.notify_all()

    def take(self, n: int, timeout: float | None = None) -> list[T] | None:
        """Up to ``n`` items, one per lane in turn; waits for the first. [] on timeout, None once closed
        and empty."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._size or self._closed, timeout):
                return []
            if not self._size:
                return None
            out: list[T] = []
            while len(out) < n and self._lanes:
                key, lane = next(iter(self._lanes.items()))
                out.append(lane.popleft())
                if lane:
                    self._lanes.move_to_end(key)  # its next item waits for every other lane's turn
                else:
                    del self._lanes[key]
            self._size -= len(out)
            self._cond.notify_all()
            return out

    def qsize(self) -> int:
        return self._size

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class RateLimits:
    """A token bucket per key: ``burst`` tokens at most, ``rate`` more a second. ``rate`` 0 is no limit."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic, keep: int = 100_000
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._keep = keep
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    def allow(self, key: str) -> bool:
        """Take a token of ``key``'s bucket, if it has one."""
        if self.rate <= 0:
            return True
        now = self._clock()
        tokens, at = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        allowed = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._buckets) > self._keep:  # the least recently heard terminal's bucket is full again by now
            self._buckets.popitem(last=False)
        return allowed
