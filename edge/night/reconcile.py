"""The terminal's side of nightly reconciliation (the exchange is described in :mod:`protocol.reconcile`).

Round 1 sends one digest per day of the window; round 2 lists the items of the days that differ. What the
hub confirms is marked reconciled (and may then be purged, edge.store.retention); what it lacks goes back
in the outbox from the sealed copy kept here, for the sync agent to send; the events it says this terminal
lacks are applied at once; what it holds that this terminal never listed is counted and reported.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from edge.errors import EdgeError
from edge.night.ledger import Ledger
from edge.night.link import AgentLink
from edge.store.cases import CaseStore
from protocol.envelope import utcnow
from protocol.reconcile import (
    MAX_DAYS,
    MAX_EVENTS_UP,
    MAX_ITEMS,
    DayDigest,
    DayItems,
    ReconcileReplyBody,
    ReconcileRequest,
    ReconcileRequestBody,
    ReconcileStatus,
    day_digest,
    day_of,
)

__all__ = ["ReconcileResult", "Reconciliation"]

log = logging.getLogger(__name__)


class HubRefused(EdgeError):
    """The hub answered the reconciliation with an error."""


@dataclass(slots=True)
class ReconcileResult:
    days: int = 0
    days_differ: int = 0
    confirmed: int = 0
    resent_cases: int = 0
    resent_ratings: int = 0
    events_applied: int = 0
    events_resent: int = 0
    unknown_at_terminal: int = 0
    clock_offset_s: float = 0.0

    def counts(self) -> dict[str, int]:
        return {
            "days": self.days,
            "days_differ": self.days_differ,
            "confirmed": self.confirmed,
            "resent_cases": self.resent_cases,
            "resent_ratings": self.resent_ratings,
            "events_applied": self.events_applied,
            "events_resent": self.events_resent,
            "unknown_at_terminal": self.unknown_at_terminal,
        }


class Reconciliation:
    def __init__(
        self,
        ledger: Ledger,
        cases: CaseStore,
        terminal: str,
        window_days: int,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.ledger = ledger
        self.cases = cases
        self.terminal = terminal
        self.window_days = window_days
        self._clock = clock

    def run(self, link: AgentLink) -> ReconcileResult:
        now = self._clock()
        first, last = self.ledger.window(day_of(now), self.window_days)
        lines = self.ledger.lines(first, last)
        result = ReconcileResult(days=(last - first).days + 1)
        digests = [DayDigest(day=d, count=len(v), digest=day_digest(v)) for d, v in sorted(lines.items())]
        differ: list[date] = []
        offsets: list[float] = []
        # Round 1, in requests of at most MAX_DAYS days (a window stretched far back by an old unconfirmed case).
        # Each request covers the days from its first to the day before the next one's: no day is left out.
        for i in range(0, max(1, len(digests)), MAX_DAYS):
            part = digests[i : i + MAX_DAYS]
            lo = part[0].day if i else first
            hi = digests[i + MAX_DAYS].day - timedelta(days=1) if i + MAX_DAYS < len(digests) else last
            reply, offset = self._ask(link, ReconcileRequestBody(first_day=lo, last_day=hi, digests=part))
            offsets.append(offset)
            result.confirmed += self.ledger.confirm((x for d in reply.confirmed for x in lines.get(d, [])), now)
            differ += reply.differ
        result.days_differ = len(differ)
        # Round 2: the items of the days that differ, a few days per request.
        batch: list[DayItems] = []
        size = 0
        for day in sorted(set(differ)):
            items = lines.get(day, [])
            if batch and (size + len(items) > MAX_ITEMS or len(batch) == MAX_DAYS):
                offsets.append(self._details(link, batch, result, now))
                batch, size = [], 0
            batch.append(DayItems(day=day, items=items))
            size += len(items)
        if batch:
            offsets.append(self._details(link, batch, result, now))
        result.clock_offset_s = sorted(offsets)[len(offsets) // 2] if offsets else 0.0
        self.ledger.record(now, result.counts(), hub_now=now + timedelta(seconds=result.clock_offset_s))
        log.info("nightly reconciliation: %s", result.counts())
        return result

    def _details(self, link: AgentLink, batch: list[DayItems], result: ReconcileResult, now: datetime) -> float:
        body = ReconcileRequestBody(first_day=batch[0].day, last_day=batch[-1].day, items=batch)
        reply, offset = self._ask(link, body)
        # A case the hub is behind on is confirmed only once it took the events back (its line, below).
        behind = {line.rsplit(":", 1)[0] for line in reply.ahead}
        result.confirmed += self.ledger.confirm((x for x in reply.held if x.rsplit(":", 1)[0] not in behind), now)
        if reply.missing:
            requeued = self.ledger.requeue([str(m) for m in reply.missing], now)
            result.resent_cases += requeued["cases"]
            result.resent_ratings += requeued["ratings"]
        if reply.events:
            self.cases.apply_events(list(reply.events), now)
            result.events_applied += len(reply.events)
        if reply.ahead:  # the hub lost events it had sent here (restored from an older backup): send them back
            self.ledger.doubt(reply.ahead)  # confirmed again below only as far as the hub takes them
            events = self.ledger.events_after(reply.ahead)
            for i in range(0, len(events), MAX_EVENTS_UP):
                part = events[i : i + MAX_EVENTS_UP]
                body = ReconcileRequestBody(first_day=batch[0].day, last_day=batch[-1].day, events=part)
                back, _ = self._ask(link, body)
                result.confirmed += self.ledger.confirm(back.held, now)
                result.events_resent += len(part)
            log.warning("the hub lacked %d event(s) of %d case(s): sent back", len(events), len(reply.ahead))
        result.unknown_at_terminal += len(reply.unknown)
        if reply.unknown:
            log.warning("the hub holds %d case(s) from this terminal that it never listed", len(reply.unknown))
        return offset

    def _ask(self, link: AgentLink, body: ReconcileRequestBody) -> tuple[ReconcileReplyBody, float]:
        request = ReconcileRequest(terminal=self.terminal, sent_at=self._clock(), body=body)
        reply, offset = link.ask(request, body.correlation_id)
        if reply.body.status is not ReconcileStatus.OK:
            raise HubRefused(f"the hub could not reconcile: {reply.body.error}")
        return reply.body, offset
