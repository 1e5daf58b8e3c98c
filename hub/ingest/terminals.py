"""What births, deaths and heartbeats say about a terminal, kept in the ``terminals`` table.

A death counts only if its ``bd_seq`` is the live session's: a late Will never marks a live terminal
offline. A birth older than the one on record (a retained message read back) changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from hub.cases.delivery import stored_events
from hub.db.models import CaseEventRow, TerminalRow, table
from hub.ingest.metrics import IngestMetrics
from protocol.cases import CaseEvent
from protocol.health import Heartbeat
from protocol.state import Birth, Death

__all__ = ["Terminals"]

log = logging.getLogger(__name__)
_terms, _events = table(TerminalRow), table(CaseEventRow)


class Terminals:
    def __init__(self, insert: Callable[..., Any], metrics: IngestMetrics) -> None:
        self._insert = insert
        self.metrics = metrics

    def get(self, conn: Connection, terminal: str) -> dict[str, Any]:
        row = conn.execute(select(_terms).where(_terms.c.terminal_id == terminal)).mappings().first()
        if row is None:
            conn.execute(self._insert(_terms).values(terminal_id=terminal).on_conflict_do_nothing())
            row = conn.execute(select(_terms).where(_terms.c.terminal_id == terminal)).mappings().one()
        return dict(row)

    def lock(self, conn: Connection, terminals: set[str]) -> None:
        """On PostgreSQL, lock the rows of ``terminals`` in one order, first thing in a transaction. Hub
        workers sharing intake commit groups that touch the same terminals (heartbeats, births, cases):
        each taking its rows in its own order deadlocked two of them (the server then aborts one group,
        which waits and is tried again). In one sorted order a worker waits, and never deadlocks, there.
        SQLite has one writer: nothing to do."""
        if conn.dialect.name != "postgresql" or not terminals:
            return
        wanted = sorted(t for t in terminals if t)
        conn.execute(
            select(_terms.c.terminal_id)
            .where(_terms.c.terminal_id.in_(wanted))
            .order_by(_terms.c.terminal_id)
            .with_for_update()
        ).all()

    def known(self, conn: Connection, terminals: set[str]) -> None:
        """Make sure each terminal has a row (nothing else changes): one that sends only refused messages
        is then on the fleet dashboard too, with its alert."""
        for terminal in sorted(t for t in terminals if t):
            conn.execute(self._insert(_terms).values(terminal_id=terminal).on_conflict_do_nothing())

    def seen(self, conn: Connection, terminal: str, at: datetime, seq: int, skew: float) -> None:
        """A QoS 1 message arrived: last seen, clock offset, and a gap in its sequence counted."""
        t = self.get(conn, terminal)
        values: dict[str, Any] = {
            "last_seen_at": at,
            "clock_skew_s": skew,
            "last_seq": max(seq, t["last_seq"]),
        }
        if t["last_seq"] and seq > t["last_seq"] + 1:
            self.metrics.seq_gaps.inc()
            values["seq_gaps"] = t["seq_gaps"] + 1
        conn.execute(update(_terms).where(_terms.c.terminal_id == terminal).values(**values))

    def birth(self, conn: Connection, birth: Birth, at: datetime) -> list[CaseEvent]:
        """Record a birth; return the events the terminal missed (after its watermark) to resend."""
        t = self.get(conn, birth.terminal)
        if birth.body.bd_seq < t["bd_seq"]:
            log.info("stale birth of %s ignored (bd_seq %d < %s)", birth.terminal, birth.body.bd_seq, t["bd_seq"])
            return []
        conn.execute(
            update(_terms)
            .where(_terms.c.terminal_id == birth.terminal)
            .values(
                online=True,
                bd_seq=birth.body.bd_seq,
                last_seq=birth.seq,
                last_birth_at=at,
                last_seen_at=at,
                app_version=birth.body.app_version,
                catalogue_version=birth.body.catalogue_version,
                clock_skew_s=birth.clock_offset_s(at),
            )
        )
        missed = stored_events(
            conn, _events.c.terminal_id == birth.terminal, _events.c.id > birth.body.events_watermark
        )
        log.info("birth of %s (bd_seq %d); %d event(s) to resync", birth.terminal, birth.body.bd_seq, len(missed))
        return [event for _terminal, event in missed]

    def death(self, conn: Connection, death: Death, at: datetime) -> None:
        t = self.get(conn, death.terminal)
        if death.body.bd_seq != t["bd_seq"]:
            self.metrics.late_wills.inc()
            log.info("late will of %s ignored (bd_seq %d, live %s)", death.terminal, death.body.bd_seq, t["bd_seq"])
            return
        conn.execute(update(_terms).where(_terms.c.terminal_id == death.terminal).values(online=False, last_seen_at=at))
        log.warning("terminal %s went offline", death.terminal)

    def heartbeats(self, conn: Connection, beats: list[tuple[Heartbeat, datetime]]) -> None:
        """Record heartbeats of distinct terminals: one update of their rows, one statement for them all
        (a row is made first for a terminal never heard of)."""
        wanted = [hb.terminal for hb, _ in beats]
        have = set(conn.execute(select(_terms.c.terminal_id).where(_terms.c.terminal_id.in_(wanted))).scalars())
        self.known(conn, set(wanted) - have)
        conn.execute(
            _BEAT,
            [
                {
                    "t": hb.terminal,
                    "seen": at,
                    "health_json": hb.body.model_dump_json(),
                    "app": hb.body.app_version,
                    "catalogue": hb.body.catalogue_version,
                    "skew": hb.clock_offset_s(at),
                }
                for hb, at in beats
            ],
        )


_BEAT = (
    update(_terms)
    .where(_terms.c.terminal_id == bindparam("t"))
    .values(
        last_seen_at=bindparam("seen"),
        health=bindparam("health_json"),
        app_version=bindparam("app"),
        catalogue_version=bindparam("catalogue"),
        clock_skew_s=bindparam("skew"),
    )
)
