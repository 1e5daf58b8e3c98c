"""The performance report page: period, charts, tables, the worst-rated items and a CSV link."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter
from litestar.response import Template

from hub.cases.queries import CaseQueries
from hub.catalogue.in_force import CatalogueInForce
from hub.fleet.help import HelpDesk
from hub.people.roles import Permission, Principal
from hub.reports.reporter import Reporter
from hub.reports.service import WORST_MIN_RATINGS
from hub.text import text
from hub.web import charts
from hub.web.api.reports import period_of
from hub.web.auth import PERMISSION
from hub.web.pages.common import page
from protocol.localtime import LOCAL_TZ

__all__ = ["reports_page"]


@get("/reports", opt={PERMISSION: Permission.REPORT_READ}, include_in_schema=False, sync_to_thread=True)
def reports_page(
    request: Request[Any, Any, Any],
    who: NamedDependency[Principal],
    reports: NamedDependency[Reporter],
    cases: NamedDependency[CaseQueries],
    catalogue: NamedDependency[CatalogueInForce],
    help_desk: NamedDependency[HelpDesk],
    start: FromQuery[date | None] = None,
    end: FromQuery[date | None] = None,
    department: Annotated[str | None, QueryParameter(max_length=32)] = None,
) -> Template:
    period = period_of(start, end)
    report = reports.report(period, [department] if department else None)
    lines = report.items if department else report.departments
    by = text("chart", "by_item" if department else "by_department")
    svg = {
        "volume": charts.bars([(f.name, float(f.received)) for f in lines], text("chart", "volume", by=by)),
        "in_time": charts.bars(
            [(f.name, None if f.in_time_share is None else f.in_time_share * 100) for f in lines],
            text("chart", "in_time", by=by),
            fmt="{:.1f}%",
            scale_max=100.0,
            target=95.0,
            colour="#1b7a3d",
        ),
        "p95": charts.bars(
            [(f.name, f.p95_days) for f in lines],
            text("chart", "p95", by=by),
            fmt=text("chart", "days"),
            colour="#8e44ad",
        ),
        "satisfaction": charts.satisfaction([(f.name, f.ratings) for f in lines], text("chart", "satisfaction", by=by)),
    }
    query = f"start={period.start}&end={period.end}" + (f"&department={department}" if department else "")
    return page(
        request,
        who,
        "reports.html",
        names=cases.department_names,
        report=report,
        worst_min=WORST_MIN_RATINGS,
        svg=svg,
        department=department or "",
        departments=[(d.code, d.name) for d in catalogue.current().departments],
        csv_href=f"/api/reports.csv?{query}",
        csv_page=f"/reports.csv?{query}",
        help_calls=help_desk.summary(
            datetime.combine(period.start, time(), LOCAL_TZ),
            datetime.combine(period.end + timedelta(days=1), time(), LOCAL_TZ),
        ),
    )
