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

import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, func, insert, select, text
from sqlalchemy.exc import IntegrityError

from hub.audit.chain import AuditRecord, append
from hub.calendar.duedates import Promise
from hub.cases.routing import Routes
from hub.db.models import CaseEventRow, CaseRow, PartnerRequestRow, table
from protocol.cases import Applicant, CaseStatus, CaseSubmission
from protocol.envelope import utcnow
from protocol.localtime import local_date

__all__ = ["COMMITTEE", "PartnerCase", "PartnerCases", "is_partner_terminal"]

COMMITTEE = "OPEN311"
"""The pseudo-committee of cases partners submit (a receipt number's prefix)."""
TERMINAL_PREFIX = "open311:"
_QUERY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_TRIES = 3
_LOCK_KEY = 0x311_0311  # the advisory lock numbering partner cases (hub.audit.chain has its own)
_cases, _events, _requests = table(CaseRow), table(CaseEventRow), table(PartnerRequestRow)


def is_partner_terminal(terminal_id: str) -> bool:
    """Whether a case's terminal id names a partner, not a terminal (no events to deliver)."""
    return terminal_id.startswith(TERMINAL_PREFIX)


@dataclass(frozen=True, slots=True)
class PartnerCase:
    """A committed partner case: its id, its public request id (the receipt number), its department."""

    case_id: str
    service_request_id: str
    department: str
    received_at: datetime


class PartnerCases:
    def __init__(
        self,
        engine: Engine,
        router: Routes,
        promise: Callable[[str, datetime], Promise | None],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.router = router
        self.promise = promise
        self.clock = clock

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
        key refuses the second, which is tried again with the next number."""
        for attempt in range(_TRIES):
            try:
                with self.engine.begin() as conn:
                    return self._create(conn, partner_id, partner, item_code, applicant, form, materials)
            except IntegrityError:
                if attempt == _TRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def _create(
        self,
        conn: Connection,
        partner_id: int,
        partner: str,
        item_code: str,
        applicant: Applicant,
        form: Mapping[str, str],
        materials: list[str],
    ) -> PartnerCase:
        now = self.clock()
        case_id = str(uuid.uuid4())
        department = self.router.department(item_code)
        promise = self.promise(item_code, now)
        day = local_date(now).strftime("%Y%m%d")
        prefix = f"{COMMITTEE}-{day}-"
        # the day's newest number, read in this write transaction: SQLite's BEGIN IMMEDIATE serialises the
        # writers; on PostgreSQL a transaction lock does (the unique receipt key stays the last word)
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        last = conn.execute(
            select(func.max(_cases.c.receipt_no)).where(
                _cases.c.committee == COMMITTEE, _cases.c.receipt_no.like(prefix + "%")
            )
        ).scalar()
        receipt = f"{prefix}{(int(last.rsplit('-', 1)[1]) if last else 0) + 1:06d}"
        submission = CaseSubmission(
            case_id=uuid.UUID(case_id),
            receipt_no=receipt,
            query_code="".join(secrets.choice(_QUERY_ALPHABET) for _ in range(6)),
            item_code=item_code,
            committee=COMMITTEE,
            created_at=now,
            applicant=applicant,
            agent=f"{TERMINAL_PREFIX}{partner}",
            form=dict(form),
            materials=materials,
        )
        terminal = f"{TERMINAL_PREFIX}{partner}"
        conn.execute(
            insert(_cases).values(
                case_id=case_id,
                terminal_id=terminal,
                committee=COMMITTEE,
                receipt_no=receipt,
                query_code=submission.query_code,
                item_code=item_code,
                department=department,
                status=CaseStatus.SUBMITTED.value,
                version=1,
                id_number=applicant.id_number,
                applicant_name=applicant.name,
                created_at=now,
                sent_at=now,
                received_at=now,
                due_date=promise.due if promise else None,
                promised_days=promise.days if promise else None,
                statutory_days=promise.statutory_days if promise else None,
                statutory_due=promise.statutory_due if promise else None,
                updated_at=now,
                payload=submission.model_dump_json(),
            )
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
            insert(_requests).values(case_id=case_id, service_request_id=receipt, partner_id=partner_id, created_at=now)
        )
        data = {"receipt_no": receipt, "item_code": item_code, "department": department}
        append(conn, [AuditRecord(now, f"partner:{partner}", "open311.request", case_id, data)])
        return PartnerCase(case_id, receipt, department, now)
