"""A resident's own case, found by what only they hold: the receipt number, the ID number and the query
code printed on the receipt — all three, checked together.

Every wrong look-up fails the same way (:class:`LookupFailed`: one message, one status), whichever part
was wrong or whether the receipt exists at all; the three are compared in constant time. Wrong look-ups
are limited per client and per receipt (:mod:`hub.portal.throttle`); past the limit the look-up is
refused (:class:`LookupRefused`), also with the right three. Nothing of what was typed is logged. All three
are read as people type them — full-width, lower case, spaces, dashes, pasted with white space around
(:mod:`protocol.typed`) — before anything is checked or looked up. An ID number that cannot be one (its
format, birth date or check character: :func:`protocol.idnumber.validate`) is told apart
(:class:`NotAnIdNumber`) before any look-up: that says nothing about any case, so the resident learns what
to correct and it is not counted (as at the kiosk); the log says why (never the number).

What the resident then reads (:class:`CaseRecordView`) is the case in plain words: the item, the
materials received, each step with its date and the official term of its status (the one glossary,
:mod:`protocol.statuses`), the promised and the actual completion; the name and ID number masked.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, or_, select

from hub.audit.chain import AuditRecord, append
from hub.cases.partnered import COMMITTEE as PARTNER_COMMITTEE
from hub.db.models import CaseEventRow, CaseRow, CaseWorkRow, CommitteeRow, table
from hub.errors import HubError
from hub.portal.throttle import LookupThrottle
from hub.portal.token import TokenSeal
from kernel.db import read_only
from protocol.cases import CaseStatus
from protocol.catalogue import Catalogue, ServiceItem
from protocol.envelope import utcnow
from protocol.idnumber import InvalidIdNumber, mask, validate
from protocol.statuses import term
from protocol.typed import typed_id_number, typed_query_code, typed_receipt
from protocol.workdays import WorkCalendar

__all__ = ["CaseRecordView", "LookupFailed", "LookupRefused", "NotAnIdNumber", "ProgressLookup", "Step", "mask_name"]

log = logging.getLogger(__name__)
_cases, _events, _work, _committees = table(CaseRow), table(CaseEventRow), table(CaseWorkRow), table(CommitteeRow)
_THROTTLE = "portal-throttle"
PORTAL = "portal"
"""How the audit chain names the portal's reads: the resident who proved the case theirs (receipt number,
ID number and query code), reading or downloading it (a personal-data review: nothing recorded them)."""
_DECIDED = {CaseStatus.COMPLETED, CaseStatus.REJECTED, CaseStatus.REFUSED, CaseStatus.WITHDRAWN}


class LookupFailed(HubError):
    """Not found with these three: the same for a wrong receipt number, ID number or query code."""

    status_code = 404


class NotAnIdNumber(HubError):
    """The ID number typed cannot be anyone's (format, birth date or check character): a typing mistake,
    said as such, before any look-up. It reveals nothing of any case, so it is not counted."""

    status_code = 400


class LookupRefused(HubError):
    """Too many wrong look-ups from this client or of this receipt: refused for ``retry_s`` more seconds."""

    status_code = 429

    def __init__(self, message: str, retry_s: float = 0.0) -> None:
        super().__init__(message)
        self.retry_s = retry_s


def mask_name(name: str) -> str:
    """``张*``, ``欧阳**``: the first character stays (as on the receipt)."""
    return name[:1] + "*" * (len(name) - 1) if name else ""


@dataclass(frozen=True, slots=True)
class Step:
    """One step of the case: when, the status it reached (official terms), and the note the resident may read."""

    at: datetime
    status: str
    term_zh: str
    term_en: str
    note: str


@dataclass(frozen=True, slots=True)
class CaseRecordView:
    """What the resident may see of their own case (names and ID number masked)."""

    case_id: str
    receipt_no: str
    item_code: str
    item_name: str
    item_name_en: str
    department: str
    department_en: str
    committee: str
    masked_name: str
    masked_id: str
    accepted_at: datetime
    status: str
    status_zh: str
    status_en: str
    version: int
    promised_days: int | None
    due_date: date | None
    decided_at: datetime | None
    materials: list[tuple[str, str]]
    """Materials received at the terminal: (Chinese name, English name)."""
    steps: list[Step]
    due_tentative: bool = False
    """An open case's due date in a year with no holiday arrangement entered yet: a holiday may move it."""
    done_on_spot: bool = False
    """The item is done on the spot (当场办结); other same-day items are done within the working day."""
    partner: str = ""
    """The Open311 partner the case came through (a hotline, an app), else empty: its materials are what the
    applicant said they have, not what a committee received."""
    centre_receipt_no: str = ""
    """The number the centre gave the case where another case held the one on its receipt (h0031; then
    ``receipt_no`` is the receipt's, the one the resident holds), else empty."""

    @property
    def decided(self) -> bool:
        return CaseStatus(self.status) in _DECIDED


