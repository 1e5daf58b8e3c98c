"""Noticing that the terminal's clock was set, and carrying the correction to the cases it stamped before.

A Raspberry Pi has no clock battery. After a power cut it starts at the time it last saved (systemd-timesyncd)
and NTP sets it only once the link to the centre is back — the link the outage took. Cases accepted in
between are stamped hours early (a year, on a card that never saved a time), and once the clock is right
their batches go out with a right ``sent_at``, so the hub cannot tell: it counted their promise from the
early stamp (a year-end review found such cases due, and red, on arrival).

The wall clock's offset from the boot-time clock (which nothing sets) changes only when the wall clock is
set. :class:`ClockWatch` looks at it every turn of the sync loop; when it moved by ``step_s`` or more it
reports the step with the span of the old clock's stamps it applies to: from this boot to now. The outbox
then adds the step to each case still queued and stamped in that span (``SealedCase.clock_fix_s``, outside
the seal), and the hub counts from the corrected time. A case sent before the clock was set went with a
``sent_at`` as wrong as its stamp, which the hub notices and counts from its own receipt time instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["STEP_S", "ClockWatch"]

STEP_S = 30.0
"""A change of the wall clock's offset this large is a step (NTP slews smaller errors at 0.5 ms a second)."""


def _since_boot() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME) if hasattr(time, "CLOCK_BOOTTIME") else time.monotonic()


class ClockWatch:
    def __init__(
        self,
        on_step: Callable[[float, datetime, datetime], object],
        wall: Callable[[], float] = time.time,
        since_boot: Callable[[], float] = _since_boot,
        step_s: float = STEP_S,
    ) -> None:
        """``on_step(seconds, first, last)``: the clock was set by ``seconds``; stamps from ``first`` to
        ``last`` (by the clock before) were made before it."""
        self.on_step = on_step
        self._wall, self._since_boot, self.step_s = wall, since_boot, step_s
        self._boot = wall() - since_boot()  # the boot's instant, by the wall clock

    def check(self) -> float:
        """Report a step since the last check, if any; returns it (0.0 for none)."""
        up = self._since_boot()
        boot = self._wall() - up
        step = boot - self._boot
        if abs(step) < self.step_s:
            return 0.0
        first = datetime.fromtimestamp(self._boot, UTC)
        last = datetime.fromtimestamp(self._boot + up, UTC)
        self._boot = boot
        self.on_step(step, first, last)
        return step
