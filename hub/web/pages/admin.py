"""Electronic supervision (the audit trail and its verification) and the holiday calendar."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template

from hub.audit.trail import AuditTrail
from hub.calendar.service import CalendarService, InvalidDay
from hub.cases.messages import STATUS_LABELS
from hub.cases.queries import CaseQueries
from hub.errors import NotFound
from hub.people.roles import Permission, Principal, can
from hub.people.service import Users
from hub.reports.export import to_csv
from hub.reports.reporter import Reporter
from hub.text import section, text
from hub.web.api.reports import report_of
from hub.web.auth import PERMISSION
from hub.web.pages.common import field, flash, page, redirect_back
from protocol.envelope import utcnow
from protocol.localtime import local_date

__all__ = ["audit_view", "calendar_complete", "calendar_remove", "calendar_set", "calendar_view", "report_csv_page"]

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
AUDIT_PAGE = 100


@get("/audit", opt={PERMISSION: Permission.AUDIT_READ}, include_in_schema=False, sync_to_thread=True)
def audit_view(
    request: Request[Any, Any, Any],
    who: NamedDependency[Principal],
    audit: NamedDependency[AuditTrail],
    cases: NamedDependency[CaseQueries],
    users: NamedDependency[Users],
    before: Annotated[int | None, QueryParameter(ge=1)] = None,
    actor: Annotated[str | None, QueryParameter(max_length=64)] = None,
    action: Annotated[str | None, QueryParameter(max_length=64)] = None,
    case: Annotated[str | None, QueryParameter(max_length=64)] = None,
    check: FromQuery[bool] = False,
) -> Template:
    """The chain, newest first; by who did it, by what was done (every withdrawal), or one case's history
    (its receipt number as typed, or its id)."""
    case = (case or "").strip()
    about = (cases.case_ids_of(case) or [case]) if case else []
    entries = audit.entries(AUDIT_PAGE, before, actor or None, action or None, about)
    names = cases.department_names
    return page(
        request,
        who,
        "audit.html",
        names=names,
        entries=entries,
        receipts=cases.receipts_of([e.subject for e in entries]),
        said={e.id: _said(e.data, names) for e in entries},
        actions=section("audit_action"),
        actors=users.actor_names(),
        result=audit.verify() if check else None,
        actor=actor or "",
        action=action or "",
        case=case,
        older=entries[-1].id if len(entries) == AUDIT_PAGE else None,
    )


def _said(data: str, departments: Mapping[str, str]) -> list[tuple[str, str]]:
    """An entry's data as a supervisor reads it: each field named in words, a status by its term and a
    department by its name (the canonical JSON stays a click away in the API)."""
    try:
        fields = json.loads(data)
    except ValueError:
        return [("", data)]
    if not isinstance(fields, dict):
        return [("", data)]
    named = section("audit_field")
    out: list[tuple[str, str]] = []
    for key, value in fields.items():
        if isinstance(value, str) and key in {"from", "to", "status"}:
            value = STATUS_LABELS.get(value, value)
        elif isinstance(value, str) and "department" in key:
            value = departments.get(value, value)
        elif not isinstance(value, str):
            value = json.dumps(value, ensure_ascii=False)
        out.append((named.get(key) or key, str(value)[:300]))
    return out


# GET and POST on one path would both be sync_to_thread handlers, which Litestar 2.25 wraps twice when
# they are registered one by one: the form posts to /calendar/days instead.
@get("/calendar", opt={PERMISSION: Permission.CALENDAR_READ}, include_in_schema=False, sync_to_thread=True)
def calendar_view(
    request: Request[Any, Any, Any],
    who: NamedDependency[Principal],
    calendar: NamedDependency[CalendarService],
    cases: NamedDependency[CaseQueries],
    users: NamedDependency[Users],
    year: Annotated[int | None, QueryParameter(ge=2000, le=2100)] = None,
) -> Template:
    complete = calendar.years()
    gaps = calendar.gaps(local_date(utcnow()))
    year = year or (complete[-1] if complete else date.today().year)
    return page(
        request,
        who,
        "calendar.html",
        names=cases.department_names,
        actors=users.actor_names(),  # updated_by is an actor
        year=year,
        years=sorted(set(complete) | {year} | {g.year for g in gaps}),  # a year to enter is one link away
        complete=year in complete,
        days=calendar.days(year),
        can_edit=can(who, Permission.CALENDAR_WRITE),
        calendar_gaps=gaps,
    )


@post(
    "/calendar/{year:int}/complete",
    opt={PERMISSION: Permission.CALENDAR_WRITE},
    include_in_schema=False,
    sync_to_thread=True,
)
def calendar_complete(
    request: Request[Any, Any, Any],
    who: NamedDependency[Principal],
    calendar: NamedDependency[CalendarService],
    year: FromPath[int],
) -> Redirect:
    try:
        calendar.complete_year(year, who.actor)
        flash(request, "ok", text("flash", "year_complete", year=year))
    except InvalidDay as exc:
        flash(request, "error", str(exc))
    return redirect_back(f"/calendar?year={year}")


@post("/calendar/days", opt={PERMISSION: Permission.CALENDAR_WRITE}, include_in_schema=False, sync_to_thread=True)
def calendar_set(
    request: Request[Any, Any, Any],
    who: NamedDependency[Principal],
    calendar: NamedDependency[CalendarService],
    data: Form,
) -> Redirect:
    try:
        day = date.fromisoformat(field(data, "day"))
        last = date.fromisoformat(field(data, "last")) if field(data, "last") else day  # a run of days off
        saved = calendar.set_days(day, last, field(data, "kind"), field(data, "name"), who.actor)
    except ValueError:
        flash(request, "error", text("flash", "bad_date"))
        return redirect_back("/calendar")
    except InvalidDay as exc:
        flash(request, "error", str(exc))
        return redirect_back("/calendar")
    days = day if last == day else text("flash", "day_span", first=day, last=last)
    flash(request, "ok", text("flash", "day_saved", day=days) + _recounted(saved.recounted))
    return redirect_back(f"/calendar?year={day.year}")


@post(
    "/calendar/{day:date}/delete",
    opt={PERMISSION: Permission.CALENDAR_WRITE},
    include_in_schema=False,
    sync_to_thread=True,
)
def calendar_remove(
    request: Request[Any, Any, Any],
    who: NamedDependency[Principal],
    calendar: NamedDependency[CalendarService],
    day: FromPath[date],
) -> Redirect:
    try:
        recounted = calendar.remove_day(day, who.actor)
        flash(request, "ok", text("flash", "day_removed", day=day) + _recounted(recounted))
    except (NotFound, InvalidDay) as exc:
        flash(request, "error", str(exc))
    return redirect_back(f"/calendar?year={day.year}")


def _recounted(cases: int) -> str:
    return text("flash", "recounted", cases=cases) if cases else ""


@get("/reports.csv", opt={PERMISSION: Permission.REPORT_READ}, include_in_schema=False, sync_to_thread=True)
def report_csv_page(
    reports: NamedDependency[Reporter],
    start: FromQuery[date | None] = None,
    end: FromQuery[date | None] = None,
    department: Annotated[str | None, QueryParameter(max_length=32)] = None,
) -> Response[str]:
    report = report_of(reports, start, end, department)
    name = f"report-{report.period.start}-{report.period.end}.csv"
    return Response(
        to_csv(report),
        media_type="text/csv",  # Litestar adds "; charset=utf-8"
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