class ProgressLookup:
    """The look-up, and the record of a case found (for the PDF and the verifying page)."""

    def __init__(
        self,
        engine: Engine,
        catalogue: Callable[[], Catalogue],
        item: Callable[[str], ServiceItem | None],
        throttle: LookupThrottle,
        tokens: TokenSeal,
        calendar: Callable[[], WorkCalendar] | None = None,
    ) -> None:
        self.engine = engine
        self.catalogue = catalogue
        self.item = item  # a withdrawn item too: its name, its materials (CatalogueInForce.item)
        self.throttle = throttle
        self.tokens = tokens  # keys the throttle's counts: no plain hash of an ID number is stored
        self.calendar = calendar  # the calendar in force: whether a due date may still move

    def find(self, client: str, receipt_no: str, id_number: str, query_code: str) -> CaseRecordView:
        """The case with all three, or :class:`LookupFailed` / :class:`NotAnIdNumber` / :class:`LookupRefused`."""
        typed = tuple(r[:40] for r in typed_receipt(receipt_no))
        wanted_code = typed_query_code(query_code)[:16].encode("utf-8", "replace")
        try:
            wanted_id = validate(typed_id_number(id_number)[:40]).encode()
        except InvalidIdNumber as exc:
            log.info("progress look-up not made: the ID number typed is not a possible one (%s)", exc)  # why, not what
            raise NotAnIdNumber("the ID number typed is not a possible one") from None
        # What the limit per receipt counts: one number however it was typed, with the ID number named. A
        # stranger guessing with other ID numbers cannot lock the resident out of their own case; someone
        # who knows the resident's ID number gets as few tries at the query code as before. The receipt
        # alone counts the look-ups of someone holding it (number and code right): see hub.portal.throttle.
        receipt = self.tokens.digest(_THROTTLE, f"{typed[0]}#{wanted_id.decode()}")[:32]
        held = self.tokens.digest(_THROTTLE, typed[0])[:32]
        now = utcnow()
        # Refused already: answered from a plain read, without the lock below (the write lock on SQLite, which
        # ingest needs too), so a guesser past the limit makes no write however fast it asks.
        with read_only(self.engine).connect() as conn:
            wait = self.throttle.retry_in(conn, client, receipt, held, now)
        if not wait:
            with self.engine.begin() as conn:  # the count must commit, so the errors are raised after it
                self.throttle.lock(conn)
                wait = self.throttle.retry_in(conn, client, receipt, held, now)
                found, code_right = (None, False) if wait else self._match(conn, typed, wanted_id, wanted_code)
                if found is not None:  # a resident's own case read, recorded as staff's reads are
                    append(conn, [AuditRecord(now, PORTAL, "portal.viewed", found, {})])
                    return self._view(conn, found)
                if not wait:
                    self.throttle.count(conn, client, receipt, held if code_right else None, now)
        if wait:
            log.info("progress look-up refused for %.0f s more: too many wrong look-ups (client or receipt)", wait)
            raise LookupRefused("too many wrong look-ups from this client or of this receipt", retry_s=wait)
        log.info("progress look-up failed")
        raise LookupFailed("no case with this receipt number, ID number and query code")

    @staticmethod
    def _match(
        conn: Connection, receipts: tuple[str, ...], wanted_id: bytes, wanted_code: bytes
    ) -> tuple[str | None, bool]:
        """The case with all three, and whether a receipt's number and query code were right (the ID
        number being what was wrong, if no case was found)."""
        rows: list[tuple[Any, Any, Any]] = [
            tuple(r)
            for r in conn.execute(
                select(_cases.c.case_id, _cases.c.id_number, _cases.c.query_code).where(
                    # the number on the receipt, where the hub took the case under one of its own (h0031) too
                    or_(_cases.c.receipt_no.in_(receipts), _cases.c.printed_receipt_no.in_(receipts))
                )
            )
        ]
        found, code_right = None, False
        for case_id, id_no, code in rows or [("", "", "")]:
            # Both compared, always, in constant time: the time taken does not tell which part was wrong.
            id_ok = hmac.compare_digest(str(id_no).encode(), wanted_id)
            code_ok = hmac.compare_digest(str(code).encode(), wanted_code)
            if id_ok and code_ok and id_no:
                found = str(case_id)
            code_right = code_right or bool(code_ok and code)
        return found, code_right

    def record(self, case_id: str, downloaded: bool = False) -> CaseRecordView | None:
        """The case ``case_id`` (for a record the resident already proved they own), or None; ``downloaded``:
        its record is being downloaded, which the audit chain records (``portal.downloaded``)."""
        with read_only(self.engine).connect() as conn:
            if conn.execute(select(_cases.c.case_id).where(_cases.c.case_id == case_id)).first() is None:
                return None
            view = self._view(conn, case_id)
        if downloaded:
            with self.engine.begin() as conn:
                append(conn, [AuditRecord(utcnow(), PORTAL, "portal.downloaded", case_id, {})])
        return view

    def _view(self, conn: Connection, case_id: str) -> CaseRecordView:
        row = conn.execute(select(_cases).where(_cases.c.case_id == case_id)).mappings().one()
        work = conn.execute(select(_work.c.decided_at).where(_work.c.case_id == case_id)).first()
        committee = conn.execute(select(_committees.c.name).where(_committees.c.code == row["committee"])).scalar()
        events = conn.execute(
            select(_events.c.at, _events.c.status, _events.c.note)
            .where(_events.c.case_id == case_id)
            .order_by(_events.c.version)
        ).all()
        catalogue = self.catalogue()
        item = self.item(row["item_code"])
        dept = next((d for d in catalogue.departments if d.code == row["department"]), None)
        payload: dict[str, Any] = json.loads(row["payload"] or "{}") if row["payload"] else {}
        english = {m.name: m.name_en for m in item.materials} if item else {}
        materials = [(str(m), english.get(str(m), str(m))) for m in payload.get("materials") or []]
        steps = [Step(at, status, term(status), term(status, "en"), note or "") for at, status, note in events]
        status = str(row["status"])
        due: date | None = row["due_date"]
        tentative = (
            due is not None
            and CaseStatus(status) not in _DECIDED
            and self.calendar is not None
            and not self.calendar().covers(due)
        )
        return CaseRecordView(
            case_id=case_id,
            receipt_no=str(row["printed_receipt_no"] or row["receipt_no"]),
            centre_receipt_no=str(row["receipt_no"]) if row["printed_receipt_no"] else "",
            item_code=str(row["item_code"]),
            item_name=item.name if item else str(row["item_code"]),
            item_name_en=item.name_en if item else str(row["item_code"]),
            department=dept.name if dept else "",
            department_en=dept.name_en if dept else "",
            committee=str(committee or row["committee"]),
            masked_name=mask_name(str(row["applicant_name"])),
            masked_id=mask(str(row["id_number"])),
            accepted_at=row["created_at"],
            status=status,
            status_zh=term(status),
            status_en=term(status, "en"),
            version=int(row["version"]),
            promised_days=row["promised_days"],
            due_date=row["due_date"],
            decided_at=work[0] if work else None,
            materials=materials,
            steps=steps,
            due_tentative=tentative,
            done_on_spot=bool(item and item.done_on_spot),
            partner=str(row["terminal_id"]).partition(":")[2] if row["committee"] == PARTNER_COMMITTEE else "",
        )
