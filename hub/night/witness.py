"""Terminals' audit segments and the hub anchors they witnessed (issue 15; protocol.witness).

:func:`on_segment` (an ingest hook) checks a terminal's segment follows the copy of its chain held here —
each entry's hash recomputed, each linked to the one before — stores it, keeps the anchors it carries
(the first copy of each day per terminal), and answers with the last entry held in an unbroken chain.
:func:`verify_witnesses` compares the hub's chain with every anchor a terminal witnessed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, func, insert
from sqlmodel import col, select

from hub.audit.chain import AuditRecord, append
from hub.audit.keyed import AuditKey
from hub.db.models import (
    AuditDayAnchorRow,
    AuditEntry,
    AuditWitnessRow,
    TerminalAuditKeyRow,
    TerminalAuditSegmentRow,
)
from kernel.db import upsert_insert
from protocol import topics
from protocol.auditchain import GENESIS, entry_hash, entry_signed
from protocol.envelope import Envelope
from protocol.reconcile import ReconcileReply, ReconcileReplyBody
from protocol.witness import AnchorBody, AuditSegment, anchor_signed

__all__ = [
    "Disagreement",
    "check_anchor",
    "disagreement",
    "on_segment",
    "register_key",
    "restores",
    "terminal_key",
    "verify_witnesses",
]

log = logging.getLogger(__name__)
Outgoing = tuple[str, bytes]


def terminal_key(conn: Connection, terminal: str) -> str | None:
    """The public half of ``terminal``'s audit key as registered here, or None."""
    return conn.execute(
        select(TerminalAuditKeyRow.public_key).where(TerminalAuditKeyRow.terminal_id == terminal)
    ).scalar()


def register_key(conn: Connection, terminal: str, public_key: str, how: str, at: datetime, actor: str) -> bool:
    """Register ``terminal``'s audit verification key; True when it changed (audited). ``how``: provisioning
    (an operator, may replace a key) or first-use (the terminal's own login, only when none is held)."""
    held = terminal_key(conn, terminal)
    if held == public_key:
        return False
    if held is not None and how != "provisioning":
        return False
    values = {"public_key": public_key, "how": how, "registered_at": at}
    dialect_insert = upsert_insert(conn)
    conn.execute(
        dialect_insert(TerminalAuditKeyRow)
        .values(terminal_id=terminal, **values)
        .on_conflict_do_update(index_elements=["terminal_id"], set_=values)
    )
    data = {"how": how, "key": public_key[:16], **({"replaced": held[:16]} if held else {})}
    append(conn, [AuditRecord(at, actor, "terminal.audit_key", terminal, data)])
    return True


def on_segment(conn: Connection, message: Envelope, at: datetime) -> list[Outgoing]:
    if not isinstance(message, AuditSegment):
        return []
    terminal, body = message.terminal, message.body
    key = terminal_key(conn, terminal)
    if key is None and body.public_key is not None:
        # Not registered at provisioning: the first key this terminal's own MQTT login presents is pinned.
        register_key(conn, terminal, body.public_key, "first-use", at, "hub")
        key = body.public_key
    seg = TerminalAuditSegmentRow
    last = conn.execute(
        select(seg.entry_id, seg.hash).where(seg.terminal_id == terminal).order_by(col(seg.entry_id).desc()).limit(1)
    ).first()
    held_id, prev = (int(last[0]), str(last[1])) if last else (0, GENESIS)
    rows = []
    after, entries = body.after_id, body.entries
    if after < held_id and any(e.id == held_id and e.hash == prev for e in entries):
        # Sent again: the hub's answer to the segment before was lost. What it holds is the same; the rest follows.
        after, entries = held_id, [e for e in entries if e.id > held_id]
    if body.public_key is not None and key is not None and body.public_key != key:
        log.error("audit segment of %s carries another audit key than the one registered: not kept", terminal)
        refused = {"presented": body.public_key[:16], "registered": key[:16], "entries": len(body.entries)}
        append(conn, [AuditRecord(at, "hub", "terminal.audit_key_refused", terminal, refused)])
    elif after == held_id:
        for e in entries:
            if e.prev_hash != prev or e.hash != entry_hash(e.prev_hash, e.at, e.actor, e.action, e.subject, e.data):
                log.error("audit segment of %s breaks at its entry %d: kept up to the one before", terminal, e.id)
                break
            if key is not None and not entry_signed(key, e.hash, e.sig):
                log.error(
                    "audit entry %d of %s is not signed with its audit key: kept up to the one before", e.id, terminal
                )
                break
            rows.append({**e.model_dump(), "entry_id": e.id, "terminal_id": terminal, "received_at": at})
            prev, held_id = e.hash, e.id
    else:
        log.warning("audit segment of %s starts after %d, the hub holds up to %d", terminal, body.after_id, held_id)
    for r in rows:
        r.pop("id")
    if rows:
        conn.execute(insert(seg), rows)
    dialect_insert = upsert_insert(conn)
    for a in body.anchors:
        conn.execute(
            dialect_insert(AuditWitnessRow)
            .values(
                terminal_id=terminal,
                day=a.day,
                entries=a.entries,
                last_id=a.last_id,
                head_hash=a.head,
                at=a.at,
                signature=a.signature,
                received_at=at,
            )
            .on_conflict_do_nothing(index_elements=["terminal_id", "day"])
        )
    reply = ReconcileReplyBody(correlation_id=body.correlation_id, audit_last_id=held_id)
    return [(topics.down(terminal, topics.Down.RECONCILE), ReconcileReply(terminal=terminal, body=reply).encode())]


