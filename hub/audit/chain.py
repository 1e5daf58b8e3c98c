"""The hub's tamper-evident audit trail: a hash chain in one table.

Each entry stores the hash of the one before; its own hash covers that and the canonical JSON of its
fields. Editing, removing or reordering any entry breaks the chain from there on, and :func:`verify`
names the first entry that no longer fits.

Removing the newest entries leaves a shorter chain that is still consistent, so every append also moves
the anchor (``audit_anchor``: entry count, last id, head hash) in the same transaction; :func:`verify`
checks the chain against it. An anchor copied off the machine (``shegong hub audit anchor``) and given
back to :func:`verify` also catches someone who rewrote both.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, text, update

from hub.db.models import AuditAnchorRow, AuditEntry

__all__ = ["GENESIS", "Anchor", "AuditRecord", "Break", "anchor", "append", "entry_hash", "verify"]

GENESIS = "0" * 64
_audit = AuditEntry.__table__
_anchor = AuditAnchorRow.__table__
_LOCK_KEY = 730_001  # PostgreSQL advisory lock serialising appends across ingest workers


@dataclass(frozen=True, slots=True)
class AuditRecord:
    at: datetime
    actor: str
    action: str
    subject: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Anchor:
    """How long the chain is and how it ends: ``entries`` entries, the last ``last_id`` with hash ``head``."""

    entries: int
    last_id: int
    head: str

    def __str__(self) -> str:
        return f"{self.entries}:{self.last_id}:{self.head}"

    @classmethod
    def parse(cls, text: str) -> Anchor:
        """The form :meth:`__str__` prints: ``entries:last_id:head``."""
        try:
            entries, last_id, head = text.strip().split(":")
            return cls(int(entries), int(last_id), head)
        except ValueError:
            raise ValueError(f"not an audit anchor (entries:last_id:head): {text!r}") from None


@dataclass(frozen=True, slots=True)
class Break:
    """Where the chain stops holding: ``entry_id`` is the first entry that does not fit."""

    entry_id: int
    problem: str


def entry_hash(prev_hash: str, at: datetime, actor: str, action: str, subject: str, data: str) -> str:
    canonical = json.dumps(
        [prev_hash, at.isoformat(), actor, action, subject, data], ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def append(conn: Connection, records: list[AuditRecord]) -> str:
    """Append ``records`` in the caller's transaction; returns the new head hash."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    head = conn.execute(select(_audit.c.hash).order_by(_audit.c.id.desc()).limit(1)).scalar() or GENESIS
    rows = []
    for r in records:
        data = json.dumps(r.data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        h = entry_hash(head, r.at, r.actor, r.action, r.subject, data)
        rows.append(
            {
                "at": r.at,
                "actor": r.actor,
                "action": r.action,
                "subject": r.subject,
                "data": data,
                "prev_hash": head,
                "hash": h,
            }
        )
        head = h
    if rows:
        conn.execute(insert(_audit), rows)
        # Appends are serialised (the advisory lock above; SQLite's one writer), so the newest id is ours.
        last_id = conn.execute(select(func.max(_audit.c.id))).scalar_one()
        moved = conn.execute(
            update(_anchor)
            .where(_anchor.c.id == 1)
            .values(entries=_anchor.c.entries + len(rows), last_id=last_id, head_hash=head, at=rows[-1]["at"])
        )
        if moved.rowcount == 0:  # a database made before the anchor existed and never migrated
            raise RuntimeError("audit_anchor has no row: run `shegong hub migrate`")
    return head


def anchor(conn: Connection) -> Anchor:
    """The anchor as stored now (what an operator copies off the machine)."""
    row = conn.execute(select(_anchor).where(_anchor.c.id == 1)).mappings().first()
    if row is None:
        return Anchor(0, 0, GENESIS)
    return Anchor(int(row["entries"]), int(row["last_id"]), str(row["head_hash"]))


def verify(conn: Connection, batch: int = 5000, expected: Anchor | None = None) -> tuple[int, Break | None]:
    """Walk the chain in id order; return how many entries were checked and the first break, if any.

    After the walk the chain must reach the stored anchor (and ``expected``, an anchor kept elsewhere):
    an entry past which the chain stops short is reported as a truncated tail.
    """
    anchors = [anchor(conn)]  # read first: appends racing the walk only add entries after it
    if expected is not None:
        anchors.append(expected)
    prev = GENESIS
    last_id = 0
    checked = 0
    seen: dict[int, tuple[int, str]] = {}  # anchor last_id -> (position, hash) once walked past
    wanted = {a.last_id for a in anchors}
    while True:
        rows = (
            conn.execute(select(_audit).where(_audit.c.id > last_id).order_by(_audit.c.id).limit(batch))
            .mappings()
            .all()
        )
        if not rows:
            break
        for row in rows:
            if row["prev_hash"] != prev:
                problem = (
                    "an entry before it was removed or reordered" if checked else "the chain does not start at genesis"
                )
                return checked, Break(row["id"], problem)
            expected_hash = entry_hash(
                row["prev_hash"], row["at"], row["actor"], row["action"], row["subject"], row["data"]
            )
            if row["hash"] != expected_hash:
                return checked, Break(row["id"], "its content was edited")
            prev = row["hash"]
            last_id = row["id"]
            checked += 1
            if last_id in wanted:
                seen[last_id] = (checked, prev)
    for a in anchors:
        if a.entries == 0:
            continue
        if a.last_id not in seen:
            return checked, Break(
                a.last_id,
                f"the newest entries were removed: the chain ends after entry {last_id} ({checked} entries) "
                f"but its anchor records {a.entries} entries ending at entry {a.last_id}",
            )
        position, head = seen[a.last_id]
        if position != a.entries or head != a.head:
            return checked, Break(a.last_id, "the chain does not end where its anchor says (anchor or chain rewritten)")
    return checked, None
