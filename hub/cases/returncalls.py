"""Return calls for bad ratings (回访整改, the national 好差评 rule of 2019).

Every bad rating (不满意, 非常不满意) that reaches the hub opens a return call for the department of the
item rated, due :data:`RETURN_CALL_DAYS` working days later on the centre's calendar (:func:`open_for`,
in ingest's transaction). A clerk of that department, or the manager, calls the resident back and records
what the call found and what was put right (:meth:`ReturnCalls.record`, audited). The reports count the
calls opened, done and late per department and item.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, Engine, update
from sqlmodel import col, select

from hub.audit.chain import AuditRecord, append
from hub.cases.messages import RETURN_CALL_ERRORS
from hub.cases.routing import UNROUTED
from hub.db.models import ReturnCallRow
from hub.errors import HubError, NotFound
from hub.people.roles import Permission, Principal, authorize
from kernel.db import read_only, upsert_insert
from protocol.envelope import utcnow
from protocol.localtime import local_date
from protocol.ratings import BAD_LEVELS, Rating

__all__ = ["RETURN_CALL_DAYS", "ReturnCall", "ReturnCalls", "open_for"]

RETURN_CALL_DAYS = 15
"""Working days from a bad rating's arrival to its return call's deadline (one province's rule: 15)."""
OUTCOME_MAX = 2000
R = ReturnCallRow


@dataclass(frozen=True, slots=True)
class ReturnCall:
    """One return call, as a clerk sees it (the rating's reason, never the resident's ID number)."""

    rating_id: str
    case_id: str | None
    receipt_no: str
    item_code: str
    department: str
    committee: str
    level: int
    reason: str
    opened_at: datetime
    due_date: date
    done_at: datetime | None
    done_by: str
    reached: bool | None
    outcome: str

    def late(self, today: date) -> bool:
        """Done after its deadline, or still open past it."""
        done = local_date(self.done_at) if self.done_at is not None else None
        return (done or today) > self.due_date


def open_for(conn: Connection, ratings: Sequence[Rating], departments: dict[str, str], at: datetime, due: date) -> int:
    """Open a return call for each bad rating of ``ratings`` (``departments``: rating id → department),
    due on ``due``; a rating delivered again opens nothing new. Returns how many were bad."""
    rows = [
        {
            "rating_id": str(r.rating_id),
            "case_id": str(r.case_id) if r.case_id else None,
            "receipt_no": r.receipt_no,
            "item_code": r.item_code,
            "department": departments.get(str(r.rating_id)) or UNROUTED,  # no item: the centre's window
            "committee": r.committee,
            "level": int(r.level),
            "reason": r.reason,
            "opened_at": at,
            "due_date": due,
            "done_at": None,
            "done_by": "",
            "reached": None,
            "outcome": "",
        }
        for r in ratings
        if r.level in BAD_LEVELS
    ]
    if rows:
        insert = upsert_insert(conn)
        conn.execute(insert(R).on_conflict_do_nothing(index_elements=["rating_id"]), rows)
    return len(rows)


class ReturnCalls:
    """The return calls of the departments a user may see, and recording their outcome."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.clock = clock

    def listing(self, who: Principal, departments: Sequence[str], open_only: bool = False) -> list[ReturnCall]:
        """The calls of ``departments`` (already scoped to ``who``), open ones first, by deadline."""
        authorize(who, Permission.CASE_READ)
        q = select(R).where(col(R.department).in_(list(departments)))
        if open_only:
            q = q.where(col(R.done_at).is_(None))
        q = q.order_by(col(R.done_at).is_not(None), col(R.due_date), col(R.opened_at)).limit(500)
        with read_only(self.engine).connect() as conn:
            return [ReturnCall(**dict(r)) for r in conn.execute(q).mappings()]

    def record(self, who: Principal, rating_id: str, reached: bool, outcome: str) -> ReturnCall:
        """Record the call's outcome: whether the resident was reached, what it found and what was put right."""
        outcome = outcome.strip()[:OUTCOME_MAX]
        if not outcome:
            raise HubError(RETURN_CALL_ERRORS["outcome"])
        now = self.clock()
        with self.engine.begin() as conn:
            row = conn.execute(select(R).where(col(R.rating_id) == rating_id)).mappings().first()
            if row is None:
                raise NotFound(RETURN_CALL_ERRORS["missing"])
            authorize(who, Permission.CASE_ACT, row["department"])
            recorded = conn.execute(
                update(R)  # only if still open: another clerk's record, committed meanwhile, is never overwritten
                .where(col(R.rating_id) == rating_id, col(R.done_at).is_(None))
                .values(done_at=now, done_by=who.username, reached=reached, outcome=outcome)
            ).rowcount
            if not recorded:
                raise HubError(RETURN_CALL_ERRORS["done"])
            data = {"department": row["department"], "item_code": row["item_code"], "reached": reached}
            append(conn, [AuditRecord(now, who.actor, "return_call.recorded", rating_id, {**data, "outcome": outcome})])
        return ReturnCall(
            **{**dict(row), "done_at": now, "done_by": who.username, "reached": reached, "outcome": outcome}
        )
