"""``shegong edge nightly``: the terminal's overnight steps, each a plain function run once, in order.

1. ``backup`` — an online copy of the database, integrity-checked, a few generations kept.
2. ``catalogue`` — the catalogue in force brought to the version the hub announces (retained).
3. ``reconcile`` — both ways with the hub, with repair (:mod:`edge.night.reconcile`).
4. ``clock`` — the hub's clock against ours, from the reconciliation's replies; an alarm when far off.
5. ``audit`` — this terminal's new audit entries to the hub, with the hub's anchors it witnessed.
6. ``retention`` — purge what the hub confirmed and the window allows, from the database and its backups.
7. ``report`` — the night's result to the hub, for this terminal's fleet page.

The steps that talk to the hub go through the terminal's sync agent (:class:`~edge.night.link.AgentLink`),
started for the night when it does not run; a step that fails is recorded and the next one runs
(:func:`kernel.nightly.run_steps`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime

from edge.errors import EdgeError
from edge.night.backup import Backups
from edge.night.ledger import Ledger
from edge.night.link import AgentLink
from edge.night.reconcile import ReconcileResult, Reconciliation
from edge.runtime import EdgeRuntime
from edge.text import text as words
from kernel.nightly import NightResult, Step, run_steps
from protocol import topics
from protocol.envelope import utcnow
from protocol.reconcile import NightReport, NightReportBody, NightStep

__all__ = ["CatalogueBehind", "Night", "run_night"]

log = logging.getLogger(__name__)
CATALOGUE_WAIT_S = 20.0
ANNOUNCEMENT_WAIT_S = 1.5


class CatalogueBehind(EdgeError):
    """The catalogue the hub announces could not be brought here in time."""


class ClockOff(EdgeError):
    """This terminal's clock is further from the hub's than the settings allow."""


class Night:
    """One night of one terminal; :meth:`steps` lists what :func:`run_night` runs."""

    def __init__(self, rt: EdgeRuntime, clock: Callable[[], datetime] = utcnow) -> None:
        self.rt = rt
        self.settings = rt.settings
        self._clock = clock
        self.started_at = clock()
        self._link: AgentLink | None = None
        self._catalogue = rt.catalogue_sync
        self.reconciled: ReconcileResult | None = None

    def link(self) -> AgentLink:
        if self._link is None:
            link = AgentLink(self.rt.agent, self.settings.night_reply_timeout_s, clock=self._clock)
            self._link = link
            link.open()
        return self._link

    def close(self) -> None:
        if self._link is not None:
            self._link.close()
            self._link = None

    def steps(self) -> list[Step]:
        return [
            ("backup", self.backup),
            ("catalogue", self.catalogue),
            ("reconcile", self.reconcile),
            ("clock", self.clock),
            ("audit", self.audit),
            ("retention", self.retention),
        ]

    # ------------------------------------------------------------------ the steps
    def backup(self) -> Mapping[str, int]:
        return Backups(self.settings).take(self._clock())

    def catalogue(self) -> Mapping[str, int]:
        """The broker hands the retained announcement over right after the subscription: none within
        ``ANNOUNCEMENT_WAIT_S`` means none is published. One newer than what is here is fetched and applied."""
        self.link()
        start = time.monotonic()
        while not self._catalogue.stats["announcements"] and time.monotonic() - start < ANNOUNCEMENT_WAIT_S:
            time.sleep(0.05)
        while (desired := self._catalogue.desired) is not None and self.rt.catalogue.version < desired.version:
            if time.monotonic() - start > CATALOGUE_WAIT_S:
                raise CatalogueBehind("the catalogue in force did not arrive in time; the sync agent goes on trying")
            time.sleep(0.1)
        return {
            "version": self.rt.catalogue.version,
            "announced": self._catalogue.stats["announcements"],
            "applied": self._catalogue.stats["applied"],
        }

    def reconcile(self) -> Mapping[str, int]:
        ledger = Ledger(self.rt.engine, self.settings.committee_code)
        job = Reconciliation(
            ledger, self.rt.cases, self.settings.terminal_id, self.settings.night_window_days, clock=self._clock
        )
        self.reconciled = job.run(self.link())
        return self.reconciled.counts()

    def clock(self) -> Mapping[str, int]:
        if self.reconciled is None:
            raise EdgeError("no reconciliation tonight, so no reading of the hub's clock")
        offset = self.reconciled.clock_offset_s
        counts = {"offset_ms": round(offset * 1000)}
        if abs(offset) > self.settings.clock_skew_alarm_s:
            self.rt.alarms.raise_("clock_skew", words("alarm.clock_skew", offset=offset))
            raise ClockOff(f"this terminal's clock is {-offset:+.0f} s off the hub's")
        self.rt.alarms.clear("clock_skew")
        return counts

    def audit(self) -> Mapping[str, int]:
        """This terminal's new audit entries up to the hub, with the hub anchors it witnessed."""
        return self.rt.witness.upload(self.link(), self._clock())

    def retention(self) -> Mapping[str, int]:
        counts = self.rt.retention.purge(now=self._clock())
        backups = Backups(self.settings).forget_purged()  # and what any purge took leaves the backups too
        return {
            "cases": counts.cases,
            "ratings": counts.ratings,
            "open_cases": counts.open_cases,
            "held": counts.held,
            "backup_cases": backups["cases"],
            "backup_ratings": backups["ratings"],
        }

    def report(self, result: NightResult) -> None:
        """Send the night's result to the hub (its fleet page shows it)."""
        body = NightReportBody(
            started_at=result.started_at,
            seconds=result.seconds,
            ok=result.ok,
            steps=[
                NightStep(name=s.name, ok=s.ok, seconds=s.seconds, counts=dict(s.counts), error=s.error)
                for s in result.steps
            ],
        )
        message = NightReport(terminal=self.settings.terminal_id, sent_at=self._clock(), body=body)
        self.link().publish(topics.up(self.settings.terminal_id, topics.Up.RECONCILE), message.encode())


def run_night(rt: EdgeRuntime, clock: Callable[[], datetime] = utcnow) -> NightResult:
    """Run the terminal's night once; the result includes the ``report`` step that sent it to the hub."""
    night = Night(rt, clock)
    try:
        result = run_steps(night.steps(), night.started_at)
        sent = run_steps([("report", lambda: _report(night, result))], clock())
        return NightResult(result.started_at, result.seconds + sent.seconds, [*result.steps, *sent.steps])
    finally:
        night.close()


def _report(night: Night, result: NightResult) -> Mapping[str, int]:
    night.report(result)
    return {"steps": len(result.steps)}
