"""The terminal's audit trail: a hash chain in ``audit_entries`` with its anchor in ``audit_anchor``.

Each store appends in the transaction of the change it records, so an entry exists exactly when its
change does: a case accepted at the kiosk, items the hub acked or refused, hub events applied, a
rating, an alarm raised or cleared, a retention purge. Entries name cases by id and receipt number and
staff by staff id — never an ID number or a name.

Hashing and the walk are :mod:`protocol.auditchain`, shared with the hub. :func:`verify` names the first
entry edited, removed or reordered; the anchor, moved with every append, catches a deleted tail, and an
anchor copied off the device (``shegong edge audit anchor``) catches a tail deleted with the anchor
rewritten.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, insert, select, update

from edge.store.models import AuditAnchorRow, AuditEntryRow, table
from protocol.auditchain import Anchor, AuditBroken, Break, Entry, link, walk

__all__ = ["AuditBroken", "anchor", "append", "record", "verify"]

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


def append(conn: Connection, entries: Sequence[Entry]) -> None:
    """Append ``entries`` in the caller's transaction (SQLite's one writer keeps appends in order)."""
    if not entries:
        return
    head = conn.execute(_HEAD).scalar()
    if head is None:  # the migration writes the row; only hand-made damage removes it
        raise AuditBroken("audit_anchor has no row: the audit trail was tampered with")
    # The hash covers at.isoformat(): store it in UTC, as it will read back, or it would not verify.
    rows = link(head, [Entry(e.at.astimezone(UTC), e.actor, e.action, e.subject, e.data) for e in entries])
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

    The chain must also reach the stored anchor and ``expected`` (an anchor kept off the device).
    """
    stored = conn.execute(select(_anchor).where(_anchor.c.id == 1)).first()
    if stored is None:
        return 0, Break(0, "the anchor row was removed")
    anchors = [Anchor(stored.entries, stored.last_id, stored.head_hash)]
    if expected is not None:
        anchors.append(expected)
    return walk(_rows(conn, batch), anchors)


def _rows(conn: Connection, batch: int) -> Iterator[Row[Any]]:
    last_id = 0
    while rows := conn.execute(
        select(_entries).where(_entries.c.id > last_id).order_by(_entries.c.id).limit(batch)
    ).all():
        yield from rows
        last_id = rows[-1].id
