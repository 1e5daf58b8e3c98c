"""``/api/cases``, ``/api/queue``, ``/api/overdue``: reading cases and moving them through the workflow."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody, PathParameter, QueryParameter
from sqlalchemy import func, select

from hub.cases.queries import CaseDetail, OverdueBoard, QueuePage
from hub.cases.workflow import Outcome
from hub.db.models import CaseRow, table
from hub.people.roles import Permission, Principal
from hub.web.api.schemas import ActionIn, EventOut, RouteIn, errors
from hub.web.auth import PERMISSION
from protocol.idnumber import mask

__all__ = ["act", "departments", "get_case", "list_cases", "overdue", "queue", "route"]

_cases = table(CaseRow)
Limit = Annotated[int, QueryParameter(ge=1, le=1000)]
Offset = Annotated[int, QueryParameter(ge=0, le=10_000_000)]
Dept = Annotated[str | None, QueryParameter(max_length=32)]
CaseId = Annotated[str, PathParameter(max_length=36)]


def _services(request: Request[Any, Any, Any]) -> Any:
    return request.app.state.services


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items() if k != "payload"}
    if "id_number" in out:
        out["id_number"] = mask(out["id_number"])
    return out


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
    request: Request[Any, Any, Any],
    who: NamedDependency[Principal],
    limit: Limit = 100,
    offset: Offset = 0,
    terminal: Annotated[str | None, QueryParameter(max_length=64)] = None,
    department: Dept = None,
    status: Annotated[str | None, QueryParameter(max_length=32)] = None,
) -> dict[str, Any]:
    """Cases newest first (ID numbers masked); a clerk sees only their departments' cases."""
    services = _services(request)
    q = select(_cases).order_by(_cases.c.received_at.desc()).limit(limit).offset(offset)
    count = select(func.count()).select_from(_cases)
    where = []
    if terminal:
        where.append(_cases.c.terminal_id == terminal)
    if status:
        where.append(_cases.c.status == status)
    if department or who.scoped:
        where.append(_cases.c.department.in_(services.cases.departments_for(who, department)))
    with services.engine.connect() as conn:
        rows = conn.execute(q.where(*where)).mappings().all()
        total = conn.execute(count.where(*where)).scalar_one()
    return {"total": total, "cases": [_jsonable(dict(r)) for r in rows]}


@get(
    "/cases/{case_id:str}",
    sync_to_thread=True,
    opt={PERMISSION: Permission.CASE_READ},
    responses=errors(401, 403, 404),
    tags=["cases"],
)
def get_case(request: Request[Any, Any, Any], who: NamedDependency[Principal], case_id: CaseId) -> dict[str, Any]:
    """One case (ID number masked) with its timeline, deadline light and the actions this user may take."""
    services = _services(request)
    detail: CaseDetail = services.cases.detail(who, case_id)
    with services.engine.connect() as conn:
        row = conn.execute(select(_cases).where(_cases.c.case_id == case_id)).mappings().one()
    out = _jsonable(dict(row))
    d = asdict(detail)
    out.update(
        item_name=detail.case.item_name,
        department_name=detail.case.department_name,
        light=detail.case.light,
        assignee=detail.case.assignee,
        paused_days=detail.paused_days,
        notices=detail.notices,
        form=[list(pair) for pair in detail.form],
        materials_received=detail.materials_received,
        item_materials=detail.item_materials,
        timeline=[{**t, "at": t["at"].isoformat()} for t in d["timeline"]],
        actions=d["actions"],
        can_route=detail.can_route,
    )
    return out


@get(
    "/queue",
    sync_to_thread=True,
    opt={PERMISSION: Permission.CASE_READ},
    responses=errors(401, 403),
    tags=["cases"],
)
def queue(
    request: Request[Any, Any, Any],
    who: NamedDependency[Principal],
    department: Dept = None,
    status: Annotated[list[str] | None, QueryParameter(max_items=7)] = None,
    mine: FromQuery[bool] = False,
    limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> QueuePage:
    """Open cases of the user's departments (or ``department``), soonest due first."""
    page: QueuePage = _services(request).cases.queue(who, department, status, mine, limit, offset)
    return page


@post(
    "/cases/{case_id:str}/actions",
    sync_to_thread=True,
    opt={PERMISSION: Permission.CASE_ACT},
    responses=errors(401, 403, 404, 409),
    tags=["cases"],
)
def act(
    request: Request[Any, Any, Any], who: NamedDependency[Principal], case_id: CaseId, data: JSONBody[ActionIn]
) -> EventOut:
    """Move the case (at ``expected_version``); the event is published to its terminal after the commit."""
    outcome = _services(request).workflow.act(
        who, case_id, data.action, data.expected_version, data.reason, data.materials
    )
    return _event(outcome)


@post(
    "/cases/{case_id:str}/route",
    sync_to_thread=True,
    opt={PERMISSION: Permission.CASE_ROUTE},
    responses=errors(401, 403, 404, 409),
    tags=["cases"],
)
def route(
    request: Request[Any, Any, Any], who: NamedDependency[Principal], case_id: CaseId, data: JSONBody[RouteIn]
) -> EventOut:
    """Send an open case to another department's queue (managers)."""
    outcome = _services(request).workflow.route(who, case_id, data.department, data.expected_version, data.note)
    return _event(outcome)


@get(
    "/overdue",
    sync_to_thread=True,
    opt={PERMISSION: Permission.OVERDUE_READ},
    responses=errors(401, 403),
    tags=["cases"],
)
def overdue(request: Request[Any, Any, Any], who: NamedDependency[Principal], department: Dept = None) -> OverdueBoard:
    """Red cards (past due) and yellow cards (due within a working day), per department."""
    board: OverdueBoard = _services(request).cases.overdue(who, department)
    return board


@get("/departments", sync_to_thread=True, responses=errors(401), tags=["cases"])
def departments(request: Request[Any, Any, Any]) -> list[dict[str, str]]:
    """Departments of the catalogue in force, in counter order."""
    return [{"code": d.code, "name": d.name} for d in _services(request).catalogue.current().departments]
