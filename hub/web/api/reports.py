"""``/api/reports``: the performance report as JSON or CSV."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import msgspec
from litestar import Response, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter

from hub.errors import HubError
from hub.people.roles import Permission
from hub.reports.export import to_csv
from hub.reports.reporter import Reporter
from hub.reports.service import Period, Report
from hub.text import text
from hub.web.api.schemas import ReportOut, errors
from hub.web.auth import PERMISSION

__all__ = ["period_of", "report_csv", "report_json", "report_of"]

MAX_DAYS = 3660


class BadPeriod(HubError):
    status_code = 400


def period_of(start: date | None, end: date | None) -> Period:
    """The asked period; the last 30 days by default; at most ten years."""
    default = Period.last_days(30)
    start, end = start or default.start, end or default.end
    if end < start or (end - start).days > MAX_DAYS:
        raise BadPeriod(text("report", "bad_period"))
    return Period(start, end)


Dept = Annotated[str | None, QueryParameter(max_length=32)]


def report_of(reports: Reporter, start: date | None, end: date | None, department: str | None) -> Report:
    return reports.report(period_of(start, end), [department] if department else None)


@get(
    "/reports",
    sync_to_thread=True,
    opt={PERMISSION: Permission.REPORT_READ},
    responses=errors(400, 401, 403),
    tags=["reports"],
)
def report_json(
    reports: NamedDependency[Reporter],
    start: FromQuery[date | None] = None,
    end: FromQuery[date | None] = None,
    department: Dept = None,
) -> ReportOut:
    """Per department and per item: volume, processing time (median, p95), share in time, overdue, ratings."""
    return msgspec.convert(report_of(reports, start, end, department).as_dict(), ReportOut)


@get(
    "/reports.csv",
    sync_to_thread=True,
    media_type="text/csv",  # Litestar adds "; charset=utf-8"
    opt={PERMISSION: Permission.REPORT_READ},
    responses=errors(400, 401, 403),
    tags=["reports"],
)
def report_csv(
    reports: NamedDependency[Reporter],
    start: FromQuery[date | None] = None,
    end: FromQuery[date | None] = None,
    department: Dept = None,
) -> Response[str]:
    """The same report as CSV (UTF-8 with BOM, for Excel)."""
    report = report_of(reports, start, end, department)
    name = f"report-{report.period.start}-{report.period.end}.csv"
    return Response(
        to_csv(report),
        media_type="text/csv",  # Litestar adds "; charset=utf-8"
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
