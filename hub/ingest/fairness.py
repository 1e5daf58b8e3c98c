"""What keeps one terminal from starving the others inside the hub: a queue per terminal served in turn,
and a token bucket per terminal.

paho's network thread puts each message in its terminal's lane of a :class:`FairQueue`; the ingest thread
takes a group by visiting the lanes in turn, one message each, so a terminal with a thousand messages
waiting delays another terminal's next message by at most one of its own per group. ``put`` never blocks
(a blocked network thread sends no PINGREQ, and the broker drops it): what may be dropped is refused
when the queue is full, and what may not is bounded by whoever puts it (the hub: the broker's Receive
Maximum, a room ``reserved`` for it).

A :class:`RateLimits` bucket per terminal holds ``burst`` tokens and gains ``rate`` a second; a message takes
one token per started :data:`TOKEN_BYTES` of its payload (:func:`cost`), so that one message of a thousand
sealed cases costs what it weighs, not what a heartbeat does. The bucket is asked when the message arrives, on
paho's network thread: a message that finds its terminal's bucket empty is not processed. It is acknowledged
there and then and dropped, counted; the last of them from each terminal is dead-lettered as ``rate_limited``
with the next group, a second later at most, standing for the others (a record the operator and the fleet page
see, and a rejection telling the terminal). A terminal sends its case batch again from its outbox (it has no
ack for it), so nothing is lost; a flood costs the hub a look at the topic per message, not a decode, an
opening, a transaction and an insert — and does not sit in the broker's queue ahead of the other terminals'
messages (measured: `tests/integration/test_ingest_flood.py`).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["TOKEN_BYTES", "FairQueue", "RateLimits", "cost"]

T = TypeVar("T")

TOKEN_BYTES = 4096  # a heartbeat takes one token; a batch of 200 sealed cases (~38 KB) ten


def cost(size: int) -> int:
    """Tokens a message of ``size`` payload bytes takes: one per started :data:`TOKEN_BYTES`, at least one."""
    return max(1, -(-size // TOKEN_BYTES))


class FairQueue(Generic[T]):
    """A queue of lanes (one per key), taken round robin. ``put`` never blocks: a ``droppable`` item is
    refused once ``maxsize - reserved`` items wait, any other is always queued (its putter keeps their
    number within ``reserved``, so at most ``maxsize`` items wait). :meth:`close` wakes every taker, which
    then gets what is left and, after that, None."""

    def __init__(self, maxsize: int, reserved: int = 0) -> None:
        self.maxsize = maxsize
        self.reserved = reserved
        self._lanes: OrderedDict[str, deque[T]] = OrderedDict()
        self._size = 0
        self._closed = False
        self._cond = threading.Condition()

    def put(self, key: str, item: T, droppable: bool = False) -> bool:
        """Queue ``item`` in ``key``'s lane; False (not queued) for a droppable item when the queue is full."""
        with self._cond:
            if droppable and self._size >= self.maxsize - self.reserved:
                return False
            lane = self._lanes.get(key)
            if lane is None:
                lane = self._lanes[key] = deque()
            lane.append(item)
            self._size += 1
            self._cond.notify_all()
            return True

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

    def allow(self, key: str, tokens_wanted: int = 1) -> bool:
        """Take ``tokens_wanted`` of ``key``'s bucket, if it has them (a message bigger than the whole burst
        passes when the bucket is full, leaving it in debt)."""
        if self.rate <= 0:
            return True
        now = self._clock()
        tokens, at = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        allowed = tokens >= min(tokens_wanted, self.burst)
        self._buckets[key] = (tokens - tokens_wanted if allowed else tokens, now)
        if len(self._buckets) > self._keep:  # the least recently heard terminal's bucket is full again by now
            self._buckets.popitem(last=False)
        return allowed
