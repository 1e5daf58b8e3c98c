"""Cases a partner system submits for a caller (the 12345 hotline over Open311): the hub's normal path.

In one transaction, as ingest stores a terminal's case: the ``cases`` row (the caller's name and ID
number kept there, the rest of what they said in its payload, as a kiosk case's are), routed to its
department with its promised date, its first event (submitted), an ``open311_requests`` row naming the
partner, and an audit entry under the partner's name. From there clerks work it like any other case.

Such a case has no terminal: it belongs to the pseudo-committee ``OPEN311`` with receipt numbers
``OPEN311-YYYYMMDD-NNNNNN`` (a day's sequence), and its terminal id is ``open311:<partner>`` — a colon no
real terminal id may hold (:mod:`protocol.topics`) — so :mod:`hub.cases.delivery` has nothing to send:
its events are stored already marked published.
"""

from __future__ import annotations

import math
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select
from sqlalchemy.exc import IntegrityError

from hub.audit.chain import AuditRecord, append
from hub.calendar.duedates import Promise
from hub.cases.arrival import case_row
from hub.cases.routing import Routes
from hub.db.models import CaseEventRow, CaseRow, HubRestoreRow, PartnerRequestRow, table
from hub.errors import HubError
from kernel.db import transaction_lock
from protocol.cases import Applicant, CaseStatus, CaseSubmission
from protocol.envelope import utcnow
from protocol.localtime import local_date

__all__ = [
    "COMMITTEE",
    "RESTORED_AHEAD",
    "OverLimit",
    "PartnerCase",
    "PartnerCases",
    "PartnerLimit",
    "is_partner_terminal",
    "last_receipt",
    "restored_receipts_above",
]

COMMITTEE = "OPEN311"
"""The pseudo-committee of cases partners submit (a receipt number's prefix)."""
TERMINAL_PREFIX = "open311:"
_QUERY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_TRIES = 3
RESTORED_AHEAD = 500_000
"""How far a restore moves the day's partner receipt numbers when it cannot read how far they had come
(six digits a day; a partner may make ``partner_requests`` an hour, 600 by default): requests numbered
after the backup are lost with the database (no terminal holds a copy: the partner submits them again),
but the partner holds their ids, which must not come back as another caller's case."""
_LOCK_KEY = 0x311_0311  # the advisory lock numbering partner cases (hub.audit.chain has its own)
_cases, _events, _requests = table(CaseRow), table(CaseEventRow), table(PartnerRequestRow)
_restores = table(HubRestoreRow)


def is_partner_terminal(terminal_id: str) -> bool:
    """Whether a case's terminal id names a partner, not a terminal (no events to deliver)."""
    return terminal_id.startswith(TERMINAL_PREFIX)


@dataclass(frozen=True, slots=True)
class PartnerLimit:
    """How many requests one partner may create within ``window_s`` seconds (``requests`` 0: no limit); from
    the hub settings ``[open311]`` (:meth:`from_settings`)."""

    requests: int = 600
    window_s: int = 3600

    @classmethod
    def from_settings(cls, open311: Any) -> PartnerLimit:
        return cls(int(open311.partner_requests), int(open311.partner_window_s))


class OverLimit(HubError):
    """The partner created ``limit.requests`` requests within the window; one more is possible in
    ``retry_after_s`` seconds, when the oldest of them leaves the window."""

    status_code = 429

    def __init__(self, limit: PartnerLimit, retry_after_s: int) -> None:
        super().__init__(f"over the limit of {limit.requests} requests in {limit.window_s} s")
        self.limit = limit
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class PartnerCase:
    """A committed partner case: its id, its public request id (the receipt number), its department, its
    query code."""

    case_id: str
    service_request_id: str
    department: str
    received_at: datetime
    query_code: str
    """With the receipt number and the caller's ID number, the caller's way to the portal's progress page."""


