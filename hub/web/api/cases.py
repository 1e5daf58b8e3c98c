"""``/api/cases``, ``/api/queue``, ``/api/overdue``: reading cases and moving them through the workflow."""

from __future__ import annotations

from typing import Annotated

from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody, PathParameter, QueryParameter

from hub.cases.listing import CaseList
from hub.cases.queries import CaseQueries, OverdueBoard, QueuePage
from hub.cases.workflow import Outcome, Workflow
from hub.catalogue.in_force import CatalogueInForce
from hub.people.roles import Permission, Principal
from hub.web.api.schemas import ActionIn, CaseDetailOut, DepartmentOut, EventOut, RouteIn, errors
from hub.web.auth import PERMISSION

__all__ = ["act", "departments", "get_case", "list_cases", "overdue", "queue", "route"]

Limit = Annotated[int, QueryParameter(ge=1, le=1000)]
Offset = Annotated[int, QueryParameter(ge=0, le=10_000_000)]
Dept = Annotated[str | None, QueryParameter(max_length=32)]
CaseId = Annotated[str, PathParameter(max_length=36)]


def _event(outcome: Outcome) -> EventOut:
    e = outcome.event
    return EventOut(
        event_id=e.event_id,
        case_id=str(e.case_id),
        version=e.version,
        status=e.status.value,
        at=e.at,
        note=e.note,
        department=e.department,
        due_date=e.due_date,
        published=outcome.published,
    )


@get(
    "/cases",
    sync_to_thread=True,
    opt={PERMISSION: Permission.CASE_READ},
    responses=errors(401, 403),
    tags=["cases"],
)
def list_cases(
    who: NamedDependency[Principal],
    cases: NamedDependency[CaseQueries],
    limit: Limit = 100,
    offset: Offset = 0,
    terminal: Annotated[str | None, QueryParameter(max_length=64)] = None,
    department: Dept = None,
    status: Annotated[str | None, QueryParameter(max_length=32)] = None,
) -> CaseList:
    """Cases newest first (ID numbers masked); a clerk sees only their departments' cases."""
    return cases.cases(who, limit, offset, terminal, department, status)


@get(
    "/cases/{case_id:str}",
    sync_to_thread=True,
    opt={PERMISSION: Permission.CASE_READ},
    responses=errors(401, 403, 404),
    tags=["cases"],
)
def get_case(who: NamedDependency[Principal], cases: NamedDependency[CaseQueries], case_id: CaseId) -> CaseDetailOut:
    """One case (ID number masked) with its timeline, deadline light and the actions this user may take."""
    detail = cases.detail(who, case_id)
    return CaseDetailOut.of(cases.record(who, case_id), detail)


@get(
    "/queue",
    sync_to_thread=True,
    opt={PERMISSION: Permission.CASE_READ},
    responses=errors(401, 403),
    tags=["cases"],
)
def queue(
    who: NamedDependency[Principal],
    cases: NamedDependency[CaseQueries],
    department: Dept = None,
    status: Annotated[list[str] | None, QueryParameter(max_items=7)] = None,
    mine: FromQuery[bool] = False,
    limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> QueuePage:
    """Open cases of the user's departments (or ``department``), soonest due first."""
    return cases.queue(who, department, status, mine, limit, offset)


@post(
    "/cases/{case_id:str}/actions",
    sync_to_thread=True,
    opt={PERMISSION: Permission.CASE_ACT},
    responses=errors(401, 403, 404, 409),
    tags=["cases"],
)
def act(
    who: NamedDependency[Principal], workflow: NamedDependency[Workflow], case_id: CaseId, data: JSONBody[ActionIn]
) -> EventOut:
    """Move the case (at ``expected_version``); the event is published to its terminal after the commit."""
    outcome = workflow.act(who, case_id, data.action, data.expected_version, data.reason, data.materials)
    return _event(outcome)


@post(
    "/cases/{case_id:str}/route",
    sync_to_thread=True,
    opt={PERMISSION: Permission.CASE_ROUTE},
    responses=errors(401, 403, 404, 409),
    tags=["cases"],
)
def route(
    who: NamedDependency[Principal], workflow: NamedDependency[Workflow], case_id: CaseId, data: JSONBody[RouteIn]
) -> EventOut:
    """Send an open case to another department's queue (managers)."""
    outcome = workflow.route(who, case_id, data.department, data.expected_version, data.note)
    return _event(outcome)


@get(
    "/overdue",
    sync_to_thread=True,
    opt={PERMISSION: Permission.OVERDUE_READ},
    responses=errors(401, 403),
    tags=["cases"],
)
def overdue(
    who: NamedDependency[Principal], cases: NamedDependency[CaseQueries], department: Dept = None
) -> OverdueBoard:
    """Red cards (past due) and yellow cards (due within a working day), per department."""
    return cases.overdue(who, department)


@get("/departments", sync_to_thread=True, responses=errors(401), tags=["cases"])
def departments(catalogue: NamedDependency[CatalogueInForce]) -> list[DepartmentOut]:
    """Departments of the catalogue in force, in counter order."""
    return [DepartmentOut(d.code, d.name) for d in catalogue.current().departments]
