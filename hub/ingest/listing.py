"""What ingest knows of terminals and refusals, as operators read it: the terminals the hub has heard of
and the latest dead letters (their payloads stay in the database)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select

from hub.db.models import DeadLetter, FleetTerminalRow, TerminalRow, table

__all__ = ["DeadLetterRecord", "IngestRecords", "TerminalRecord"]

_dead, _terms, _fleet = table(DeadLetter), table(TerminalRow), table(FleetTerminalRow)


@dataclass(frozen=True, slots=True)
class TerminalRecord:
    """One row of ``terminals``: what births, deaths and heartbeats said (``health``: the last one, JSON),
    with the catalogue version the terminal reports (kept by the fleet, in ``fleet_terminals``; 0 before
    the fleet has seen it)."""

    terminal_id: str
    online: bool
    bd_seq: int
    birth_seq: int  # the message number of the birth on record (a retained one read back is not new)
    last_seq: int
    seq_gaps: int
    last_birth_at: datetime | None
    last_seen_at: datetime | None
    clock_skew_s: float | None
    app_version: str
    catalogue_version: int
    health: str


@dataclass(frozen=True, slots=True)
class DeadLetterRecord:
    """One refusal without its payload: the topic, the reason, and the size and hash of what arrived."""

    id: int
    received_at: datetime
    topic: str
    terminal_id: str | None
    reason: str
    detail: str
    message_id: str | None
    item_id: str | None
    size: int
    sha256: str | None


class IngestRecords:
    """Read-only views of ingest's tables for operators."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def terminals(self) -> list[TerminalRecord]:
        """Every terminal the hub has heard of, by id."""
        version = func.coalesce(_fleet.c.catalogue_version, 0).label("catalogue_version")
        q = (
            select(_terms, version)
            .select_from(_terms.outerjoin(_fleet, _fleet.c.terminal_id == _terms.c.terminal_id))
            .order_by(_terms.c.terminal_id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        return [TerminalRecord(**dict(r)) for r in rows]

    def dead_letters(self, limit: int, reason: str | None = None) -> list[DeadLetterRecord]:
        """The latest ``limit`` dead letters, newest first, optionally of one ``reason``."""
        columns = [c for c in _dead.c if c.name != "payload"]
        q = select(*columns).order_by(_dead.c.id.desc()).limit(limit)
        if reason:
            q = q.where(_dead.c.reason == reason)
        with self.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        return [DeadLetterRecord(**dict(r)) for r in rows]
