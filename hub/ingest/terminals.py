"""What births, deaths and heartbeats say about a terminal, kept in the ``terminals`` table (the catalogue
version a terminal reports is the fleet's to keep: ``fleet_terminals``, :mod:`hub.fleet.registry`).

A death counts only if its ``bd_seq`` is the live session's: a late Will never marks a live terminal
offline. A birth older than the one on record (a retained message read back) changes nothing.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, String, and_, any_, bindparam, false, func, literal_column, or_, select, update

from hub.cases.delivery import stored_events
from hub.db.models import CaseEventRow, TerminalRow, table
from hub.ingest.metrics import IngestMetrics
from kernel.db import among
from protocol.cases import CaseEvent
from protocol.health import Heartbeat
from protocol.state import Birth, Death

__all__ = ["Mark", "Terminals", "lock_terminals"]

log = logging.getLogger(__name__)
_terms, _events = table(TerminalRow), table(CaseEventRow)


def lock_terminals(conn: Connection, terminals: Iterable[str], *, make: bool = False) -> None:
    """On PostgreSQL, lock the ``terminals`` rows of ``terminals`` in one order (sorted by id), and with
    ``make`` first make those missing, in the same pass. SQLite has one writer: nothing to do.

    A terminal's row is the lock on everything the hub keeps of that terminal: its row, its fleet row, its
    alerts and link events. Whoever writes any of them takes this lock first, all of a transaction's
    terminals at once and in this order: ingest groups (:meth:`Terminals.lock`), the fleet's evaluation
    round (for the terminals it changes), retiring a terminal, answering a help call. Each taking rows in
    its own order deadlocked: two workers on the heartbeats, births and cases of the same terminals; a
    worker and the evaluation round on fleet rows (the server then aborted one transaction, which waited a
    second and was tried again). ``make`` does it in one statement, the rows in sorted order: a row made
    by a later statement would be taken out of order (a terminal heard of for the first time by two workers
    at once). ``FOR NO KEY UPDATE`` strength: it waits for and blocks these writers, not a foreign key check.
    """
    if conn.dialect.name != "postgresql":
        return
    wanted = sorted({t for t in terminals if t})
    if wanted:
        lock, making = _lock_statements()
        conn.execute(making if make else lock, {"ids": wanted})


class Mark(NamedTuple):
    """Where a terminal's message sequence stands: the last number seen, and the gaps counted."""

    last_seq: int
    seq_gaps: int


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
        """First thing in an ingest group: make the rows of ``terminals`` that are missing and lock them all,
        in one sorted order (:func:`lock_terminals`)."""
        lock_terminals(conn, terminals, make=True)

    def known(self, conn: Connection, terminals: set[str]) -> None:
        """Make sure each terminal has a row (nothing else changes): one that sends only refused messages
        is then on the fleet dashboard too, with its alert."""
        for terminal in sorted(t for t in terminals if t):
            conn.execute(self._insert(_terms).values(terminal_id=terminal).on_conflict_do_nothing())

    def sessions(self, conn: Connection, terminals: list[str]) -> dict[str, tuple[int, int]]:
        """The session on record (``bd_seq``) and its birth's message number of each of ``terminals`` that had
        a row, in one query; the rows of the others are made (SQLite: no group lock made them), at the
        columns' default, -1."""
        rows = conn.execute(
            select(_terms.c.terminal_id, _terms.c.bd_seq, _terms.c.birth_seq).where(
                among(conn, _terms.c.terminal_id, terminals)
            )
        )
        on_record = {terminal: (int(bd), int(birth)) for terminal, bd, birth in rows}
        self.known(conn, set(terminals) - on_record.keys())
        return on_record

    def marks(self, conn: Connection, terminals: list[str]) -> dict[str, Mark]:
        """The sequence marks of ``terminals`` that have a row, in one query (for :meth:`seen`)."""
        rows = conn.execute(
            select(_terms.c.terminal_id, _terms.c.last_seq, _terms.c.seq_gaps).where(
                among(conn, _terms.c.terminal_id, terminals)
            )
        )
        return {terminal: Mark(last, gaps) for terminal, last, gaps in rows}

    def seen(
        self, conn: Connection, terminal: str, at: datetime, seq: int, skew: float, marks: dict[str, Mark]
    ) -> None:
        """A QoS 1 message arrived: last seen, clock offset, and a gap in its sequence counted. ``marks``: the
        terminals' marks as this transaction read them (:meth:`marks`), kept up to date here; a terminal
        missing from it is read now."""
        mark = marks.get(terminal)
        if mark is None:
            t = self.get(conn, terminal)
            mark = Mark(t["last_seq"], t["seq_gaps"])
        values: dict[str, Any] = {"last_seen_at": at, "clock_skew_s": skew, "last_seq": max(seq, mark.last_seq)}
        if mark.last_seq and seq > mark.last_seq + 1:
            self.metrics.count(self.metrics.seq_gaps)
            values["seq_gaps"] = mark.seq_gaps + 1
        conn.execute(update(_terms).where(_terms.c.terminal_id == terminal).values(**values))
        marks[terminal] = Mark(values["last_seq"], values.get("seq_gaps", mark.seq_gaps))

    def births(self, conn: Connection, births: list[tuple[Birth, datetime]]) -> dict[str, list[CaseEvent]]:
        """Record the births of distinct terminals; return, by terminal, the events each missed (after its
        watermark) to resend. A birth older than the session on record, or the birth on record itself read
        back (retained: sent to every worker that subscribes again), changes nothing and is left out; a
        birth of the same session the hub asked for (REBIRTH) has a later message number and is taken. One
        read of their rows, one update for them all, one query per
        :data:`_MISSED_PER_QUERY` terminals for what they missed: a fleet reconnecting at once (the VPN
        back) is thousands of births in a few seconds, and one by one they were most of the hub's work."""
        on_record = self.sessions(conn, [birth.terminal for birth, _ in births])
        fresh: list[tuple[Birth, datetime]] = []
        for birth, at in births:
            live, born = on_record.get(birth.terminal, (-1, -1))  # a row made just now: the columns' default
            if birth.body.bd_seq < live:
                log.info("stale birth of %s ignored (bd_seq %d < %s)", birth.terminal, birth.body.bd_seq, live)
            elif birth.body.bd_seq == live and birth.seq <= born:
                log.debug("the birth on record of %s read back (bd_seq %d), not new", birth.terminal, live)
            else:
                fresh.append((birth, at))
        if not fresh:
            return {}
        conn.execute(
            _BORN,
            [
                {
                    "t": birth.terminal,
                    "bd": birth.body.bd_seq,
                    "seq": birth.seq,
                    "at": at,
                    "app": birth.body.app_version,
                    "skew": birth.clock_offset_s(at),
                }
                for birth, at in fresh
            ],
        )
        missed = _missed(conn, {birth.terminal: birth.body.events_watermark for birth, _ in fresh})
        for birth, _ in fresh:
            n = len(missed[birth.terminal])
            log.info("birth of %s (bd_seq %d); %d event(s) to resync", birth.terminal, birth.body.bd_seq, n)
        return missed

    def death(self, conn: Connection, death: Death, at: datetime) -> None:
        t = self.get(conn, death.terminal)
        if death.body.bd_seq != t["bd_seq"]:
            self.metrics.count(self.metrics.late_wills)
            log.info("late will of %s ignored (bd_seq %d, live %s)", death.terminal, death.body.bd_seq, t["bd_seq"])
            return
        # The Will is the broker's word, sent a keepalive and a half after the terminal fell silent: the
        # terminal was last heard from before it (the fleet's link events keep when it came).
        conn.execute(update(_terms).where(_terms.c.terminal_id == death.terminal).values(online=False))
        log.warning("terminal %s went offline", death.terminal)

    def heartbeats(self, conn: Connection, beats: list[tuple[Heartbeat, datetime]]) -> None:
        """Record heartbeats of distinct terminals: one update of their rows, one statement for them all
        (a row is made first for a terminal never heard of)."""
        self.sessions(conn, [hb.terminal for hb, _ in beats])
        conn.execute(
            _BEAT,
            [
                {
                    "t": hb.terminal,
                    "seen": at,
                    "health_json": hb.body.model_dump_json(),
                    "app": hb.body.app_version,
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
        clock_skew_s=bindparam("skew"),
    )
)


# The session on record moves only forward (bd_seq): the read in ``births`` decided, and this guards it.
_BORN = (
    update(_terms)
    .where(_terms.c.terminal_id == bindparam("t"), _terms.c.bd_seq <= bindparam("bd"))
    .values(
        online=True,
        bd_seq=bindparam("bd"),
        birth_seq=bindparam("seq"),
        last_seq=bindparam("seq"),
        last_birth_at=bindparam("at"),
        last_seen_at=bindparam("at"),
        app_version=bindparam("app"),
        clock_skew_s=bindparam("skew"),
    )
)
_MISSED_PER_QUERY = 200  # terminals whose missed events one query asks for (SQLite: an OR term each)


def _missed(conn: Connection, watermarks: dict[str, int]) -> dict[str, list[CaseEvent]]:
    """The stored events of each terminal after its watermark, in order, by terminal."""
    out: dict[str, list[CaseEvent]] = {terminal: [] for terminal in watermarks}
    marks = sorted(watermarks.items())
    for start in range(0, len(marks), _MISSED_PER_QUERY):
        after = or_(
            *(
                and_(_events.c.terminal_id == terminal, _events.c.id > mark)
                for terminal, mark in marks[start : start + _MISSED_PER_QUERY]
            )
        )
        for terminal, event in stored_events(conn, after):
            out[terminal].append(event)
    return out


@functools.cache
def _lock_statements() -> tuple[Any, Any]:
    """The two statements of :func:`lock_terminals` (PostgreSQL's only: built at first use, so a hub on
    SQLite never loads that dialect), each one short statement whatever the count (one array parameter)."""
    from sqlalchemy.dialects import postgresql

    ids = bindparam("ids", type_=postgresql.ARRAY(String))
    lock = (
        select(_terms.c.terminal_id)
        .where(_terms.c.terminal_id == any_(ids))
        .order_by(_terms.c.terminal_id)
        .with_for_update(key_share=True)
    )
    # Rows inserted, or (the conflict) locked and left as they are: ON CONFLICT DO UPDATE locks the row it
    # meets even when its WHERE turns the update down; a non-key column set, so the lock is FOR NO KEY UPDATE.
    make = (
        postgresql.insert(_terms)
        .from_select(
            ["terminal_id"],
            select(func.unnest(ids).label("terminal_id")).order_by(literal_column("terminal_id")),
            include_defaults=True,
        )
        .on_conflict_do_update(index_elements=[_terms.c.terminal_id], set_={"online": _terms.c.online}, where=false())
    )
    return lock, make
