"""Request and response bodies of the API, with their limits (they are in the OpenAPI document).

Every route answers with a declared type, so the document has a response schema for each: these bodies,
or the domain's own records where they are the answer as is (:class:`~hub.cases.queries.QueuePage`,
:class:`~hub.cases.listing.CaseList`, :class:`~hub.calendar.service.CalendarDay` …)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Annotated, Literal

import msgspec
from litestar.openapi.datastructures import ResponseSpec

from hub.audit.trail import AuditLine, Verification
from hub.calendar.service import CalendarDay
from hub.cases.listing import CaseRecord
from hub.cases.queries import ActionOption, CaseDetail, TimelineEntry
from hub.cases.states import Action
from hub.ingest.listing import DeadLetterRecord, TerminalRecord

__all__ = [
    "ActionIn",
    "AuditOut",
    "BreakOut",
    "CalendarOut",
    "CaseDetailOut",
    "DayIn",
    "DeadLettersOut",
    "DepartmentOut",
    "ErrorBody",
    "EventOut",
    "FiguresOut",
    "HealthOut",
    "LoginIn",
    "MeOut",
    "ReportOut",
    "RouteIn",
    "TerminalsOut",
    "TokenOut",
    "VerifyOut",
    "WorstItemOut",
    "errors",
]

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Text = Annotated[str, msgspec.Meta(max_length=2000)]


@dataclass
class ErrorBody:
    error: str


_DESCRIPTIONS = {
    400: "Malformed request",
    401: "Not signed in (send Authorization: Bearer <token>)",
    403: "Signed in, but the role or department does not allow it",
    404: "No such thing",
    409: "The case moved on (version) or the action is not possible from its state",
    422: "Well-formed but not acceptable (a missing reason, a weekday as adjusted working day …)",
    429: "Too many failed sign-ins from this client: wait the seconds of the Retry-After header",
}


def errors(*codes: int) -> dict[int, ResponseSpec]:
    """OpenAPI responses for the error codes a route may answer with, all shaped as :class:`ErrorBody`."""
    return {
        code: ResponseSpec(data_container=ErrorBody, description=_DESCRIPTIONS[code], generate_examples=False)
        for code in codes
    }


class LoginIn(msgspec.Struct):
    username: Annotated[str, msgspec.Meta(max_length=64)]
    password: Annotated[str, msgspec.Meta(max_length=256)]


@dataclass
class MeOut:
    user_id: int
    username: str
    display_name: str
    role: str
    departments: list[str]
    permissions: list[str]


@dataclass
class TokenOut:
    token: str
    expires_in: int
    user: MeOut


class ActionIn(msgspec.Struct):
    action: Action
    expected_version: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
    reason: Text = ""
    materials: Annotated[list[Annotated[str, msgspec.Meta(max_length=128)]], msgspec.Meta(max_length=30)] = []


class RouteIn(msgspec.Struct):
    department: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    expected_version: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
    note: Text = ""


@dataclass
class EventOut:
    event_id: int
    case_id: str
    version: int
    status: str
    at: datetime
    note: str
    department: str
    due_date: date | None
    published: bool


class DayIn(msgspec.Struct):
    kind: Literal["off", "work"]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]


@dataclass
class HealthOut:
    ok: bool
    broker: bool
    """The ingest worker's link to the broker is up."""


@dataclass
class DepartmentOut:
    code: str
    name: str


class CaseDetailOut(msgspec.Struct, kw_only=True):
    """A case as stored (ID number masked) with its names, deadline light, timeline and the actions the
    asking user may take."""

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
    item_name: str
    department_name: str
    light: str
    assignee: str
    paused_days: int
    notices: int
    form: list[list[str]]
    materials_received: list[str]
    item_materials: list[str]
    timeline: list[TimelineEntry]
    actions: list[ActionOption]
    can_route: bool

    @classmethod
    def of(cls, record: CaseRecord, detail: CaseDetail) -> CaseDetailOut:
        return cls(
            **asdict(record),
            item_name=detail.case.item_name,
            department_name=detail.case.department_name,
            light=detail.case.light,
            assignee=detail.case.assignee,
            paused_days=detail.paused_days,
            notices=detail.notices,
            form=[list(pair) for pair in detail.form],
            materials_received=detail.materials_received,
            item_materials=detail.item_materials,
            timeline=detail.timeline,
            actions=detail.actions,
            can_route=detail.can_route,
        )


@dataclass
class AuditOut:
    entries: list[AuditLine]


class BreakOut(msgspec.Struct):
    entry_id: int
    problem: str


class VerifyOut(msgspec.Struct):
    """The whole chain walked: intact, or where it first breaks (``break``)."""

    intact: bool
    checked: int
    broken: BreakOut | None = msgspec.field(name="break")
    anchor: str

    @classmethod
    def of(cls, v: Verification) -> VerifyOut:
        broken = None if v.broken is None else BreakOut(v.broken.entry_id, v.broken.problem)
        return cls(intact=v.intact, checked=v.checked, broken=broken, anchor=v.anchor)


@dataclass
class CalendarOut:
    years: list[int]
    days: list[CalendarDay]


@dataclass
class DeadLettersOut:
    dead_letters: list[DeadLetterRecord]


@dataclass
class TerminalsOut:
    terminals: list[TerminalRecord]


class FiguresOut(msgspec.Struct):
    """One line of the report: a department, an item, or the whole centre (``ratings``: level → count)."""

    code: str
    name: str
    department: str
    received: int
    decided: int
    completed: int
    refused: int
    rejected: int
    withdrawn: int
    over_statutory: int
    return_calls: int
    return_calls_done: int
    return_calls_late: int
    median_days: float | None
    p95_days: float | None
    in_time_share: float | None
    overdue: int
    ratings: dict[str, int]
    rated: int
    bad: int
    bad_share: float | None
    mean_level: float | None


class WorstItemOut(msgspec.Struct):
    code: str
    name: str
    department: str
    rated: int
    bad: int
    bad_share: float
    mean_level: float
    reasons: list[str]


class ReportOut(msgspec.Struct):
    """The performance report of ``start`` to ``end`` (local days, both included)."""

    start: str
    end: str
    generated_at: str
    today: str
    total: FiguresOut
    departments: list[FiguresOut]
    items: list[FiguresOut]
    worst_items: list[WorstItemOut]
