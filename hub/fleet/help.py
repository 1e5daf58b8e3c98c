"""Residents' calls for staff (呼叫工作人员): raised at a kiosk, answered by a named person at the hub.

A kiosk raises its ``help_requested`` alarm and sends a heartbeat at once; the fleet registry turns it into
a ``help_requested`` alert (:mod:`hub.fleet.assess`). Someone signed in answers it here
(:meth:`HelpDesk.acknowledge`): the alert records who and when, the audit trail too, and a ``help_coming``
command carrying their name goes down to the terminal, which shows it and clears its alarm; its next
heartbeat clears the alert. Until then the answer is sent again every ``RESEND_S`` (a QoS 1 publish lost
with the broker link, or a terminal that was away, still gets it).

The time from the call (the alert raised) to the answer is what :meth:`HelpDesk.summary` reports.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select, update

from hub.audit.chain import AuditRecord, append
from hub.db.models import FleetAlertRow, TerminalRegisterRow, table
from hub.errors import HubError, NotFound
from hub.fleet.assess import AlertKind
from hub.ingest.committees import names as committee_names
from hub.ingest.terminals import lock_terminals
from hub.people.roles import Permission, Principal, authorize
from hub.text import text
from kernel.db import read_only
from protocol import topics
from protocol.envelope import utcnow
from protocol.state import Command, CommandBody, CommandName

__all__ = ["RESEND_S", "AlreadyAnswered", "CommitteeCalls", "HelpCall", "HelpDesk"]

log = logging.getLogger(__name__)
_alerts, _reg = table(FleetAlertRow), table(TerminalRegisterRow)
_KIND = AlertKind.HELP_REQUESTED.value
RESEND_S = 15.0
Send = Callable[[str, bytes], object]


class AlreadyAnswered(HubError):
    status_code = 409


@dataclass(frozen=True, slots=True)
class HelpCall:
    id: int
    terminal_id: str
    committee: str  # code; "" for a terminal not in the register
    committee_name: str  # the name, or the code where none is known
    raised_at: datetime
    cleared_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str
    responder: str

    @property
    def answer_s(self) -> float | None:
        """Seconds from the call to its answer."""
        if self.acknowledged_at is None:
            return None
        return max(0.0, (self.acknowledged_at - self.raised_at).total_seconds())

    @property
    def waiting(self) -> bool:
        """Still calling and nobody has answered."""
        return self.cleared_at is None and self.acknowledged_at is None


@dataclass(frozen=True, slots=True)
class CommitteeCalls:
    """One committee's calls in a period, for the reports."""

    committee: str
    committee_name: str
    calls: int
    answered: int
    median_s: float | None
    max_s: float | None


