"""Dead letters: what the hub refused, kept for an operator within bounds a flood cannot break.

Each keeps its reason, the first ``prefix_bytes`` of what arrived and the SHA-256 of all of it — enough
to recognise a payload and compare it with the sender's copy, never more than a few KiB. The caller
gives the bytes as they travelled: for a sealed case that is the sealed form, never the opened case.

Every dead letter is counted in ``dead_letter_counts`` per terminal and reason. Only the newest
``per_terminal`` rows of a terminal are kept: older ones are removed as new ones come, and counted as
``dropped``. :meth:`DeadLetters.purge` removes rows older than a date (``shegong hub dead-letters
purge``, and the hub's periodic work after ``dead_letters_keep_days``); the counts stay.

One :class:`DeadLetters` serves one ingest thread: :meth:`record` notes a refusal of a transaction and
:meth:`settle` writes them, the counts and the bound in that same transaction.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from hub.db.models import DeadLetter, DeadLetterCountRow, table
from hub.ingest.metrics import IngestMetrics
from protocol.envelope import DeadLetterReason, utcnow

__all__ = ["DeadLetters", "Letter", "PurgeOld", "purge"]

log = logging.getLogger(__name__)
_dead, _counts = table(DeadLetter), table(DeadLetterCountRow)
_CHUNK = 500  # ids per DELETE … IN (…)


@dataclass(frozen=True, slots=True)
class Letter:
    """One refusal. ``payload``: the bytes as they arrived (a sealed case stays sealed)."""

    topic: str
    terminal: str | None
    reason: DeadLetterReason
    detail: str
    payload: bytes
    at: datetime
    message_id: uuid.UUID | None = None
    item_id: uuid.UUID | None = None
    also: int = 0  # more refusals of the same kind this one stands for, not kept as rows (counted as dropped)


class DeadLetters:
    def __init__(
        self,
        insert_for_dialect: Callable[..., Any],
        metrics: IngestMetrics,
        prefix_bytes: int = 2048,
        per_terminal: int = 1000,
    ) -> None:
        self._upsert = insert_for_dialect
        self.metrics = metrics
        self.prefix_bytes = prefix_bytes
        self.per_terminal = per_terminal
        self._letters: list[Letter] = []  # recorded in this transaction, in order

    def record(self, letter: Letter) -> None:
        """Note one dead letter of the caller's transaction; :meth:`settle` writes it before it commits."""
        self.metrics.count(self.metrics.dead_letters.labels(letter.reason.value), 1 + letter.also)
        self._letters.append(letter)

    def discard(self) -> None:
        """Forget what was recorded in a transaction that did not commit."""
        self._letters.clear()

    def settle(self, conn: Connection) -> set[str]:
        """Write what this transaction recorded, count it, and keep each terminal it touched within the bound;
        returns those terminals ('' for none). Rows go in with one statement, and only each terminal's newest
        ``per_terminal`` of them: a batch of a thousand refusals does not write rows only to remove them."""
        letters, self._letters = self._letters, []
        if not letters:
            return set()
        counted: Counter[tuple[str, str]] = Counter()
        unkept: Counter[tuple[str, str]] = Counter()  # never kept as rows: Letter.also, and beyond the bound
        last: dict[tuple[str, str], datetime] = {}
        held: Counter[str] = Counter()
        rows: list[dict[str, Any]] = []
        for letter in reversed(letters):  # the newest of each terminal first
            key = (letter.terminal or "", letter.reason.value)
            counted[key] += 1 + letter.also
            unkept[key] += letter.also
            last[key] = max(letter.at, last.get(key, letter.at))
            held[key[0]] += 1
            if held[key[0]] <= self.per_terminal:
                rows.append(self._row(letter))
            else:
                unkept[key] += 1
        conn.execute(insert(_dead), rows[::-1])
        if beyond := len(letters) - len(rows):
            self.metrics.count(self.metrics.dead_letters_dropped, beyond)
        for (terminal, reason), n in sorted(counted.items()):
            stmt = self._upsert(_counts).values(
                terminal_id=terminal,
                reason=reason,
                count=n,
                dropped=unkept[(terminal, reason)],
                last_at=last[(terminal, reason)],
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["terminal_id", "reason"],
                    set_={
                        "count": _counts.c.count + stmt.excluded.count,
                        "dropped": _counts.c.dropped + stmt.excluded.dropped,
                        "last_at": stmt.excluded.last_at,
                    },
                )
            )
        touched = {t for t, _ in counted}
        for terminal in sorted(touched):
            self.trim(conn, terminal)
        return touched

    def _row(self, letter: Letter) -> dict[str, Any]:
        return {
            "received_at": letter.at,
            "topic": letter.topic[:256],
            "terminal_id": letter.terminal,
            "reason": letter.reason.value,
            "detail": letter.detail[:2000],
            "message_id": str(letter.message_id) if letter.message_id else None,
            "item_id": str(letter.item_id) if letter.item_id else None,
            "size": len(letter.payload),
            "sha256": hashlib.sha256(letter.payload).hexdigest(),
            "payload": letter.payload[: self.prefix_bytes],
        }

    def trim(self, conn: Connection, terminal: str) -> int:
        """Remove the oldest rows of ``terminal`` ('' for none) beyond the bound; returns how many."""
        mine = _dead.c.terminal_id.is_(None) if terminal == "" else _dead.c.terminal_id == terminal
        held = conn.execute(select(func.count()).select_from(_dead).where(mine)).scalar_one()
        excess = int(held) - self.per_terminal
        if excess <= 0:
            return 0
        oldest = conn.execute(
            select(_dead.c.id, _dead.c.reason).where(mine).order_by(_dead.c.received_at, _dead.c.id).limit(excess)
        ).all()
        for start in range(0, len(oldest), _CHUNK):
            conn.execute(delete(_dead).where(_dead.c.id.in_([r.id for r in oldest[start : start + _CHUNK]])))
        for reason, n in Counter(r.reason for r in oldest).items():
            conn.execute(
                update(_counts)
                .where(_counts.c.terminal_id == terminal, _counts.c.reason == reason)
                .values(dropped=_counts.c.dropped + n)
            )
        self.metrics.count(self.metrics.dead_letters_dropped, len(oldest))
        return len(oldest)


def purge(engine: Engine, before: datetime) -> int:
    """Remove dead letters received before ``before``; their counts stay. Returns rows removed."""
    with engine.begin() as conn:
        return int(conn.execute(delete(_dead).where(_dead.c.received_at < before)).rowcount)


class PurgeOld:
    """The hub's periodic purge of dead letters older than ``keep_days``: called on every round of the
    hub's periodic work (the fleet evaluator's tick), it purges at most once every ``every_s``."""

    __name__ = "dead-letter purge"

    def __init__(self, engine: Engine, keep_days: float, every_s: float = 3600.0) -> None:
        self.engine = engine
        self.keep = timedelta(days=keep_days)
        self.every_s = every_s
        self._last = float("-inf")

    def __call__(self) -> int:
        if time.monotonic() - self._last < self.every_s:
            return 0
        self._last = time.monotonic()
        removed = purge(self.engine, utcnow() - self.keep)
        if removed:
            log.info("purged %d dead letter(s) older than %s", removed, self.keep)
        return removed
