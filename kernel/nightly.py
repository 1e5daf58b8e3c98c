"""Running a night: each step once, timed, its failure recorded and not stopping the others.

Shared by ``shegong edge nightly`` and ``shegong hub nightly``; the steps themselves are plain functions
of each side (``edge.night.steps``, ``hub.night.steps``) returning their counts.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from kernel.db import loggable

__all__ = ["NightResult", "Step", "StepResult", "run_steps"]

log = logging.getLogger(__name__)

Step = tuple[str, Callable[[], Mapping[str, int]]]
"""A step's name and what it runs: a function returning its counts (raising when it fails)."""


@dataclass(frozen=True, slots=True)
class StepResult:
    name: str
    ok: bool
    seconds: float
    counts: Mapping[str, int] = field(default_factory=dict)
    error: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "counts": dict(self.counts),
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class NightResult:
    started_at: datetime
    seconds: float
    steps: list[StepResult]

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)

    def as_json(self) -> str:
        return json.dumps(
            {
                "ok": self.ok,
                "started_at": self.started_at.isoformat(),
                "seconds": round(self.seconds, 3),
                "steps": [s.as_dict() for s in self.steps],
            },
            ensure_ascii=False,
        )


def run_steps(steps: Sequence[Step], started_at: datetime) -> NightResult:
    """Run every step in order; a step that raises is recorded as failed (its error, without personal
    data: the exception's kind, or a user error's own message) and the next one runs."""
    began = time.monotonic()
    out: list[StepResult] = []
    for name, fn in steps:
        t0 = time.monotonic()
        try:
            counts = {k: int(v) for k, v in fn().items()}
            out.append(StepResult(name, True, time.monotonic() - t0, counts))
        except Exception as exc:  # noqa: BLE001 - one failed step must not stop the night
            said = getattr(exc, "is_user_error", False)  # its message is written for the operator
            error = str(exc) if said else loggable(exc).split("\n", 1)[0]
            log.error("nightly step %s failed: %s", name, error if said else loggable(exc))
            out.append(StepResult(name, False, time.monotonic() - t0, {}, error[:300]))
    return NightResult(started_at, time.monotonic() - began, out)