class HelpDesk:
    """The help calls of every terminal; ``send`` publishes (topic, payload) to the broker, None without one."""

    def __init__(self, engine: Engine, send: Send | None = None, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self._send = send
        self._clock = clock

    def calls(
        self,
        committee: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = 500,
    ) -> list[HelpCall]:
        """Calls newest first, the open ones (raised, not ended) and those raised since ``since``."""
        q = (
            select(_alerts, _reg.c.committee)
            .select_from(_alerts.outerjoin(_reg, _reg.c.terminal_id == _alerts.c.terminal_id))
            .where(_alerts.c.kind == _KIND)
            .order_by(_alerts.c.raised_at.desc())
        )
        if since is not None:
            q = q.where((_alerts.c.raised_at >= since) | _alerts.c.cleared_at.is_(None))
        if until is not None:
            q = q.where(_alerts.c.raised_at < until)
        if committee:
            q = q.where(_reg.c.committee == committee)
        with read_only(self.engine).connect() as conn:
            named = committee_names(conn)
            rows = conn.execute(q.limit(limit)).mappings().all()
        return [
            HelpCall(
                id=int(r["id"]),
                terminal_id=r["terminal_id"],
                committee=r["committee"] or "",
                committee_name=named.get(r["committee"] or "", r["committee"] or ""),
                raised_at=r["raised_at"],
                cleared_at=r["cleared_at"],
                acknowledged_at=r["acknowledged_at"],
                acknowledged_by=r["acknowledged_by"] or "",
                responder=r["responder"] or "",
            )
            for r in rows
        ]

    def waiting(self) -> int:
        """How many calls nobody has answered yet."""
        return sum(c.waiting for c in self.calls())

    def acknowledge(self, alert_id: int, who: Principal) -> HelpCall:
        """``who`` answers call ``alert_id``: recorded, audited and sent to the terminal."""
        authorize(who, Permission.HELP_ANSWER)
        now = self._clock()
        responder = (who.display_name or who.username)[:64]
        with self.engine.begin() as conn:
            row = conn.execute(select(_alerts).where(_alerts.c.id == alert_id, _alerts.c.kind == _KIND)).first()
            if row is None:
                raise NotFound(text("help_error", "no_call", alert_id=alert_id))
            # The terminal's lock before its alert and the audit chain's, as ingest takes them: ingest holds
            # the terminal's, then the chain's while it may clear this very alert.
            lock_terminals(conn, [row.terminal_id])
            done = conn.execute(
                update(_alerts)
                .where(_alerts.c.id == alert_id, _alerts.c.acknowledged_at.is_(None), _alerts.c.cleared_at.is_(None))
                .values(acknowledged_at=now, acknowledged_by=who.username, responder=responder)
            ).rowcount
            if not done:
                raise AlreadyAnswered(text("help_error", "answered"))
            wait_s = round((now - row.raised_at).total_seconds(), 1)
            append(
                conn,
                [
                    AuditRecord(
                        now, who.actor, "help.acknowledged", row.terminal_id, {"alert": alert_id, "wait_s": wait_s}
                    )
                ],
            )
        self._answer(alert_id, row.terminal_id, responder)
        log.info("help call at terminal %s answered after %.0f s", row.terminal_id, wait_s)
        return next(c for c in self.calls() if c.id == alert_id)

    def resend_due(self) -> int:
        """Send the answer again to terminals still calling after it (their heartbeat still says so)."""
        if self._send is None:
            return 0
        cutoff = self._clock() - timedelta(seconds=RESEND_S)
        with read_only(self.engine).connect() as conn:
            due = conn.execute(
                select(_alerts.c.id, _alerts.c.terminal_id, _alerts.c.responder).where(
                    _alerts.c.kind == _KIND,
                    _alerts.c.cleared_at.is_(None),
                    _alerts.c.acknowledged_at.is_not(None),
                    (_alerts.c.ack_sent_at.is_(None)) | (_alerts.c.ack_sent_at < cutoff),
                )
            ).all()
        for alert_id, terminal, responder in due:
            self._answer(alert_id, terminal, responder)
        return len(due)

    def _answer(self, alert_id: int, terminal: str, responder: str) -> None:
        if self._send is None:
            return
        command = Command(
            terminal=terminal, seq=0, body=CommandBody(command=CommandName.HELP_COMING, responder=responder)
        )
        self._send(topics.down(terminal, topics.Down.COMMANDS), command.encode())
        with self.engine.begin() as conn:
            conn.execute(update(_alerts).where(_alerts.c.id == alert_id).values(ack_sent_at=self._clock()))

    def summary(self, start: datetime, end: datetime) -> list[CommitteeCalls]:
        """Per committee, the calls raised in ``[start, end)``: how many, how many answered, and how long
        the answer took (median, longest)."""
        by: dict[str, list[HelpCall]] = {}
        for call in self.calls(since=start, until=end, limit=None):
            if call.raised_at >= start:
                by.setdefault(call.committee, []).append(call)
        out = []
        for code, calls in sorted(by.items()):
            waits = [w for c in calls if (w := c.answer_s) is not None]
            out.append(
                CommitteeCalls(
                    committee=code,
                    committee_name=calls[0].committee_name,
                    calls=len(calls),
                    answered=len(waits),
                    median_s=statistics.median(waits) if waits else None,
                    max_s=max(waits) if waits else None,
                )
            )
        return out
