"""The hub's tamper-evident audit trail: a hash chain in one table.

Each entry stores the hash of the one before; its own hash covers that and the canonical JSON of its
fields. Editing, removing or reordering any entry breaks the chain from there on, and :func:`verify`
names the first entry that no longer fits.

Removing the newest entries leaves a shorter chain that is still consistent, so every append also moves
the anchor (``audit_anchor``: entry count, last id, head hash) in the same transaction; :func:`verify`
checks the chain against it. An anchor copied off the machine (``shegong hub audit anchor``) and given
back to :func:`verify` also catches someone who rewrote both.

Each entry is also sealed as it is appended, ``mac = HMAC(audit key, hash)`` with the key file bound to
the engine (:func:`bind_key_file`; :mod:`hub.audit.keyed`): an edit made between the append and the night,
its hash and every later one recomputed, fails the seals (``shegong hub audit verify``). Every hub process
(ingest and web, each command, the night) loads the key at start; an entry without a seal is a break.
An engine nothing bound (tests, benchmarks) appends unsealed entries, which fail the hub's verify.

Hashing and the walk live in :mod:`protocol.auditchain`, shared with the terminals' own chains; this
module stores and reads the hub's.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Row, func, insert, select, text, update

from hub.audit.keyed import AuditKey, seal_problem
from hub.db.models import AuditAnchorRow, AuditEntry, table
from protocol.auditchain import GENESIS, Anchor, Break, Entry, entry_hash, link, walk

__all__ = [
    "GENESIS",
    "Anchor",
    "AuditRecord",
    "Break",
    "anchor",
    "append",
    "bind_key_file",
    "entry_hash",
    "verify",
]

_audit = table(AuditEntry)
_anchor = table(AuditAnchorRow)
_LOCK_KEY = 730_001  # PostgreSQL advisory lock serialising appends across ingest workers


_KEYS: weakref.WeakKeyDictionary[Engine, AuditKey] = weakref.WeakKeyDictionary()


def bind_key_file(engine: Engine, path: Path) -> AuditKey:
    """Seal every entry appended through ``engine`` with the audit key in ``path``, read now: a hub process
    without its key file stops at start (:class:`~hub.audit.keyed.AuditKeyError`) rather than append
    entries no one sealed."""
    key = _KEYS[engine] = AuditKey.load(path)
    return key


def _key(conn: Connection) -> AuditKey | None:
    return _KEYS.get(conn.engine)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    at: datetime
    actor: str
    action: str
    subject: str
    data: dict[str, Any]


def append(conn: Connection, records: list[AuditRecord]) -> str:
    """Append ``records`` in the caller's transaction; returns the new head hash."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    head = conn.execute(select(_audit.c.hash).order_by(_audit.c.id.desc()).limit(1)).scalar() or GENESIS
    rows = link(head, (Entry(r.at, r.actor, r.action, r.subject, r.data) for r in records))
    if rows:
        key = _key(conn)
        if key is not None:  # sealed now, not at night: an edit before the night is caught too
            for row in rows:
                row["mac"] = key.mac(row["hash"])
        head = rows[-1]["hash"]
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

    When the engine has the audit key file (:func:`bind_key_file`), every entry's seal must hold too.
    After the walk the chain must reach the stored anchor (and ``expected``, an anchor kept elsewhere):
    an entry past which the chain stops short is reported as a truncated tail.
    """
    anchors = [anchor(conn)]  # read first: appends racing the walk only add entries after it
    if expected is not None:
        anchors.append(expected)
    key = _key(conn)
    return walk(_entries(conn, batch), anchors, None if key is None else _sealed_by(key))


def _sealed_by(key: AuditKey) -> Any:
    return lambda row: seal_problem(key, row)


def _entries(conn: Connection, batch: int) -> Iterator[Row[Any]]:
    """The chain in id order, read ``batch`` entries at a time."""
    last_id = 0
    while rows := conn.execute(select(_audit).where(_audit.c.id > last_id).order_by(_audit.c.id).limit(batch)).all():
        yield from rows
        last_id = rows[-1].id
