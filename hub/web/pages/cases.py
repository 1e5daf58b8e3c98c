"""The department queue, one case with its timeline and actions, the overdue board, and the return calls
bad ratings opened (回访整改)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template

from hub.calendar.service import CalendarService
from hub.cases.messages import ACTION_LABELS, RETURN_CALL_DONE
from hub.cases.queries import CaseQueries
from hub.cases.returncalls import ReturnCalls
from hub.cases.routing import may_route
from hub.cases.states import OPEN, TRANSITIONS, Action
from hub.cases.workflow import CaseConflict, InvalidAction, Workflow
from hub.errors import HubError
from hub.ingest.committees import CommitteeNames
from hub.people.roles import Permission, Principal, can
from hub.people.service import Users
from hub.text import text
from hub.web.auth import PERMISSION
from hub.web.pages.common import field, fields, flash, page, redirect_back
from protocol.cases import CaseStatus
from protocol.envelope import utcnow
from protocol.localtime import local_date

__all__ = ["act", "case_page", "overdue_page", "queue_page", "record_return_call", "return_calls_page", "route"]

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
PAGE = 50


@get("/queue", opt={PERMISSION: Permission.CASE_READ}, include_in_schema=False, sync_to_thread=True)
def queue_page(
    request: Request[Any, Any, Any],
    who: NamedDependency[Principal],
    cases: NamedDependency[CaseQueries],
    committees: NamedDependency[CommitteeNames],
    users: NamedDependency[Users],
    department: Annotated[str | None, QueryParameter(max_length=32)] = None,
    status: Annotated[str | None, QueryParameter(max_length=32)] = None,
    mine: FromQuery[bool] = False,
    page_no: Annotated[int, QueryParameter(name="page", ge=1, le=100_000)] = 1,
    receipt: Annotated[str, QueryParameter(max_length=40)] = "",
) -> Template:
    statuses = [status] if status else None
    receipt = receipt.strip()
    result = cases.queue(who, department or None, statuses, mine, PAGE, (page_no - 1) * PAGE, receipt=receipt)
    pages = max(1, -(-result.total // PAGE))
    if page_no > pages:  # cases were taken since the link was made (page 3 of what is now 2): the last page
        page_no = pages
        result = cases.queue(who, department or None, statuses, mine, PAGE, (page_no - 1) * PAGE, receipt=receipt)
    names = cases.department_names
    return page(
        request,
        who,
        "queue.html",
        names=names,
        actors=users.display_names(),
        result=result,
        committee_names=committees.all(),
        departments=[(d, names.get(d, d)) for d in cases.departments_for(who)],
        department=department or "",
        status=status or "",
        statuses=[s.value for s in CaseStatus if s in OPEN],
        closed=[s.value for s in CaseStatus if s not in OPEN],  # decided or withdrawn: to look back
        receipt=receipt,
        mine=mine,
        page_no=page_no,
        pages=pages,
        tentative=cases.tentative,
    )


@get("/cases/{case_id:str}", opt={PERMISSION: Permission.CASE_READ}, include_in_schema=False, sync_to_thread=True)
def case_page(
    request: Request[Any, Any, Any],
    who: NamedDependency[Principal],
    cases: NamedDependency[CaseQueries],
    committees: NamedDependency[CommitteeNames],
    users: NamedDependency[Users],
    case_id: FromPath[str],
) -> Template:
    """One case: its facts (the committee by name), its history (the submission by its committee and, for
    代办, the social worker; each later step by the person's name), and its actions one at a time, each
    saying what the resident will see."""
    detail = cases.detail(who, case_id)
    return page(
        request,
        who,
        "case.html",
        names=cases.department_names,
        d=detail,
        c=detail.case,
        tentative=cases.tentative if CaseStatus(detail.case.status) in OPEN else lambda _day: False,
        committee=committees.label(detail.case.committee),
        actors=users.display_names(),
        targets={a.value: t.target.value for a, t in TRANSITIONS.items()},
        route_to=[  # where this user may send it: a clerk back to the centre's window, a manager anywhere
            (code, name)
            for code, name in cases.department_names.items()  # the catalogue's departments and the window
            if code != detail.case.department and may_route(who, detail.case.department, code)
        ],
    )


@post("/cases/{case_id:str}/act", opt={PERMISSION: Permission.CASE_ACT}, include_in_schema=False, sync_to_thread=True)
def act(
    request: Request[Any, Any, Any],
    who: NamedDependency[Principal],
    workflow: NamedDependency[Workflow],
    case_id: FromPath[str],
    data: Form,
) -> Redirect:
    back = f"/cases/{case_id}"
    try:
        action = Action(field(data, "action"))
        version = int(field(data, "expected_version", "0"))
    except ValueError:
        flash(request, "error", text("flash", "bad_action"))
        return redirect_back(back)
    materials = fields(data, "materials")
    materials += [line.strip() for line in field(data, "other_materials").splitlines() if line.strip()]
    try:
        outcome = workflow.act(who, case_id, action, version, field(data, "reason"), materials)
    except (CaseConflict, InvalidAction) as exc:
        flash(request, "error", str(exc))
        return redirect_back(back)
    flash(request, "ok", text("flash", "acted", action=ACTION_LABELS[action], version=outcome.event.version))
    return redirect_back(back)


@post("/cases/{case_id:str}/route", opt={PERMISSION: Permission.CASE_ACT}, include_in_schema=False, sync_to_thread=True)
def route(
    request: Request[Any, Any, Any],
    who: NamedDependency[Principal],
    workflow: NamedDependency[Workflow],
    case_id: FromPath[str],
    data: Form,
) -> Redirect:
    back = f"/cases/{case_id}"
    try:
        version = int(field(data, "expected_version", "0"))
        workflow.route(who, case_id, field(data, "department"), version, field(data, "note"))
    except ValueError:
        flash(request, "error", text("flash", "bad_version"))
    except (CaseConflict, InvalidAction) as exc:
        flash(request, "error", str(exc))
    else:
        flash(request, "ok", text("flash", "routed"))
    return redirect_back(back)


@get("/overdue", opt={PERMISSION: Permission.OVERDUE_READ}, include_in_schema=False, sync_to_thread=True)
def overdue_page(
    request: Request[Any, Any, Any],
    who: NamedDependency[Principal],
    cases: NamedDependency[CaseQueries],
    calendar: NamedDependency[CalendarService],
    users: NamedDependency[Users],
    department: Annotated[str | None, QueryParameter(max_length=32)] = None,
) -> Template:
    board = cases.overdue(who, department or None)
    names = cases.department_names
    return page(
        request,
        who,
        "overdue.html",
        names=names,
        actors=users.display_names(),
        board=board,
        calendar_gaps=calendar.gaps(board.today),
        tentative=cases.tentative,
        department=department or "",
        departments=[(d, names.get(d, d)) for d in cases.departments_for(who)],
    )


@get("/return-calls", opt={PERMISSION: Permission.CASE_READ}, include_in_schema=False, sync_to_thread=True)
def return_calls_page(
    request: Request[Any, Any, Any],
    who: NamedDependency[Principal],
    cases: NamedDependency[CaseQueries],
    return_calls: NamedDependency[ReturnCalls],
    users: NamedDependency[Users],
    open_only: FromQuery[bool] = False,
) -> Template:
    """The return calls (回访整改) bad ratings opened for the user's departments, open ones first."""
    names = cases.department_names
    calls = return_calls.listing(who, cases.departments_for(who), open_only)
    return page(
        request,
        who,
        "return_calls.html",
        names=names,
        actors=users.display_names(),
        calls=calls,
        department_names=names,
        today=local_date(utcnow()),
        open_only=open_only,
        item_name=cases.item_name,
        may_record=can(who, Permission.CASE_ACT),
    )


@post(
    "/return-calls/{rating_id:str}", opt={PERMISSION: Permission.CASE_ACT}, include_in_schema=False, sync_to_thread=True
)
def record_return_call(
    request: Request[Any, Any, Any],
    who: NamedDependency[Principal],
    return_calls: NamedDependency[ReturnCalls],
    rating_id: FromPath[str],
    data: Form,
) -> Redirect:
    """Record what the call found and what was put right."""
    try:
        return_calls.record(who, rating_id, field(data, "reached") == "yes", field(data, "outcome"))
    except HubError as exc:
        flash(request, "error", str(exc))
    else:
        flash(request, "ok", RETURN_CALL_DONE)
    return redirect_back("/return-calls")
