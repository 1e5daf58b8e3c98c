"""Reading the audit trail for people: a page of entries, newest first, and the verification of the
whole chain against its anchor (what electronic supervision shows)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, or_, select

from hub.audit.chain import Break, anchor, verify
from hub.db.models import AuditEntry, table

__all__ = ["AuditLine", "AuditTrail", "Verification"]

_audit = table(AuditEntry)


@dataclass(frozen=True, slots=True)
class AuditLine:
    """One entry of the chain as stored (``data``: its canonical JSON)."""

    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    data: str
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class Verification:
    """The whole chain walked: ``broken`` names the first entry that no longer fits (or a truncated tail)."""

    intact: bool
    checked: int
    broken: Break | None
    anchor: str


class AuditTrail:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def entries(
        self,
        limit: int,
        before: int | None = None,
        actor: str | None = None,
        action: str | None = None,
        about: Sequence[str] = (),
    ) -> list[AuditLine]:
        """The newest ``limit`` entries (with an id below ``before``), optionally of one ``actor``, of one
        ``action`` (every withdrawal), about one of ``about``: its subject, or named in its data (a case's
        history: its id, the subject of its actions and listed in the batch that brought it)."""
        q = select(_audit).order_by(_audit.c.id.desc()).limit(limit)
        if before is not None:
            q = q.where(_audit.c.id < before)
        if actor:
            q = q.where(_audit.c.actor == actor)
        if action:
            q = q.where(_audit.c.action == action)
        if about:
            q = q.where(
                or_(_audit.c.subject.in_(list(about)), *(_audit.c.data.contains(a, autoescape=True) for a in about))
            )
        with self.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        return [
            AuditLine(r["id"], r["at"], r["actor"], r["action"], r["subject"], r["data"], r["prev_hash"], r["hash"])
            for r in rows
        ]

    def verify(self) -> Verification:
        with self.engine.connect() as conn:
            checked, broken = verify(conn)
            head = anchor(conn)
        return Verification(broken is None, checked, broken, str(head))
