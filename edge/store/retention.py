"""Retention: resident data leaves the terminal once the hub has it and the retention window has passed.

A case goes (with its timeline) only when all of these hold:

- the hub acked it (``hub_acked_at`` set) and nothing of it is left in the outbox, parked or not;
- the hub confirmed it holds it in a nightly reconciliation (``reconciled_at`` set, edge.night): an ack
  alone is undone by a hub restored from an older backup, and this sealed copy is then the only one;
- it is closed — completed, rejected or withdrawn — so no event the resident waits for can still come;
- both its last state change and the hub's ack are older than ``retention_days``;
- a nightly reconciliation with the hub succeeded in the last :data:`RECONCILED_WITHIN` (meta
  ``reconciled_at``, the hub's time of it, set by edge.night.ledger: a clock far off the hub's is far off
  it too). A confirmation is only as good as the hub that gave it: a
  hub restored from an older backup lost what it confirmed since, and the next night that reaches it finds
  that and sends the cases again. While nights fail — the hub restored, its broker or the link down —
  nothing goes: the terminal keeps resident data longer rather than lose the one copy left (a night
  review). What is held so is counted (``held``) and logged.

A case that never closes (the centre forgot it) still goes, acked and reconciled, once its last change is
older than ``open_case_limit_days``; the audit entry counts those apart (``open_cases``).

Its events go with it, and so do events the hub sends again later for a case already purged here.

A rating goes when the hub acked it (its outbox row is gone) and confirmed it in a reconciliation, it is
older than the window and its case is gone too (or it had none): while a case is here, its rating stays,
and with it the one-rating rule.
Anything else stays, however old. Each run that removes something appends one audit entry with the
counts (never which cases) in the same transaction.

Deleted means gone from the files too: the database overwrites deleted content (``secure_delete``, set
in edge.store.db), and every run ends by truncating the write-ahead log, where older copies of the pages
— an acked rating's reason, a purged case's notes — would otherwise linger until overwritten.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Connection, Engine, Select, and_, delete, exists, func, not_, or_, select

from edge.settings import EdgeSettings
from edge.store import audit
from edge.store.db import read_counter
from edge.store.models import Case, CaseEventRow, OutboxRow, RatingRow, table
from protocol.cases import CaseStatus
from protocol.envelope import utcnow

__all__ = ["CLOSED", "RECONCILED", "RECONCILED_WITHIN", "PurgeCounts", "Retention"]

log = logging.getLogger(__name__)
CLOSED = frozenset({CaseStatus.COMPLETED, CaseStatus.REFUSED, CaseStatus.REJECTED, CaseStatus.WITHDRAWN})
"""States after which the hub sends nothing more for a case."""
RECONCILED = "reconciled_at"
"""Meta key: when (epoch seconds, this terminal's clock) a nightly reconciliation last succeeded."""
RECONCILED_WITHIN = timedelta(days=2)
"""How recent that must be for anything to go: one missed night is not yet a hub away."""
_AUTO_VACUUM_INCREMENTAL = 2
_cases, _events, _ratings, _outbox = table(Case), table(CaseEventRow), table(RatingRow), table(OutboxRow)


@dataclass(frozen=True, slots=True)
class PurgeCounts:
    """Rows removed (or, on a dry run, that would be)."""

    cases: int = 0
    case_events: int = 0
    ratings: int = 0
    open_cases: int = 0
    """Of ``cases``, those purged open, past ``open_case_limit_days``."""
    held: int = 0
    """Cases and ratings that would have gone but stay: no reconciliation succeeded lately."""

    def __bool__(self) -> bool:
        return bool(self.cases or self.case_events or self.ratings)


class Retention:
    """Purges what the window allows; :meth:`purge` is safe to run at any time, as often as wanted."""

    def __init__(self, engine: Engine, settings: EdgeSettings) -> None:
        self._engine = engine
        self._settings = settings
        self._told: int | None = None  # the reconciliation time last warned of: once, not every hourly run

    def purge(self, now: datetime | None = None, dry_run: bool = False) -> PurgeCounts:
        """Remove what may go (see the module's rules); with ``dry_run`` only count it."""
        now = now or utcnow()
        days = self._settings.retention_days
        cutoff = now - timedelta(days=days)
        open_cutoff = now - timedelta(days=max(days, self._settings.open_case_limit_days))
        open_goes = _open_case_goes(open_cutoff)
        case_goes = or_(_case_goes(cutoff), open_goes)
        # Written so they hold the same before the cases go (a dry run) and after (a purge).
        event_goes = not_(exists().where(_cases.c.case_id == _events.c.case_id, not_(case_goes)))
        rating_goes = _rating_goes(cutoff, case_goes)
        with self._engine.begin() as conn:
            open_cases = _count(conn, select(func.count()).select_from(_cases).where(open_goes))
            stamp = read_counter(conn, RECONCILED)
            reconciled = datetime.fromtimestamp(stamp, UTC)
            if abs(now - reconciled) > RECONCILED_WITHIN:  # a clock set far back or ahead since: not recent either
                held = _count(conn, select(func.count()).select_from(_cases).where(case_goes))
                held += _count(conn, select(func.count()).select_from(_ratings).where(rating_goes))
                if held and self._told != stamp:
                    self._told = stamp
                    log.warning(
                        "retention holds %d case(s) and rating(s) past the window: no reconciliation with the hub"
                        " has succeeded since %s (see the night's result: shegong edge nightly)",
                        held,
                        f"{reconciled:%Y-%m-%d %H:%M} UTC" if stamp else "this terminal began",
                    )
                return PurgeCounts(held=held)
            if dry_run:
                return PurgeCounts(
                    cases=_count(conn, select(func.count()).select_from(_cases).where(case_goes)),
                    case_events=_count(conn, select(func.count()).select_from(_events).where(event_goes)),
                    ratings=_count(conn, select(func.count()).select_from(_ratings).where(rating_goes)),
                    open_cases=open_cases,
                )
            cases = conn.execute(delete(_cases).where(case_goes)).rowcount
            counts = PurgeCounts(
                cases=cases,
                case_events=conn.execute(delete(_events).where(event_goes)).rowcount,
                ratings=conn.execute(delete(_ratings).where(rating_goes)).rowcount,
                open_cases=open_cases,
            )
            if counts:
                audit.record(
                    conn, now, "terminal", "retention.purged", "retention", {**asdict(counts), "retention_days": days}
                )
        if counts:
            log.info("retention purge (%d days): %s", days, counts)
            self._vacuum()
        self._truncate_wal()
        return counts

    def _truncate_wal(self) -> None:
        """Checkpoint the write-ahead log into the database and cut it to nothing. A reader in the middle
        of a snapshot makes it partial (it reports busy); the next run finishes the job."""
        raw = self._engine.raw_connection()
        try:
            db = raw.driver_connection
            if db is not None:
                busy = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                if busy:
                    log.info("write-ahead log not truncated: a reader was busy; the next purge tries again")
        finally:
            raw.close()

    def _vacuum(self) -> None:
        """Give freed pages back to the file system, when the database was made to allow it.

        Only with ``auto_vacuum=incremental`` (a database's mode is fixed at creation; we do not change it):
        a full VACUUM would rewrite the file and hold the lock the kiosk needs.
        """
        raw = self._engine.raw_connection()
        try:
            db = raw.driver_connection  # sqlite3, in autocommit: the pragma takes the write lock only as it runs
            if db is not None and db.execute("PRAGMA auto_vacuum").fetchone()[0] == _AUTO_VACUUM_INCREMENTAL:
                db.executescript("PRAGMA incremental_vacuum")  # stepped to the end: one step frees one page
        finally:
            raw.close()


def _case_goes(cutoff: datetime) -> ColumnElement[bool]:
    queued = exists().where(_outbox.c.item_id == _cases.c.case_id)
    return and_(
        _cases.c.hub_acked_at.is_not(None),
        _cases.c.reconciled_at.is_not(None),
        _cases.c.hub_acked_at < cutoff,
        _cases.c.status.in_(sorted(s.value for s in CLOSED)),
        _cases.c.status_at < cutoff,
        not_(queued),
    )


def _open_case_goes(cutoff: datetime) -> ColumnElement[bool]:
    """A case left open past the limit: it goes all the same once the hub has it, acked and reconciled."""
    queued = exists().where(_outbox.c.item_id == _cases.c.case_id)
    return and_(
        _cases.c.hub_acked_at.is_not(None),
        _cases.c.reconciled_at.is_not(None),
        _cases.c.hub_acked_at < cutoff,
        _cases.c.status.not_in(sorted(s.value for s in CLOSED)),
        _cases.c.status_at < cutoff,
        not_(queued),
    )


def _rating_goes(cutoff: datetime, case_goes: ColumnElement[bool]) -> ColumnElement[bool]:
    queued = exists().where(_outbox.c.item_id == _ratings.c.rating_id)
    case_stays = exists().where(_cases.c.case_id == _ratings.c.case_id, not_(case_goes))
    return and_(
        _ratings.c.rated_at < cutoff,
        _ratings.c.reconciled_at.is_not(None),
        not_(queued),
        or_(_ratings.c.case_id.is_(None), not_(case_stays)),
    )


def _count(conn: Connection, query: Select[int]) -> int:
    return conn.execute(query).scalar_one()
