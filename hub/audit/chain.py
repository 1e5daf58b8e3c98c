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

import logging
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Row, bindparam, func, insert, select, update

from hub.audit.keyed import AuditKey, seal_problem
from hub.db.models import AuditAnchorRow, AuditDayAnchorRow, AuditEntry, table
from kernel.db import transaction_lock
from protocol.auditchain import GENESIS, Anchor, Break, Entry, entry_hash, link, walk
from protocol.envelope import utcnow

__all__ = [
    "GENESIS",
    "Anchor",
    "AuditRecord",
    "Break",
    "anchor",
    "append",
    "bind_key_file",
    "entry_hash",
    "seal_unkeyed",
    "verify",
]

log = logging.getLogger(__name__)

_audit = table(AuditEntry)
_anchor, _day = table(AuditAnchorRow), table(AuditDayAnchorRow)
SEALED_UNKEYED = "audit.sealed_unkeyed"
_LOCK_KEY = 730_001  # PostgreSQL advisory lock serialising appends across ingest workers


_KEYS: weakref.WeakKeyDictionary[Engine, AuditKey] = weakref.WeakKeyDictionary()


def bind_key_file(engine: Engine, path: Path) -> AuditKey:
    """Seal every entry appended through ``engine`` with the audit key in ``path``, read now: a hub process
    without its key file stops at start (:class:`~hub.audit.keyed.AuditKeyError`) rather than append
    entries no one sealed. Entries from before sealing existed are sealed once (:func:`seal_unkeyed`)."""
    key = _KEYS[engine] = AuditKey.load(path)
    with engine.begin() as conn:
        if sealed := seal_unkeyed(conn, key):
            log.info("sealed %d audit entries appended before the hub sealed its entries", sealed)
    return key


def seal_unkeyed(conn: Connection, key: AuditKey, at: datetime | None = None) -> int:
    """Seal, once, the entries of a hub upgraded from before h0016: the unsealed run at the chain's start,
    each after checking the chain holds up to it, ended by an ``audit.sealed_unkeyed`` entry naming how
    many. Without it such a hub's verify, and every night's anchor, failed for good on its first entry.

    Never again once that entry exists or a night has signed an anchor: an unsealed entry after either was
    stripped of its seal, and sealing it now would bless an edit (it stays a break). Returns how many."""
    first = conn.execute(select(_audit.c.mac).order_by(_audit.c.id).limit(1)).first()
    if first is None or first.mac is not None:
        return 0  # the common case, one indexed read at each process start
    transaction_lock(conn, _LOCK_KEY)
    done_before = select(_audit.c.id).where(_audit.c.action == SEALED_UNKEYED).limit(1)
    if conn.execute(done_before).first() is not None or conn.execute(select(_day.c.day).limit(1)).first():
        return 0
    prev, sealed, last_id = GENESIS, 0, 0
    stmt = update(_audit).where(_audit.c.id == bindparam("b_id")).values(mac=bindparam("b_mac"))
    for row in _entries(conn, 5000):
        fits = row.prev_hash == prev and row.hash == entry_hash(
            row.prev_hash, row.at, row.actor, row.action, row.subject, row.data
        )
        if row.mac is not None or not fits:
            break  # sealed since the upgrade, or a break that verify is to name
        conn.execute(stmt, {"b_id": row.id, "b_mac": key.mac(row.hash)})
        prev, sealed, last_id = row.hash, sealed + 1, int(row.id)
    if sealed:
        note = {"entries": sealed, "last_id": last_id}
        append(conn, [AuditRecord(at or utcnow(), "hub", SEALED_UNKEYED, "audit", note)])
    return sealed


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
    transaction_lock(conn, _LOCK_KEY)
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
