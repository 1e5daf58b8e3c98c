"""The ``cases`` row a case arrives as, whoever sent it: a terminal's batch (:mod:`hub.ingest.handler`) or a
partner system (:mod:`hub.cases.partnered`). One place, so a column added to cases is filled on both paths."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.calendar.duedates import Promise
from protocol.cases import CaseStatus, CaseSubmission

__all__ = ["case_row"]


def case_row(
    case: CaseSubmission,
    terminal: str,
    department: str,
    promise: Promise | None,
    payload: str,
    sent_at: datetime,
    received_at: datetime,
    clock_skew_s: float | None = None,
    clock_fix_s: float | None = None,
) -> dict[str, Any]:
    """The new row, submitted (version 1), its promised and statutory dates as the catalogue stated them at
    arrival; ``payload`` is the case as stored (its JSON)."""
    return {
        "case_id": str(case.case_id),
        "terminal_id": terminal,
        "committee": case.committee,
        "receipt_no": case.receipt_no,
        "printed_receipt_no": None,  # the hub's own number given instead: Handler._admit
        "query_code": case.query_code,
        "item_code": case.item_code,
        "department": department,
        "status": CaseStatus.SUBMITTED.value,
        "version": 1,
        "id_number": case.applicant.id_number,
        "applicant_name": case.applicant.name,
        "created_at": case.created_at,
        "sent_at": sent_at,
        "received_at": received_at,
        "clock_skew_s": clock_skew_s,
        "clock_fix_s": clock_fix_s,
        "due_date": promise.due if promise else None,
        "promised_days": promise.days if promise else None,
        "statutory_days": promise.statutory_days if promise else None,
        "statutory_due": promise.statutory_due if promise else None,
        "updated_at": received_at,
        "payload": payload,
    }
