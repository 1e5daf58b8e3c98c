"""Satisfaction ratings (满意度评价): stored and queued for the hub in one transaction, like cases."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from datetime import datetime

import uuid6
from sqlalchemy import Engine, insert, select

from edge.errors import EdgeError
from edge.settings import EdgeSettings
from edge.store import audit
from edge.store.models import Case, OutboxRow, RatingRow, table
from edge.text import text as words
from protocol.envelope import utcnow
from protocol.ratings import Rating, RatingLevel
from protocol.sealed import Sealer

__all__ = ["AlreadyRated", "RatingStore"]

_ratings, _outbox, _cases = table(RatingRow), table(OutboxRow), table(Case)


class AlreadyRated(EdgeError):
    """One rating per case (national rule): a second one is refused."""


class RatingStore:
    """Ratings of this terminal. A reason the resident typed is sealed to the hub's case key with the
    terminal's ``sealer`` (the case store's) before it is stored: free text may name people, and what the
    terminal queues must tell a thief nothing (DESIGN §6)."""

    def __init__(self, engine: Engine, settings: EdgeSettings, sealer: Callable[[], Sealer]) -> None:
        self._engine = engine
        self._settings = settings
        self._sealer = sealer

    def rate(
        self, level: RatingLevel, reason: str = "", case_id: str | None = None, now: datetime | None = None
    ) -> Rating:
        """Store a rating of ``case_id`` (or of a visit without a case) and queue it for the hub."""
        now = now or utcnow()
        rating_id, reason = uuid6.uuid7(), reason.strip()[:500]
        sealed_reason = self._sealer().seal_text(reason, rating_id) if reason else ""
        with self._engine.begin() as conn:
            receipt_no = item_code = ""
            if case_id is not None:
                if conn.execute(select(_ratings.c.rating_id).where(_ratings.c.case_id == case_id)).first():
                    raise AlreadyRated(words("rating.already"))
                case = conn.execute(
                    select(_cases.c.receipt_no, _cases.c.item_code).where(_cases.c.case_id == case_id)
                ).first()
                if case is None:
                    raise EdgeError(words("rating.no_case", case_id=case_id))
                receipt_no, item_code = case
            rating = Rating(
                rating_id=rating_id,
                case_id=uuid.UUID(case_id) if case_id else None,
                receipt_no=receipt_no,
                item_code=item_code,
                committee=self._settings.committee_code,
                level=level,
                sealed_reason=sealed_reason,
                rated_at=now,
            )
            rid = str(rating.rating_id)
            conn.execute(insert(_ratings).values(rating_id=rid, case_id=case_id, level=int(level), rated_at=now))
            conn.execute(
                insert(_outbox).values(
                    item_id=rid, channel="ratings", payload=rating.model_dump_json(), created_at=now, attempts=0
                )
            )
            # The level, not the reason: free text a resident typed may name people. The reason is in the
            # outbox item only, sealed, which the hub's ack deletes.
            audit.record(conn, now, "resident", "rating.recorded", rid, {"case_id": case_id, "level": int(level)})
        return rating

    def rated_among(self, case_ids: Collection[str]) -> set[str]:
        """Those of ``case_ids`` rated already."""
        if not case_ids:
            return set()
        with self._engine.connect() as conn:
            query = select(_ratings.c.case_id).where(_ratings.c.case_id.in_(list(case_ids)))
            return {str(c) for c in conn.execute(query).scalars()}

    def rating_of(self, case_id: str) -> dict[str, object] | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(_ratings).where(_ratings.c.case_id == case_id)).mappings().first()
        return dict(row) if row else None
