"""Reading cases for the back office: a department's queue, one case with its timeline, the overdue board.

Clerks see only their departments' cases; the scoping is :func:`hub.people.roles.authorize`'s, applied
here to every query. ID numbers leave this module masked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, case, false, func, or_, select

from hub.audit.chain import AuditRecord, append
from hub.calendar.duedates import promise_start
from hub.calendar.service import CalendarService
from hub.cases.clock import STATUTORY_WARN_DAYS, Light, light, warn_limit
from hub.cases.listing import CaseList, CaseRecord, case_list, case_record
from hub.cases.messages import (
    ACTION_LABELS,
    ERRORS,
    LIGHT_LABELS,
    PARTNER_FORM_LABELS,
    STATUS_LABELS,
    STATUTORY_LIGHT_LABELS,
)
from hub.cases.routing import UNROUTED, may_route, unrouted_name
from hub.cases.states import OPEN, RUNNING, TRANSITIONS, allowed_actions
from hub.db.models import CaseEventRow, CaseRow, CaseWorkRow, table
from hub.errors import NotFound
from hub.people.roles import Permission, Principal, authorize, can
from kernel.db import read_only
from protocol.cases import CaseStatus
from protocol.catalogue import Catalogue, FieldType, ServiceItem
from protocol.envelope import utcnow
from protocol.idnumber import mask, mask_ids
from protocol.localtime import local_date
from protocol.typed import fold, reads_as_receipt, typed_id_number, typed_receipt
from protocol.workdays import WorkCalendar

__all__ = ["CaseDetail", "CaseQueries", "OverdueBoard", "QueueItem", "QueuePage", "TimelineEntry"]

_cases, _events, _work = table(CaseRow), table(CaseEventRow), table(CaseWorkRow)
_LIST_COLUMNS = (
    _cases.c.case_id,
    _cases.c.receipt_no,
    _cases.c.item_code,
    _cases.c.department,
    _cases.c.status,
    _cases.c.version,
    _cases.c.applicant_name,
    _cases.c.id_number,
    _cases.c.committee,
    _cases.c.received_at,
    _cases.c.created_at,
    _cases.c.clock_skew_s,
    _cases.c.clock_fix_s,
    _cases.c.due_date,
    _cases.c.statutory_due,
    _work.c.assignee,
)


@dataclass(frozen=True, slots=True)
class QueueItem:
    case_id: str
    receipt_no: str
    item_code: str
    item_name: str
    department: str
    department_name: str
    status: str
    status_label: str
    version: int
    applicant_name: str
    id_number: str  # masked
    committee: str
    received_at: datetime  # when it reached the hub
    submitted_at: datetime  # when the committee accepted it (promise_start): what the resident's receipt says
    due_date: date | None
    light: str
    light_label: str
    assignee: str
    statutory_due: date | None = None
    statutory_light: str = "none"
    statutory_light_label: str = ""


@dataclass(frozen=True, slots=True)
class QueuePage:
    total: int
    limit: int
    offset: int
    departments: list[str]
    items: list[QueueItem]


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    event_id: int
    version: int
    status: str
    status_label: str
    at: datetime
    actor: str
    note: str
    department: str


@dataclass(frozen=True, slots=True)
class ActionOption:
    action: str
    label: str
    needs_reason: bool
    needs_materials: bool


@dataclass(frozen=True, slots=True)
class CaseDetail:
    case: QueueItem
    created_at: datetime
    paused_days: int
    notices: int
    decided_at: datetime | None
    in_time: bool | None
    form: list[tuple[str, str]]
    materials_received: list[str]
    item_materials: list[str]
    agent: str | None
    timeline: list[TimelineEntry]
    actions: list[ActionOption] = field(default_factory=list)
    can_route: bool = False
    printed_receipt_no: str | None = None  # on the resident's receipt, where the hub gave the case its own (h0031)


@dataclass(frozen=True, slots=True)
class DepartmentLoad:
    department: str
    department_name: str
    open: int
    red: int
    yellow: int
    paused: int
    statutory_red: int = 0
    statutory_yellow: int = 0


@dataclass(frozen=True, slots=True)
class OverdueBoard:
    today: date
    warn_until: date
    departments: list[DepartmentLoad]
    red: list[QueueItem]
    yellow: list[QueueItem]
    statutory_until: date | None = None
    statutory_red: list[QueueItem] = field(default_factory=list)
    statutory_yellow: list[QueueItem] = field(default_factory=list)


class CaseQueries:
    def __init__(
        self,
        engine: Engine,
        catalogue: Callable[[], Catalogue],
        calendar: CalendarService,
        item: Callable[[str], ServiceItem | None],
    ) -> None:
        """``catalogue``: the catalogue in force (names of items and departments, an item's form and
        materials), asked at each query; ``calendar``: the calendar in force (the cards); ``item``: an item
        the catalogue in force may have withdrawn, as the last version listing it
        (:meth:`hub.catalogue.in_force.CatalogueInForce.item`): a case of it keeps its name, its form's
        labels and its phone fields masked (a catalogue manager's review: bare codes, raw keys, numbers
        shown to the auditor)."""
        self.engine = engine
        self.catalogue = catalogue
        self.calendar = calendar
        self.item = item

    def tentative(self, due: date | None) -> bool:
        """Whether ``due`` may still move: it lies in a year whose holiday arrangement is not complete (the
        kiosk's receipt and the portal say so too; the back office did not, a year-end review found)."""
        return due is not None and not self.calendar.published().covers(due)

    @property
    def department_names(self) -> dict[str, str]:
        """Code → name of every department of the catalogue in force, and the centre's general window."""
        return _department_names(self.catalogue())

    # ------------------------------------------------------------------ scoping
    def receipts_of(self, case_ids: Sequence[str]) -> dict[str, str]:
        """Receipt numbers by case id, of those of ``case_ids`` that are cases (an audit page's subjects)."""
        if not case_ids:
            return {}
        q = select(_cases.c.case_id, _cases.c.receipt_no).where(_cases.c.case_id.in_(list(set(case_ids))))
        with read_only(self.engine).connect() as conn:
            return {c: r for c, r in conn.execute(q).all()}

    def case_ids_of(self, typed_receipt_no: str) -> list[str]:
        """The ids of the cases a receipt number as typed names (:func:`typed_receipt`): none, one, or two
        where the hub gave a case a number of its own (h0031) — the case holding the number and the one
        printed with it — so an auditor following a resident's receipt sees both histories."""
        receipts = typed_receipt(typed_receipt_no)
        q = select(_cases.c.case_id).where(
            or_(_cases.c.receipt_no.in_(receipts), _cases.c.printed_receipt_no.in_(receipts))
        )
        with read_only(self.engine).connect() as conn:
            return list(conn.execute(q).scalars())

    def departments_for(self, who: Principal, department: str | None = None) -> list[str]:
        """The departments ``who`` looks at: one asked for (if allowed), else all they may see."""
        if department:
            authorize(who, Permission.CASE_READ, department)
            return [department]
        authorize(who, Permission.CASE_READ)
        return who.visible_departments(self.department_names)

    # ------------------------------------------------------------------ queue
    def queue(
        self,
        who: Principal,
        department: str | None = None,
        statuses: Sequence[str] | None = None,
        mine: bool = False,
        limit: int = 50,
        offset: int = 0,
        today: date | None = None,
        receipt: str = "",
    ) -> QueuePage:
        """The cases of ``who``'s departments (or ``department``) in ``statuses`` (default: the open ones);
        ``receipt``: what a clerk typed in the search box (:func:`_found`), whatever the status (a resident
        calling or at the window, a return call to make)."""
        depts = self.departments_for(who, department)
        wanted = [s for s in (statuses or OPEN) if s in set(CaseStatus)]
        where: list[ColumnElement[bool]] = [_cases.c.department.in_(depts), _cases.c.status.in_(wanted)]
        if receipt:
            where[1] = _found(receipt)
        if not department and not who.scoped:
            where[0] = _cases.c.department.is_not(None)  # everything, the unrouted included
        if mine:
            where.append(_work.c.assignee == who.username)
        joined = _cases.outerjoin(_work, _work.c.case_id == _cases.c.case_id)
        q = (
            select(*_LIST_COLUMNS)
            .select_from(joined)
            .where(*where)
            .order_by(_cases.c.due_date.asc().nulls_last(), _cases.c.received_at)
            .limit(max(1, min(limit, 500)))
            .offset(max(0, offset))
        )
        count = select(func.count()).select_from(joined).where(*where)
        with read_only(self.engine).connect() as conn:
            rows = conn.execute(q).mappings().all()
            total = conn.execute(count).scalar_one()
        if receipt:  # a search, whatever was typed (an ID number, a name): which cases it showed, not the words
            self._seen(who, "cases.searched", [str(r["case_id"]) for r in rows])
        today = today or local_date(utcnow())
        cal, catalogue = self.calendar.calendar(), self.catalogue()
        return QueuePage(int(total), limit, offset, depts, [self._item(r, today, cal, catalogue) for r in rows])

    def _seen(self, who: Principal, action: str, case_ids: list[str]) -> None:
        """Who read which residents' cases, in the audit chain (a personal-data review: reads were recorded
        nowhere). A case's page or record (``case.viewed``), a search's results (``cases.searched``) and the
        API's list (``cases.listed``); not the queue of one's own departments as it opens, the work itself.
        An empty result is recorded too: a search that found nothing still says someone looked."""
        with self.engine.begin() as conn:
            subject = case_ids[0] if action == "case.viewed" else f"{len(case_ids)} cases"
            data = {} if action == "case.viewed" else {"cases": case_ids}
            append(conn, [AuditRecord(utcnow(), who.actor, action, subject, data)])

    # ------------------------------------------------------------------ as stored
    def cases(
        self,
        who: Principal,
        limit: int = 100,
        offset: int = 0,
        terminal: str | None = None,
        department: str | None = None,
        status: str | None = None,
    ) -> CaseList:
        """Cases newest first as stored (ID numbers masked); a clerk's only of their departments."""
        depts = self.departments_for(who, department) if department or who.scoped else None
        with read_only(self.engine).connect() as conn:
            found = case_list(conn, limit, offset, terminal, status, depts)
        self._seen(who, "cases.listed", [c.case_id for c in found.cases])
        return found

    def record(self, who: Principal, case_id: str) -> CaseRecord:
        """One case as stored (ID number masked), if ``who`` may read it."""
        with read_only(self.engine).connect() as conn:
            found = case_record(conn, case_id)
        if found is None:
            raise NotFound(ERRORS["no_case"].format(case_id=case_id))
        authorize(who, Permission.CASE_READ, found.department)
        return found

    # ------------------------------------------------------------------ one case
    def detail(self, who: Principal, case_id: str, today: date | None = None) -> CaseDetail:
        joined = _cases.outerjoin(_work, _work.c.case_id == _cases.c.case_id)
        cols = (
            *_LIST_COLUMNS,
            _cases.c.payload,
            _cases.c.printed_receipt_no,
            *[c for c in _work.c if c.name != "case_id"],
        )
        with read_only(self.engine).connect() as conn:
            row = conn.execute(select(*cols).select_from(joined).where(_cases.c.case_id == case_id)).mappings().first()
            if row is None:
                raise NotFound(ERRORS["no_case"].format(case_id=case_id))
            authorize(who, Permission.CASE_READ, row["department"])
            events = conn.execute(
                select(_events).where(_events.c.case_id == case_id).order_by(_events.c.version)
            ).mappings()
            timeline = [
                TimelineEntry(
                    e["id"],
                    e["version"],
                    e["status"],
                    STATUS_LABELS.get(e["status"], e["status"]),
                    e["at"],
                    e["actor"],
                    e["note"],
                    e["department"],
                )
                for e in events
            ]
        item = self._item(row, today or local_date(utcnow()))
        payload: dict[str, Any] = json.loads(row["payload"])
        catalogue_item = self.item(row["item_code"])
        labels = {f.key: f.label for f in catalogue_item.form} if catalogue_item else {}
        labels = {**PARTNER_FORM_LABELS, **labels}
        fields = catalogue_item.form if catalogue_item else []
        ids = {f.key for f in fields if f.type is FieldType.ID_NUMBER}
        acts = can(who, Permission.CASE_ACT, row["department"])
        # Whoever may not act on the case (the 电子监察 auditor) oversees it without calling the resident: phone
        # numbers masked (a personal-data review: minimum necessary).
        phones = set() if acts else {f.key for f in fields if f.type is FieldType.PHONE} | {"open311_phone"}
        # For them, any phone number typed elsewhere (a field of an older form, a note) is masked by its look too.
        form = [
            (labels.get(k, k), _masked_phone(str(v)) if k in phones else _masked_text(v, k in ids))
            for k, v in (payload.get("form") or {}).items()
        ]
        if not acts:
            form = [(label, _mask_phones(value)) for label, value in form]
        actions: list[ActionOption] = []
        if acts:
            for a in allowed_actions(CaseStatus(row["status"]), int(row["notices"] or 0)):
                t = TRANSITIONS[a]
                actions.append(ActionOption(a.value, ACTION_LABELS[a], t.needs_reason, t.needs_materials))
        self._seen(who, "case.viewed", [case_id])
        return CaseDetail(
            case=item,
            created_at=row["created_at"],
            paused_days=int(row["paused_days"] or 0),
            notices=int(row["notices"] or 0),
            decided_at=row["decided_at"],
            in_time=row["in_time"],
            form=form,
            materials_received=list(payload.get("materials") or []),
            item_materials=[m.name for m in catalogue_item.materials] if catalogue_item else [],
            agent=payload.get("agent"),
            timeline=timeline,
            actions=actions,
            can_route=row["status"] in OPEN and may_route(who, row["department"], UNROUTED),
            printed_receipt_no=row["printed_receipt_no"],
        )

    # ------------------------------------------------------------------ overdue board
    def overdue(self, who: Principal, department: str | None = None, today: date | None = None) -> OverdueBoard:
        """Red cards (past due) and yellow cards (due within a working day) of running cases, per department;
        and the statutory time limit's own warnings: past it, and within :data:`STATUTORY_WARN_DAYS`."""
        authorize(who, Permission.OVERDUE_READ, department)
        depts = self.departments_for(who, department)
        cal = self.calendar.calendar()
        today = today or local_date(utcnow())
        limit = warn_limit(today, cal)
        law_limit = warn_limit(today, cal, STATUTORY_WARN_DAYS)
        dept_filter = _cases.c.department.in_(depts)
        running = _cases.c.status.in_([s.value for s in RUNNING])
        red = and_(running, _cases.c.due_date < today)
        yellow = and_(running, _cases.c.due_date >= today, _cases.c.due_date <= limit)
        paused = _cases.c.status == CaseStatus.MORE_MATERIALS.value
        law_red = and_(running, _cases.c.statutory_due < today)
        law_yellow = and_(running, _cases.c.statutory_due >= today, _cases.c.statutory_due <= law_limit)
        counts = (
            select(
                _cases.c.department,
                func.count(),
                func.sum(_case_when(red)),
                func.sum(_case_when(yellow)),
                func.sum(_case_when(paused)),
                func.sum(_case_when(law_red)),
                func.sum(_case_when(law_yellow)),
            )
            .where(dept_filter, _cases.c.status.in_([s.value for s in OPEN]))
            .group_by(_cases.c.department)
        )
        joined = _cases.outerjoin(_work, _work.c.case_id == _cases.c.case_id)
        listed = (
            select(*_LIST_COLUMNS)
            .select_from(joined)
            .where(dept_filter, running, or_(_cases.c.due_date <= limit, _cases.c.statutory_due <= law_limit))
            .order_by(_cases.c.due_date, _cases.c.received_at)
            .limit(1000)
        )
        with read_only(self.engine).connect() as conn:
            per = {r[0]: r for r in conn.execute(counts)}
            rows = conn.execute(listed).mappings().all()
        names = self.department_names
        loads = [
            DepartmentLoad(
                d,
                names.get(d, d),
                int(per[d][1]) if d in per else 0,
                int(per[d][2] or 0) if d in per else 0,
                int(per[d][3] or 0) if d in per else 0,
                int(per[d][4] or 0) if d in per else 0,
                int(per[d][5] or 0) if d in per else 0,
                int(per[d][6] or 0) if d in per else 0,
            )
            for d in depts
        ]
        catalogue = self.catalogue()
        items = [self._item(r, today, cal, catalogue) for r in rows]
        return OverdueBoard(
            today,
            limit,
            loads,
            [i for i in items if i.light == Light.RED],
            [i for i in items if i.light == Light.YELLOW],
            law_limit,
            [i for i in items if i.statutory_light == Light.RED],
            [i for i in items if i.statutory_light == Light.YELLOW],
        )

    # ------------------------------------------------------------------ helpers
    def item_name(self, code: str) -> str:
        item = self.item(code)
        return item.name if item else code

    def _item(
        self, r: Any, today: date, cal: WorkCalendar | None = None, catalogue: Catalogue | None = None
    ) -> QueueItem:
        cal = cal or self.calendar.calendar()
        catalogue = catalogue or self.catalogue()
        names = _department_names(catalogue)
        item = catalogue.get(r["item_code"]) or self.item(r["item_code"])
        lit = light(r["status"], r["due_date"], today, cal)
        law = light(r["status"], r["statutory_due"], today, cal, STATUTORY_WARN_DAYS)
        return QueueItem(
            case_id=r["case_id"],
            receipt_no=r["receipt_no"],
            item_code=r["item_code"],
            item_name=item.name if item else r["item_code"],
            department=r["department"],
            department_name=names.get(r["department"], r["department"]),
            status=r["status"],
            status_label=STATUS_LABELS.get(r["status"], r["status"]),
            version=int(r["version"]),
            applicant_name=r["applicant_name"],
            id_number=mask(r["id_number"]),
            committee=r["committee"],
            received_at=r["received_at"],
            submitted_at=promise_start(r["created_at"], r["received_at"], r["clock_skew_s"], r["clock_fix_s"]),
            due_date=r["due_date"],
            light=lit.value,
            light_label=LIGHT_LABELS[lit.value],
            assignee=r["assignee"] or "",
            statutory_due=r["statutory_due"],
            statutory_light=law.value,
            statutory_light_label=STATUTORY_LIGHT_LABELS[law.value],
        )


def _found(typed: str) -> ColumnElement[bool]:
    """The cases a clerk's search finds: an ID number; a whole receipt number (as typed:
    :func:`typed_receipt`); the last digits of a receipt number (``0007``: a resident reading the end of
    their slip); or the applicant's name, whole or its beginning. Within the clerk's departments, as every
    listing. An ID number is tried first: its digits also read as a receipt number of a committee coded in
    digits."""
    compact = typed_id_number(typed)
    if len(compact) == 18 and compact[:17].isdigit() and (compact[17].isdigit() or compact[17] == "X"):
        return _cases.c.id_number == compact
    if reads_as_receipt(typed):  # the number on the receipt too, where the hub gave the case its own (h0031)
        receipts = typed_receipt(typed)
        return or_(_cases.c.receipt_no.in_(receipts), _cases.c.printed_receipt_no.in_(receipts))
    if compact.isdigit() and 3 <= len(compact) <= 6:
        return or_(_cases.c.receipt_no.like(f"%{compact}"), _cases.c.printed_receipt_no.like(f"%{compact}"))
    name = fold(typed)
    return _cases.c.applicant_name.like(f"{_escaped(name)}%", escape="\\") if name else false()


def _escaped(typed: str) -> str:
    return typed.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _department_names(catalogue: Catalogue) -> dict[str, str]:
    names = {d.code: d.name for d in catalogue.departments}
    names.setdefault(UNROUTED, unrouted_name())
    return names


def _case_when(cond: Any) -> Any:
    return case((cond, 1), else_=0)


_PHONE_IN_TEXT = re.compile(
    r"(?<![\d*])(?:(?:\+|00)86[\s-]?)?"
    r"(?P<number>1[3-9]\d(?:[\s-]?\d{4}){2}|\(?0\d{2,3}\)?[\s-]?\d{3,4}[\s-]?\d{4})(?![\d*])"
)
"""A mainland mobile or landline number within text as people type it (spaces, dashes, brackets, +86)."""


def _mask_phones(text: str) -> str:
    """``text`` with every phone number in it shown as :func:`_masked_phone` shows one."""
    return _PHONE_IN_TEXT.sub(lambda m: _masked_phone(m.group("number")), text)


def _masked_phone(value: str) -> str:
    """``139****6813``: the first three digits and the last four (as a phone number is shown on a receipt)."""
    digits = "".join(c for c in value if c.isdigit())
    return digits[:3] + "*" * max(0, len(digits) - 7) + digits[-4:] if len(digits) > 7 else "*" * len(digits)


def _masked_text(value: str, id_number: bool) -> str:
    """A form value shown to staff: an ID-number field's masked whatever was typed into it, and any ID number
    within another value masked too, like every other."""
    return mask(typed_id_number(str(value))) if id_number else mask_ids(str(value))
