"""Cases as stored, for the API's case list and a case's record: every column but the sealed payload,
ID numbers masked."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, RowMapping, func, select

from hub.db.models import CaseRow, table
from protocol.idnumber import mask

__all__ = ["CaseList", "CaseRecord", "case_list", "case_record"]

_cases = table(CaseRow)


@dataclass(frozen=True, slots=True)
class CaseRecord:
    """One row of ``cases`` without its payload; ``id_number`` masked; no query code (the resident's second
    secret for the portal: staff have no use for it, and with the masked ID it narrows a guess)."""

    case_id: str
    terminal_id: str
    committee: str
    receipt_no: str
    item_code: str
    department: str
    status: str
    version: int
    id_number: str
    applicant_name: str
    created_at: datetime
    sent_at: datetime
    received_at: datetime
    clock_skew_s: float | None
    due_date: date | None
    promised_days: int | None
    updated_at: datetime

    @classmethod
    def of(cls, row: RowMapping) -> CaseRecord:
        return cls(
            case_id=row["case_id"],
            terminal_id=row["terminal_id"],
            committee=row["committee"],
            receipt_no=row["receipt_no"],
            item_code=row["item_code"],
            department=row["department"],
            status=row["status"],
            version=row["version"],
            id_number=mask(row["id_number"]),
            applicant_name=row["applicant_name"],
            created_at=row["created_at"],
            sent_at=row["sent_at"],
            received_at=row["received_at"],
            clock_skew_s=row["clock_skew_s"],
            due_date=row["due_date"],
            promised_days=row["promised_days"],
            updated_at=row["updated_at"],
        )


@dataclass(frozen=True, slots=True)
class CaseList:
    total: int
    cases: list[CaseRecord]


def case_list(
    conn: Connection,
    limit: int,
    offset: int = 0,
    terminal: str | None = None,
    status: str | None = None,
    departments: Collection[str] | None = None,
) -> CaseList:
    """Cases newest first, of ``terminal``, in ``status``, of ``departments`` (each when given)."""
    where = []
    if terminal:
        where.append(_cases.c.terminal_id == terminal)
    if status:
        where.append(_cases.c.status == status)
    if departments is not None:
        where.append(_cases.c.department.in_(departments))
    q = select(_cases).where(*where).order_by(_cases.c.received_at.desc()).limit(limit).offset(offset)
    rows = conn.execute(q).mappings().all()
    total = conn.execute(select(func.count()).select_from(_cases).where(*where)).scalar_one()
    return CaseList(int(total), [CaseRecord.of(r) for r in rows])


def case_record(conn: Connection, case_id: str) -> CaseRecord | None:
    row = conn.execute(select(_cases).where(_cases.c.case_id == case_id)).mappings().first()
    return None if row is None else CaseRecord.of(row)
