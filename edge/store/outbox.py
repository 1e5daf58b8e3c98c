"""The outbox as the sync agent sees it: read pending items in order, clear them on the hub's ack only.

The table is the source of truth; paho's in-memory queue is transport. After any restart or reconnect,
sending resumes from here.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from urllib.request import pathname2url

from sqlalchemy import Engine, bindparam, delete, func, select, update

from edge.store import audit
from edge.store.db import bump_counter, read_counter
from edge.store.models import Case, OutboxRow, table
from protocol.cases import SealedCase
from protocol.envelope import utcnow

__all__ = ["Outbox", "OutboxStats", "Pending"]

log = logging.getLogger(__name__)
_outbox, _cases = table(OutboxRow), table(Case)
_CHUNK = 500  # SQLite's bound-parameter limit is far above this; keeps statements small


@dataclass(frozen=True, slots=True)
class Pending:
    seq: int
    item_id: str
    channel: str
    payload: str


@dataclass(frozen=True, slots=True)
class OutboxStats:
    depth: int
    oldest_unsent_at: datetime | None
    parked: int


class Outbox:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        url = engine.url
        on_disk = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
        self._watched = url.database if on_disk else None  # see version()
        self._watch: sqlite3.Connection | None = None
        self._watch_lock = threading.Lock()

    def version(self) -> int | None:
        """A number that changes whenever anything is committed to the store, by this process or another (a
        case accepted, an ack, the console putting parked items back): SQLite's ``PRAGMA data_version``, read
        on a connection of the outbox's own that never writes, a few microseconds where a query of the
        outbox through SQLAlchemy takes a few hundred. The sync agent asks the outbox for more only when it
        has changed since the agent found nothing to send. None for a store in memory, or when it cannot be
        read: ask every time."""
        if self._watched is None:
            return None
        with self._watch_lock:
            try:
                if self._watch is None:  # read-write, never create: a store gone is not replaced by an empty file
                    uri = f"file:{pathname2url(self._watched)}?mode=rw"
                    self._watch = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
                return int(self._watch.execute("PRAGMA data_version").fetchone()[0])
            except sqlite3.Error:  # the store's own queries will say what is wrong; until then, ask every time
                log.debug("the outbox's version could not be read", exc_info=True)
                self._watch = None
                return None

    def close(self) -> None:
        """Close :meth:`version`'s connection, if open (the engine is its owner's to dispose of)."""
        with self._watch_lock:
            watch, self._watch = self._watch, None
        if watch is not None:
            watch.close()

    def pending(self, channel: str, after_seq: int, limit: int) -> list[Pending]:
        """Unparked items of ``channel`` with ``seq > after_seq``, oldest first."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(_outbox.c.seq, _outbox.c.item_id, _outbox.c.channel, _outbox.c.payload)
                .where(_outbox.c.channel == channel, _outbox.c.seq > after_seq, _outbox.c.parked_at.is_(None))
                .order_by(_outbox.c.seq)
                .limit(limit)
            ).all()
        return [Pending(*row) for row in rows]

    def items(self, seqs: list[int]) -> list[Pending]:
        """The unparked items among ``seqs`` still in the outbox (an acked one is gone), oldest first."""
        found: list[Pending] = []
        with self._engine.connect() as conn:
            for i in range(0, len(seqs), _CHUNK):
                found += (
                    Pending(*row)
                    for row in conn.execute(
                        select(_outbox.c.seq, _outbox.c.item_id, _outbox.c.channel, _outbox.c.payload).where(
                            _outbox.c.seq.in_(seqs[i : i + _CHUNK]), _outbox.c.parked_at.is_(None)
                        )
                    )
                )
        return sorted(found, key=lambda p: p.seq)

    def fix_clock(self, step_s: float, first: datetime, last: datetime) -> int:
        """The clock was set by ``step_s`` after stamping the cases accepted from ``first`` to ``last``: add
        it to the ``clock_fix_s`` of each such case still queued (outside its seal; the hub counts its
        promise from the corrected time), in the outbox and in the case's own copy (what the night sends
        again when the hub lacks it), audited. Returns how many."""
        queued = (
            select(_outbox.c.seq, _outbox.c.item_id, _outbox.c.payload)
            .join(_cases, _cases.c.case_id == _outbox.c.item_id)
            .where(_outbox.c.channel == "cases", _cases.c.created_at >= first, _cases.c.created_at <= last)
        )
        with self._engine.begin() as conn:
            fixed = []
            for seq, case_id, payload in conn.execute(queued).all():
                case = SealedCase.model_validate_json(payload)
                fix = (case.clock_fix_s or 0.0) + step_s
                fixed.append(
                    {
                        "b_seq": seq,
                        "b_case_id": case_id,
                        "b_payload": case.model_copy(update={"clock_fix_s": fix}).model_dump_json(),
                    }
                )
            if fixed:
                conn.execute(
                    update(_outbox).where(_outbox.c.seq == bindparam("b_seq")).values(payload=bindparam("b_payload")),
                    fixed,
                )
                conn.execute(
                    update(_cases)
                    .where(_cases.c.case_id == bindparam("b_case_id"))
                    .values(payload=bindparam("b_payload")),
                    fixed,
                )
            audit.record(
                conn, utcnow(), "terminal", "clock.set", "clock", {"step_s": round(step_s, 3), "cases": len(fixed)}
            )
        return len(fixed)

    def acked(self, item_ids: list[str], at: datetime | None = None) -> int:
        """The hub committed these: delete their outbox rows and stamp the cases. Returns rows cleared.

        The items cleared go into one audit entry, by channel (a repeated ack clears nothing and adds none).
        """
        at = at or utcnow()
        cleared: dict[str, list[str]] = {}
        with self._engine.begin() as conn:
            for i in range(0, len(item_ids), _CHUNK):
                chunk = item_ids[i : i + _CHUNK]
                gone = conn.execute(
                    delete(_outbox).where(_outbox.c.item_id.in_(chunk)).returning(_outbox.c.channel, _outbox.c.item_id)
                )
                for channel, item_id in gone:
                    cleared.setdefault(channel, []).append(item_id)
                conn.execute(
                    update(_cases)
                    .where(_cases.c.case_id.in_(chunk), _cases.c.hub_acked_at.is_(None))
                    .values(hub_acked_at=at)
                )
            if cleared:
                audit.record(conn, at, "hub", "outbox.acked", "outbox", cleared)
        return sum(map(len, cleared.values()))

    def park(self, item_ids: list[str], reason: str) -> int:
        """The hub refused these: keep them, out of the send loop, for an operator. Never deleted here."""
        now = utcnow()
        with self._engine.begin() as conn:
            parked = (
                conn.execute(
                    update(_outbox)
                    .where(_outbox.c.item_id.in_(item_ids), _outbox.c.parked_at.is_(None))
                    .values(parked_at=now, parked_reason=reason[:500])
                    .returning(_outbox.c.item_id)
                )
                .scalars()
                .all()
            )
            if parked:
                audit.record(conn, now, "hub", "outbox.parked", "outbox", {"items": parked, "reason": reason[:200]})
        n = len(parked)
        if n:
            log.error("%d outbox item(s) parked: %s", n, reason[:200])
        return n

    def unpark(self) -> int:
        """Put every parked item back in the send loop (an operator fixed the cause)."""
        with self._engine.begin() as conn:
            items = (
                conn.execute(
                    update(_outbox)
                    .where(_outbox.c.parked_at.is_not(None))
                    .values(parked_at=None, parked_reason=None)
                    .returning(_outbox.c.item_id)
                )
                .scalars()
                .all()
            )
            if items:
                audit.record(conn, utcnow(), "operator", "outbox.unparked", "outbox", {"items": items})
        return len(items)

    def mark_resent(self, seqs: list[int]) -> None:
        with self._engine.begin() as conn:
            for i in range(0, len(seqs), _CHUNK):
                conn.execute(
                    update(_outbox)
                    .where(_outbox.c.seq.in_(seqs[i : i + _CHUNK]))
                    .values(attempts=_outbox.c.attempts + 1)
                )

    def stats(self) -> OutboxStats:
        with self._engine.connect() as conn:
            depth, oldest = conn.execute(
                select(func.count(), func.min(_outbox.c.created_at)).where(_outbox.c.parked_at.is_(None))
            ).one()
            parked = conn.execute(
                select(func.count()).select_from(_outbox).where(_outbox.c.parked_at.is_not(None))
            ).scalar_one()
        return OutboxStats(depth=depth, oldest_unsent_at=oldest, parked=parked)

    def counter(self, key: str) -> int:
        with self._engine.connect() as conn:
            return read_counter(conn, key)

    def bump(self, key: str, by: int = 1) -> int:
        with self._engine.begin() as conn:
            return bump_counter(conn, key, by)
