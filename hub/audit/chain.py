"""The hub's tamper-evident audit trail: a hash chain in one table.

Each entry stores the hash of the one before; its own hash covers that and the canonical JSON of its
fields. Editing, removing or reordering any entry breaks the chain from there on, and :func:`verify`
names the first entry that no longer fits.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, text

from hub.db.models import AuditEntry

__all__ = ["GENESIS", "AuditRecord", "Break", "append", "entry_hash", "verify"]

GENESIS = "0" * 64
_audit = AuditEntry.__table__
_LOCK_KEY = 730_001  # PostgreSQL advisory lock serialising appends across ingest workers


@dataclass(frozen=True, slots=True)
class AuditRecord:
    at: datetime
    actor: str
    action: str
    subject: str
    data: dict[str, Any]


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
    return head


def verify(conn: Connection, batch: int = 5000) -> tuple[int, Break | None]:
    """Walk the chain in id order; return how many entries were checked and the first break, if any."""
    prev = GENESIS
    last_id = 0
    checked = 0
    while True:
        rows = (
            conn.execute(select(_audit).where(_audit.c.id > last_id).order_by(_audit.c.id).limit(batch))
            .mappings()
            .all()
        )
        if not rows:
            return checked, None
        for row in rows:
            if row["prev_hash"] != prev:
                problem = (
                    "an entry before it was removed or reordered" if checked else "the chain does not start at genesis"
                )
                return checked, Break(row["id"], problem)
            expected = entry_hash(row["prev_hash"], row["at"], row["actor"], row["action"], row["subject"], row["data"])
            if row["hash"] != expected:
                return checked, Break(row["id"], "its content was edited")
            prev = row["hash"]
            last_id = row["id"]
            checked += 1
