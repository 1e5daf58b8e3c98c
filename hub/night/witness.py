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

from hub.audit.keyed import AuditKey
from hub.db.models import AuditDayAnchorRow, AuditEntry, AuditWitnessRow, TerminalAuditSegmentRow
from kernel.db import upsert_insert
from protocol import topics
from protocol.auditchain import GENESIS, entry_hash
from protocol.envelope import Envelope
from protocol.reconcile import ReconcileReply, ReconcileReplyBody
from protocol.witness import AuditSegment, anchor_text

__all__ = ["Disagreement", "on_segment", "verify_witnesses"]

log = logging.getLogger(__name__)
Outgoing = tuple[str, bytes]


def on_segment(conn: Connection, message: Envelope, at: datetime) -> list[Outgoing]:
    if not isinstance(message, AuditSegment):
        return []
    terminal, body = message.terminal, message.body
    seg = TerminalAuditSegmentRow
    last = conn.execute(
        select(seg.entry_id, seg.hash).where(seg.terminal_id == terminal).order_by(col(seg.entry_id).desc()).limit(1)
    ).first()
    held_id, prev = (int(last[0]), str(last[1])) if last else (0, GENESIS)
    rows = []
    if body.after_id == held_id:
        for e in body.entries:
            if e.prev_hash != prev or e.hash != entry_hash(e.prev_hash, e.at, e.actor, e.action, e.subject, e.data):
                log.error("audit segment of %s breaks at its entry %d: kept up to the one before", terminal, e.id)
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


def verify_witnesses(conn: Connection, key: AuditKey) -> tuple[int, list[Disagreement]]:
    """Check the hub's chain against every anchor the terminals witnessed; returns (witnessed anchors
    checked, the disagreements). An anchor a terminal holds must carry the hub's signature, and the chain
    must pass through it: its ``entries``-th entry has id ``last_id`` and hash ``head``; the hub's own
    stored anchor of that day must be the same one."""
    witnessed = conn.execute(select(AuditWitnessRow).order_by(col(AuditWitnessRow.day))).mappings().all()
    out: list[Disagreement] = []
    for w in witnessed:
        day, terminal = w["day"], w["terminal_id"]
        ours = conn.execute(select(AuditDayAnchorRow).where(AuditDayAnchorRow.day == day)).mappings().first()
        if ours is None:
            out.append(Disagreement(day, terminal, "the hub holds no anchor of this day"))
            continue
        message = anchor_text(day, int(w["entries"]), int(w["last_id"]), str(w["head_hash"]), _aware(w["at"]))
        if not key.signed(message, str(w["signature"])):
            out.append(Disagreement(day, terminal, "the witnessed anchor is not the hub's (signature, or time)"))
            continue
        if (ours["entries"], ours["last_id"], ours["head_hash"]) != (w["entries"], w["last_id"], w["head_hash"]):
            out.append(Disagreement(day, terminal, "the hub's anchor of this day differs from the one witnessed"))
            continue
        entry = conn.execute(select(AuditEntry.hash).where(AuditEntry.id == w["last_id"])).scalar()
        position = conn.execute(
            select(func.count()).select_from(AuditEntry).where(col(AuditEntry.id) <= w["last_id"])
        ).scalar()
        if entry != w["head_hash"] or position != w["entries"]:
            out.append(Disagreement(day, terminal, "the hub's chain no longer passes through the witnessed head"))
    return len(witnessed), out


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