class PartnerCases:
    def __init__(
        self,
        engine: Engine,
        router: Routes,
        promise: Callable[[str, datetime], Promise | None],
        clock: Callable[[], datetime] = utcnow,
        limit: PartnerLimit | None = None,
    ) -> None:
        self.engine = engine
        self.router = router
        self.promise = promise
        self.clock = clock
        self.limit = limit or PartnerLimit()

    def create(
        self,
        partner_id: int,
        partner: str,
        item_code: str,
        applicant: Applicant,
        form: Mapping[str, str],
        materials: list[str],
    ) -> PartnerCase:
        """Store a case for ``applicant`` (already validated by the caller) submitted by ``partner``.

        Receipt numbers are given one transaction at a time; should two ever collide, the database's unique
        key refuses the second, which is tried again with the next number. The partner's requests of the
        window are counted in that same serialised transaction, so parallel POSTs cannot pass the limit
        together: one over it raises :class:`OverLimit` and stores nothing."""
        now = self.clock()
        terminal = f"{TERMINAL_PREFIX}{partner}"
        case = CaseSubmission(
            case_id=uuid.uuid4(),
            receipt_no=f"{COMMITTEE}-{local_date(now):%Y%m%d}-000000",  # numbered in the transaction below
            query_code="".join(secrets.choice(_QUERY_ALPHABET) for _ in range(6)),
            item_code=item_code,
            committee=COMMITTEE,
            created_at=now,
            applicant=applicant,
            agent=terminal,
            form=dict(form),
            materials=materials,
        )
        department = self.router.department(item_code)
        promise = self.promise(item_code, now)
        for attempt in range(_TRIES):
            try:
                with self.engine.begin() as conn:
                    numbered = case.model_copy(update={"receipt_no": _next_receipt(conn, now)})
                    self._within_limit(conn, partner_id, now)
                    self._store(conn, numbered, terminal, partner_id, partner, department, promise)
                    return PartnerCase(str(case.case_id), numbered.receipt_no, department, now, case.query_code)
            except IntegrityError:
                if attempt == _TRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def _within_limit(self, conn: Connection, partner_id: int, now: datetime) -> None:
        if not self.limit.requests:
            return
        window = timedelta(seconds=self.limit.window_s)
        count, oldest = conn.execute(
            select(func.count(), func.min(_requests.c.created_at)).where(
                _requests.c.partner_id == partner_id, _requests.c.created_at > now - window
            )
        ).one()
        if count >= self.limit.requests:
            raise OverLimit(self.limit, max(1, math.ceil((oldest + window - now).total_seconds())))

    @staticmethod
    def _store(
        conn: Connection,
        case: CaseSubmission,
        terminal: str,
        partner_id: int,
        partner: str,
        department: str,
        promise: Promise | None,
    ) -> None:
        now, case_id = case.created_at, str(case.case_id)
        conn.execute(
            insert(_cases).values(case_row(case, terminal, department, promise, case.model_dump_json(), now, now))
        )
        conn.execute(
            insert(_events).values(
                case_id=case_id,
                terminal_id=terminal,
                version=1,
                status=CaseStatus.SUBMITTED.value,
                at=now,
                actor=f"partner:{partner}",
                note="",
                department=department,
                published_at=now,  # no terminal to deliver it to
            )
        )
        conn.execute(
            insert(_requests).values(
                case_id=case_id, service_request_id=case.receipt_no, partner_id=partner_id, created_at=now
            )
        )
        data = {"receipt_no": case.receipt_no, "item_code": case.item_code, "department": department}
        append(conn, [AuditRecord(now, f"partner:{partner}", "open311.request", case_id, data)])


def _next_receipt(conn: Connection, now: datetime) -> str:
    """The day's next partner receipt number, ``OPEN311-YYYYMMDD-NNNNNN``, read in this write transaction:
    SQLite's BEGIN IMMEDIATE serialises the writers; on PostgreSQL a transaction lock does (the unique
    receipt key stays the last word)."""
    prefix = f"{COMMITTEE}-{local_date(now):%Y%m%d}-"
    transaction_lock(conn, _LOCK_KEY)
    return f"{prefix}{max(last_receipt(conn, now), restored_receipts_above(conn, now)) + 1:06d}"


def last_receipt(conn: Connection, now: datetime) -> int:
    """The sequence of the day's last partner receipt number held (0: none)."""
    prefix = f"{COMMITTEE}-{local_date(now):%Y%m%d}-"
    last = conn.execute(
        select(func.max(_cases.c.receipt_no)).where(
            _cases.c.committee == COMMITTEE, _cases.c.receipt_no.like(prefix + "%")
        )
    ).scalar()
    return int(last.rsplit("-", 1)[1]) if last else 0


def restored_receipts_above(conn: Connection, now: datetime) -> int:
    """The number the day's partner receipts continue above, said by a restore that day (0: none)."""
    q = select(func.max(_restores.c.open311_above)).where(_restores.c.open311_day == local_date(now))
    return int(conn.execute(q).scalar() or 0)
