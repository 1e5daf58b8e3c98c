"""The terminal's audit trail: a hash chain in ``audit_entries`` with its anchor in ``audit_anchor``.

Each store appends in the transaction of the change it records, so an entry exists exactly when its
change does: a case accepted at the kiosk, items the hub acked or refused, hub events applied, a
rating, an alarm raised or cleared, a retention purge. Entries name cases by id and receipt number and
staff by staff id — never an ID number or a name.

Each entry is also signed as it is appended, with this terminal's audit key (:mod:`edge.store.auditkey`,
a file outside the database, bound to the engine by :func:`bind_key` when the store opens): an entry
edited between its append and the night, its hash and every later one recomputed, fails :func:`verify`.

Hashing and the walk are :mod:`protocol.auditchain`, shared with the hub. :func:`verify` names the first
entry edited, removed or reordered; the anchor, moved with every append, catches a deleted tail, and an
anchor copied off the device (``shegong edge audit anchor``) catches a tail deleted with the anchor
rewritten.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, bindparam, insert, select, update

from edge.store.auditkey import TerminalAuditKey
from edge.store.models import AuditAnchorRow, AuditEntryRow, table
from protocol.auditchain import GENESIS, Anchor, AuditBroken, Break, Entry, entry_hash, entry_signed, link, walk

__all__ = ["AuditBroken", "anchor", "append", "bind_key", "key_of", "record", "seal", "verify"]

_entries, _anchor = table(AuditEntryRow), table(AuditAnchorRow)
# Built once: an append runs inside every kiosk submission, so it should cost a lookup, not a compile.
_HEAD = select(_anchor.c.head_hash).where(_anchor.c.id == 1)
_INSERT = insert(_entries)
_MOVE = (
    update(_anchor)
    .where(_anchor.c.id == 1)
    .values(
        entries=_anchor.c.entries + bindparam("b_added"),
        last_id=bindparam("b_last_id"),
        head_hash=bindparam("b_head"),
        at=bindparam("b_at", type_=_anchor.c.at.type),
    )
)


_KEYS: weakref.WeakKeyDictionary[Engine, TerminalAuditKey] = weakref.WeakKeyDictionary()


def bind_key(engine: Engine, key: TerminalAuditKey) -> None:
    """Sign every entry appended through ``engine`` with ``key`` (the store does this when it opens)."""
    _KEYS[engine] = key


def key_of(conn: Connection) -> TerminalAuditKey | None:
    return _KEYS.get(conn.engine)


def append(conn: Connection, entries: Sequence[Entry]) -> None:
    """Append ``entries`` in the caller's transaction (SQLite's one writer keeps appends in order)."""
    if not entries:
        return
    head = conn.execute(_HEAD).scalar()
    if head is None:  # the migration writes the row; only hand-made damage removes it
        raise AuditBroken("audit_anchor has no row: the audit trail was tampered with")
    # The hash covers at.isoformat(): store it in UTC, as it will read back, or it would not verify.
    rows = link(head, [Entry(e.at.astimezone(UTC), e.actor, e.action, e.subject, e.data) for e in entries])
    key = _KEYS.get(conn.engine)
    if key is not None:  # sealed now, not at night: an edit before the night is caught too
        for row in rows:
            row["sig"] = key.sign(row["hash"])
    last_id = 0
    for row in rows:  # one at a time, for its rowid: usually there is just one
        last_id = conn.execute(_INSERT, row).lastrowid
    last = rows[-1]
    conn.execute(_MOVE, {"b_added": len(rows), "b_last_id": last_id, "b_head": last["hash"], "b_at": last["at"]})


def record(conn: Connection, at: datetime, actor: str, action: str, subject: str, data: Mapping[str, Any]) -> None:
    """Append one entry in the caller's transaction."""
    append(conn, [Entry(at, actor, action, subject, data)])


def anchor(conn: Connection) -> Anchor:
    """The anchor as stored now (what an operator copies off the device)."""
    row = conn.execute(select(_anchor).where(_anchor.c.id == 1)).first()
    if row is None:
        return Anchor(0, 0, "")
    return Anchor(row.entries, row.last_id, row.head_hash)


def verify(conn: Connection, batch: int = 5000, expected: Anchor | None = None) -> tuple[int, Break | None]:
    """Walk the chain in id order; return how many entries hold and the first break, if any.

    The chain must also reach the stored anchor and ``expected`` (an anchor kept off the device), and,
    when the engine has its audit key, every entry must carry its signature.
    """
    stored = conn.execute(select(_anchor).where(_anchor.c.id == 1)).first()
    if stored is None:
        return 0, Break(0, "the anchor row was removed")
    anchors = [Anchor(stored.entries, stored.last_id, stored.head_hash)]
    if expected is not None:
        anchors.append(expected)
    key = _KEYS.get(conn.engine)
    return walk(_rows(conn, batch), anchors, None if key is None else _signed_by(key.public_hex))


def _signed_by(public_hex: str) -> Any:
    def problem(row: Any) -> str | None:
        if row.sig is None:
            return "it is not signed: its signature was removed, or it was written without the audit key"
        if not entry_signed(public_hex, row.hash, row.sig):
            return "its signature does not hold: rewritten without the terminal's audit key"
        return None

    return problem


def seal(conn: Connection, key: TerminalAuditKey, batch: int = 5000) -> int:
    """Sign the entries of a chain made before signing at append (none of its entries is signed), each
    after checking that the chain holds up to it; returns how many were signed. One that does not fit is
    left unsigned (and :func:`verify` names it).

    Once any entry is signed, nothing is signed later: an entry without a signature after that was
    stripped of it, and signing it now would bless an edit."""
    if conn.execute(select(_entries.c.id).where(_entries.c.sig.is_not(None)).limit(1)).first() is not None:
        return 0
    if conn.execute(select(_entries.c.id).limit(1)).first() is None:
        return 0
    prev = GENESIS
    signed = 0
    stmt = update(_entries).where(_entries.c.id == bindparam("b_id")).values(sig=bindparam("b_sig"))
    for row in _rows(conn, batch):
        if row.prev_hash != prev or row.hash != entry_hash(
            row.prev_hash, row.at, row.actor, row.action, row.subject, row.data
        ):
            break
        conn.execute(stmt, {"b_id": row.id, "b_sig": key.sign(row.hash)})
        signed += 1
        prev = row.hash
    return signed


def _rows(conn: Connection, batch: int) -> Iterator[Row[Any]]:
    last_id = 0
    while rows := conn.execute(
        select(_entries).where(_entries.c.id > last_id).order_by(_entries.c.id).limit(batch)
    ).all():
        yield from rows
        last_id = rows[-1].id
