"""Electronic supervision (the audit trail and its verification) and the holiday calendar."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template

from hub.calendar.service import InvalidDay
from hub.errors import NotFound
from hub.people.roles import Permission, Principal, can
from hub.reports.export import to_csv
from hub.reports.service import build
from hub.web.api.admin import audit_page, verify_result
from hub.web.api.reports import period_of
from hub.web.auth import PERMISSION
from hub.web.pages.common import field, flash, page, redirect_back

__all__ = ["audit_view", "calendar_remove", "calendar_set", "calendar_view", "report_csv_page"]

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


@get("/audit", opt={PERMISSION: Permission.AUDIT_READ}, include_in_schema=False, sync_to_thread=True)
def audit_view(
    request: Request[Any, Any, Any],
    who: NamedDependency[Principal],
    before: Annotated[int | None, QueryParameter(ge=1)] = None,
    actor: Annotated[str | None, QueryParameter(max_length=64)] = None,
    check: FromQuery[bool] = False,
) -> Template:
    services = request.app.state.services
    entries = audit_page(services.engine, 100, before, actor or None)
    return page(
        request,
        who,
        "audit.html",
        entries=entries,
        result=verify_result(services.engine) if check else None,
        actor=actor or "",
        older=entries[-1]["id"] if len(entries) == 100 else None,
    )


# GET and POST on one path would both be sync_to_thread handlers, which Litestar 2.25 wraps twice when
# they are registered one by one: the form posts to /calendar/days instead.
@get("/calendar", opt={PERMISSION: Permission.CALENDAR_READ}, include_in_schema=False, sync_to_thread=True)
def calendar_view(
    request: Request[Any, Any, Any],
    who: NamedDependency[Principal],
    year: Annotated[int | None, QueryParameter(ge=2000, le=2100)] = None,
) -> Template:
    svc = request.app.state.services.calendar
    years = svc.years()
    year = year or (years[-1] if years else date.today().year)
    return page(
        request,
        who,
        "calendar.html",
        year=year,
        years=sorted(set(years) | {year}),
        days=svc.days(year),
        can_edit=can(who, Permission.CALENDAR_WRITE),
    )


@post("/calendar/days", opt={PERMISSION: Permission.CALENDAR_WRITE}, include_in_schema=False, sync_to_thread=True)
def calendar_set(request: Request[Any, Any, Any], who: NamedDependency[Principal], data: Form) -> Redirect:
    svc = request.app.state.services.calendar
    try:
        day = date.fromisoformat(field(data, "day"))
        saved = svc.set_day(day, field(data, "kind"), field(data, "name"), who.actor)
    except ValueError:
        flash(request, "error", "日期格式应为 YYYY-MM-DD")
        return redirect_back("/calendar")
    except InvalidDay as exc:
        flash(request, "error", str(exc))
        return redirect_back("/calendar")
    flash(request, "ok", f"已保存 {day}" + _recounted(saved.recounted))
    return redirect_back(f"/calendar?year={day.year}")


@post(
    "/calendar/{day:date}/delete",
    opt={PERMISSION: Permission.CALENDAR_WRITE},
    include_in_schema=False,
    sync_to_thread=True,
)
def calendar_remove(request: Request[Any, Any, Any], who: NamedDependency[Principal], day: FromPath[date]) -> Redirect:
    try:
        recounted = request.app.state.services.calendar.remove_day(day, who.actor)
        flash(request, "ok", f"{day} 已恢复为普通日" + _recounted(recounted))
    except NotFound as exc:
        flash(request, "error", str(exc))
    return redirect_back(f"/calendar?year={day.year}")


def _recounted(cases: int) -> str:
    return f"；{cases} 件在办案件的承诺办结日期已按新安排重新计算" if cases else ""


@get("/reports.csv", opt={PERMISSION: Permission.REPORT_READ}, include_in_schema=False, sync_to_thread=True)
def report_csv_page(
    request: Request[Any, Any, Any],
    start: FromQuery[date | None] = None,
    end: FromQuery[date | None] = None,
    department: Annotated[str | None, QueryParameter(max_length=32)] = None,
) -> Response[str]:
    services = request.app.state.services
    depts = [department] if department else None
    report = build(services.engine, period_of(start, end), depts, services.catalogue.current())
    name = f"report-{report.period.start}-{report.period.end}.csv"
    return Response(
        to_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
