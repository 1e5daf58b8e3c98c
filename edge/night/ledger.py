"""What the terminal holds, as reconciliation sees it: lines per local day, and the repairs.

A case is the line ``c:<case id>:<version>`` (its latest event version here), a rating ``r:<rating id>``
(:mod:`protocol.reconcile`), in the local day of its ``created_at`` / ``rated_at``. The window is the last
``night_window_days`` days and, further back, every day that still holds something the hub has not
confirmed: nothing unconfirmed falls out of the comparison, however long the hub was away.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable
from datetime import date, datetime, time, timedelta

from sqlalchemy import Engine, bindparam, func, insert, update
from sqlmodel import col, select

from edge.store import audit
from edge.store.db import set_counter
from edge.store.models import Case, CaseEventRow, OutboxRow, RatingRow
from edge.store.retention import RECONCILED
from protocol.cases import CaseEvent, CaseStatus
from protocol.ratings import Rating, RatingLevel
from protocol.reconcile import DAY_ZONE, case_line, day_of, rating_line

__all__ = ["Ledger", "Requeued"]

_CHUNK = 500


class Requeued(dict[str, int]):
    """Counts of items put back in the outbox, by channel."""


class Ledger:
    def __init__(self, engine: Engine, committee: str) -> None:
        self._engine = engine
        self._committee = committee

    def window(self, today: date, days: int) -> tuple[date, date]:
        """The first and last day to compare: ``days`` days to ``today``, stretched back to the oldest
        day holding a case or rating the hub has not confirmed, and on to the newest such day after today
        (stamped by a clock that ran ahead, since set right: left out, they were never confirmed and so
        never purged, a year-end review found)."""
        first, last = today - timedelta(days=days - 1), today
        # Not by a parked item: the hub refused it and never confirms it, and the window stretched back to
        # its day for good took in days whose confirmed cases retention had purged, which the hub then
        # reported every night as cases it holds that the terminal never listed (a night review).
        parked = select(OutboxRow.item_id).where(col(OutboxRow.parked_at).is_not(None))
        with self._engine.connect() as conn:
            for key, column, confirmed in (
                (Case.case_id, Case.created_at, Case.reconciled_at),
                (RatingRow.rating_id, RatingRow.rated_at, RatingRow.reconciled_at),
            ):
                oldest, newest = conn.execute(
                    select(func.min(column), func.max(column)).where(col(confirmed).is_(None), col(key).not_in(parked))
                ).one()
                if isinstance(oldest, datetime) and isinstance(newest, datetime):
                    first = min(first, day_of(_aware(oldest)))
                    last = max(last, day_of(_aware(newest)))
        return first, last

    def lines(self, first: date, last: date) -> dict[date, list[str]]:
        """Every line of the window, by day (days with nothing are left out)."""
        start, end = _bounds(first, last)
        out: dict[date, list[str]] = defaultdict(list)
        with self._engine.connect() as conn:
            for case_id, version, created in conn.execute(
                select(Case.case_id, Case.version, Case.created_at).where(
                    col(Case.created_at) >= start, col(Case.created_at) < end
                )
            ):
                out[day_of(_aware(created))].append(case_line(case_id, version))
            for rating_id, rated in conn.execute(
                select(RatingRow.rating_id, RatingRow.rated_at).where(
                    col(RatingRow.rated_at) >= start, col(RatingRow.rated_at) < end
                )
            ):
                out[day_of(_aware(rated))].append(rating_line(rating_id))
        return dict(out)

    def confirm(self, lines: Iterable[str], at: datetime) -> int:
        """Mark the items of ``lines`` reconciled at ``at``; returns how many rows. A case only where the
        line's version is at least the one here: a hub behind this terminal (it refused the events sent back)
        does not hold what the terminal holds, and a confirmed case may be purged."""
        cases, ratings = _ids(lines)
        n = 0
        with self._engine.begin() as conn:
            if cases:
                n += conn.execute(
                    update(Case)
                    .where(col(Case.case_id) == bindparam("b_id"), col(Case.version) <= bindparam("b_version"))
                    .values(reconciled_at=at),
                    [{"b_id": c, "b_version": v} for c, v in cases],
                ).rowcount
            for chunk in _chunks(ratings):
                n += conn.execute(
                    update(RatingRow).where(col(RatingRow.rating_id).in_(chunk)).values(reconciled_at=at)
                ).rowcount
        return n

    def doubt(self, lines: Iterable[str]) -> int:
        """The cases of ``lines`` are no longer confirmed: the hub is behind on them (it lost events it had
        sent, restored from an older backup), so what only this terminal holds must not be purged."""
        cases, _ = _ids(lines)
        n = 0
        with self._engine.begin() as conn:
            for chunk in _chunks([c for c, _ in cases]):
                n += conn.execute(update(Case).where(col(Case.case_id).in_(chunk)).values(reconciled_at=None)).rowcount
        return n

    def requeue(self, ids: Collection[str], at: datetime) -> Requeued:
        """Put the items the hub lacks back in the outbox, from what is kept here: a case's sealed copy as
        it was first sent; a rating rebuilt from its row (its free-text reason left the terminal with the
        first ack, so it goes without). Items still in the outbox are left as they are. One audit entry.
        None of them is confirmed any more (a night whose reconciliation fails still runs retention)."""
        wanted = list(ids)
        out = Requeued(cases=0, ratings=0)
        with self._engine.begin() as conn:
            conn.execute(update(Case).where(col(Case.case_id).in_(wanted)).values(reconciled_at=None))
            conn.execute(update(RatingRow).where(col(RatingRow.rating_id).in_(wanted)).values(reconciled_at=None))
            queued = set(conn.execute(select(OutboxRow.item_id).where(col(OutboxRow.item_id).in_(wanted))).scalars())
            rows: list[dict[str, object]] = []
            for case_id, payload in conn.execute(
                select(Case.case_id, Case.payload).where(col(Case.case_id).in_(wanted))
            ):
                if case_id not in queued:
                    rows.append({"item_id": case_id, "channel": "cases", "payload": payload})
                    out["cases"] += 1
            ratings = conn.execute(
                select(RatingRow.rating_id, RatingRow.case_id, RatingRow.level, RatingRow.rated_at).where(
                    col(RatingRow.rating_id).in_(wanted)
                )
            ).all()
            for rating_id, case_id, level, rated_at in ratings:
                if rating_id in queued:
                    continue
                receipt_no, item_code = "", ""
                if case_id is not None:
                    found = conn.execute(select(Case.receipt_no, Case.item_code).where(Case.case_id == case_id)).first()
                    if found is not None:
                        receipt_no, item_code = found[0], found[1]
                rating = Rating(
                    rating_id=uuid.UUID(rating_id),
                    case_id=uuid.UUID(case_id) if case_id else None,
                    receipt_no=receipt_no,
                    item_code=item_code,
                    committee=self._committee,
                    level=RatingLevel(level),
                    rated_at=_aware(rated_at),
                )
                rows.append({"item_id": rating_id, "channel": "ratings", "payload": rating.model_dump_json()})
                out["ratings"] += 1
            if rows:
                conn.execute(insert(OutboxRow), [{**r, "created_at": at, "attempts": 0} for r in rows])
                audit.record(conn, at, "terminal", "reconcile.resent", "outbox", dict(out))
        return out

    def events_after(self, lines: Iterable[str]) -> list[CaseEvent]:
        """The events kept here of each case in ``lines`` (``c:<case id>:<version>``) past that version."""
        wanted = dict(_ids(lines)[0])
        out: list[CaseEvent] = []
        with self._engine.connect() as conn:
            for chunk in _chunks(list(wanted)):
                rows = conn.execute(
                    select(CaseEventRow)
                    .where(col(CaseEventRow.case_id).in_(chunk))
                    .order_by(col(CaseEventRow.case_id), col(CaseEventRow.version))
                ).mappings()
                out += [
                    CaseEvent(
                        event_id=r["event_id"],
                        case_id=uuid.UUID(r["case_id"]),
                        version=r["version"],
                        status=CaseStatus(r["status"]),
                        at=_aware(r["at"]),
                        note=r["note"],
                        tag=r["tag"],
                    )
                    for r in rows
                    if r["version"] > wanted[r["case_id"]]
                ]
        return out

    def record(self, at: datetime, data: dict[str, int], hub_now: datetime | None = None) -> None:
        """One audit entry for a night's reconciliation, with its counts (never which cases), and the time it
        succeeded by the hub's clock (``hub_now``; ``at`` without one), which retention holds against this
        terminal's (:data:`edge.store.retention.RECONCILED`): a clock running a year ahead through the night
        is then a year from the hub's, and nothing goes early by it (a review)."""
        with self._engine.begin() as conn:
            audit.record(conn, at, "terminal", "reconcile.done", "reconcile", data)
            set_counter(conn, RECONCILED, int((hub_now or at).timestamp()))


def _ids(lines: Iterable[str]) -> tuple[list[tuple[str, int]], list[str]]:
    cases: list[tuple[str, int]] = []
    ratings: list[str] = []
    for line in lines:
        kind, _, rest = line.partition(":")
        case_id, _, version = rest.partition(":")
        if kind == "c" and version.isdigit():
            cases.append((case_id, int(version)))
        elif kind == "r":
            ratings.append(rest)
    return cases, ratings


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _bounds(first: date, last: date) -> tuple[datetime, datetime]:
    start = datetime.combine(first, time(), DAY_ZONE)
    end = datetime.combine(last + timedelta(days=1), time(), DAY_ZONE)
    return start, end


def _aware(value: datetime) -> datetime:
    """A stored time, read back through the model's UTC type (aware) or raw (naive UTC, from an aggregate)."""
    from datetime import UTC

    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
