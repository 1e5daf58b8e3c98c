"""Keep the processes a local run started (``shegong demo``) going, and say so when one stops.

Each :class:`Part` is one process: how to ask whether it still runs, how to start it again, and its log.
:meth:`Supervisor.check`, called every half second or so, notices a part that stopped and writes which part,
its exit code and the last lines of its log to ``out``. A part that may safely start again is restarted,
after a pause that doubles each time (1, 2, 4 … s), at most ``max_restarts`` times within ``window_s``;
beyond that — or for a part that must not restart — ``check`` returns ``False`` and the caller stops.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

__all__ = ["Part", "Supervisor", "last_lines", "wait_http"]

LOG_LINES = 10


@dataclass
class Part:
    """One process of the run. ``exit_code`` is ``None`` while it runs; ``restart`` is ``None`` when it
    must not be started again by itself."""

    name: str
    exit_code: Callable[[], int | None]
    log: Path
    restart: Callable[[], None] | None = None
    restarts: list[float] = field(default_factory=list)
    due: float | None = None  # when a stopped part is to start again


def wait_http(url: str, timeout: float = 30.0) -> bool:
    """Whether a started process's web answers ``url`` within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def last_lines(path: Path, n: int = LOG_LINES) -> list[str]:
    """The last ``n`` lines of a log, empty when there is none yet."""
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 16384))
            tail = f.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return tail.splitlines()[-n:]


class Supervisor:
    def __init__(
        self,
        out: TextIO,
        max_restarts: int = 5,
        window_s: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.out = out
        self.max_restarts = max_restarts
        self.window_s = window_s
        self._clock = clock
        self.parts: list[Part] = []

    def add(self, part: Part) -> Part:
        self.parts.append(part)
        return part

    def check(self) -> bool:
        """Look at every part once: report the ones that stopped, restart those that are due. ``False``
        when a part stopped for good (it may not restart, or restarted too often): the run should end."""
        now = self._clock()
        for part in self.parts:
            if part.due is not None:
                if now >= part.due:
                    self._restart(part, now)
                continue
            code = part.exit_code()
            if code is None:
                continue
            self._say(f"demo: {part.name} stopped (exit code {code})")
            lines = last_lines(part.log)
            if lines:
                self._say(f"demo: last lines of {part.log}:")
                for line in lines:
                    self._say(f"    {line}")
            part.restarts = [t for t in part.restarts if now - t < self.window_s]
            if part.restart is None:
                self._say(f"demo: {part.name} is not restarted by itself; stopping the demo")
                return False
            if len(part.restarts) >= self.max_restarts:
                self._say(
                    f"demo: {part.name} stopped {len(part.restarts) + 1} times in {self.window_s:.0f} s;"
                    " giving up, stopping the demo"
                )
                return False
            pause = float(2 ** len(part.restarts))
            part.due = now + pause
            self._say(f"demo: restarting {part.name} in {pause:.0f} s")
        return True

    def _restart(self, part: Part, now: float) -> None:
        part.due = None
        part.restarts.append(now)
        assert part.restart is not None  # only a part that may restart is ever due
        try:
            part.restart()
        except Exception as exc:  # a failed start is a stop like any other: seen on the next check
            self._say(f"demo: {part.name} did not start again: {exc}")
            return
        self._say(f"demo: {part.name} restarted ({len(part.restarts)} of at most {self.max_restarts})")

    def _say(self, line: str) -> None:
        print(line, file=self.out, flush=True)