@dataclass(frozen=True, slots=True)
class Disagreement:
    day: date
    terminal: str
    problem: str
    lost: bool = False
    """The anchor, signed by the hub, covers entries a restore took away (made before the restore, past the
    backup's last entry): the history the restore lost, not a rewrite."""


def restores(conn: Connection) -> list[tuple[int, datetime]]:
    """Each ``shegong hub restore`` as its sealed ``hub.restored`` entry records it: that entry's id (the
    backup's chain ended just before it) and time."""
    q = select(AuditEntry.id, AuditEntry.at).where(AuditEntry.action == "hub.restored").order_by(col(AuditEntry.id))
    return [(int(i), _aware(at)) for i, at in conn.execute(q)]


def disagreement(
    key: AuditKey, a: AnchorBody, terminal: str, problem: str, restored: list[tuple[int, datetime]]
) -> Disagreement:
    """``problem`` with anchor ``a``, told apart: one the hub signed, covering entries past a backup's last,
    made before that backup was restored, is history the restore lost."""
    lost = anchor_signed(key.public_hex, a) and any(a.last_id >= rid and a.at < at for rid, at in restored)
    return Disagreement(a.day, terminal, problem, lost)


def verify_witnesses(conn: Connection, key: AuditKey) -> tuple[int, list[Disagreement]]:
    """Check the hub's chain against every anchor the terminals' segments brought up earlier (copies kept
    in this database); returns (witnessed anchors checked, the disagreements)."""
    witnessed = conn.execute(select(AuditWitnessRow).order_by(col(AuditWitnessRow.day))).mappings().all()
    restored = restores(conn)
    out: list[Disagreement] = []
    for w in witnessed:
        a = AnchorBody(
            day=w["day"],
            entries=w["entries"],
            last_id=w["last_id"],
            head=w["head_hash"],
            at=_aware(w["at"]),
            signature=w["signature"],
        )
        if (problem := check_anchor(conn, key, a)) is not None:
            out.append(disagreement(key, a, w["terminal_id"], problem, restored))
    return len(witnessed), out


def check_anchor(conn: Connection, key: AuditKey, a: AnchorBody) -> str | None:
    """What is wrong with the hub's chain given a terminal witnessed anchor ``a``, or None. The anchor must
    carry the hub's signature, the hub's own stored anchor of that day must be the same one, and the chain
    must pass through it: its ``entries``-th entry has id ``last_id`` and hash ``head``."""
    ours = conn.execute(select(AuditDayAnchorRow).where(AuditDayAnchorRow.day == a.day)).mappings().first()
    if ours is None:
        return "the hub holds no anchor of this day"
    if not anchor_signed(key.public_hex, a):
        return "the witnessed anchor is not the hub's (signature, or time)"
    if (ours["entries"], ours["last_id"], ours["head_hash"]) != (a.entries, a.last_id, a.head):
        return "the hub's anchor of this day differs from the one witnessed"
    entry = conn.execute(select(AuditEntry.hash).where(AuditEntry.id == a.last_id)).scalar()
    position = conn.execute(
        select(func.count()).select_from(AuditEntry).where(col(AuditEntry.id) <= a.last_id)
    ).scalar()
    if entry != a.head or position != a.entries:
        return "the hub's chain no longer passes through the witnessed head"
    return None


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
