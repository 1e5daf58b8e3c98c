"""``/api/audit`` (read and verify the chain) and ``/api/calendar`` (the holiday calendar)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from litestar import delete, get, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_204_NO_CONTENT

from hub.audit.trail import AuditTrail
from hub.calendar.service import CalendarDay, CalendarService
from hub.people.roles import Permission, Principal
from hub.web.api.schemas import AuditOut, CalendarOut, DayIn, VerifyOut, errors
from hub.web.auth import PERMISSION

__all__ = ["audit_entries", "audit_verify", "calendar", "calendar_complete", "calendar_remove", "calendar_set"]


@get(
    "/audit",
    sync_to_thread=True,
    opt={PERMISSION: Permission.AUDIT_READ},
    responses=errors(401, 403),
    tags=["audit"],
)
def audit_entries(
    audit: NamedDependency[AuditTrail],
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    before: Annotated[int | None, QueryParameter(ge=1, le=2**63 - 1)] = None,  # a 64-bit id, as both databases store it
    actor: Annotated[str | None, QueryParameter(max_length=64)] = None,
) -> AuditOut:
    """The newest audit entries (before entry ``before``), optionally of one actor (``user:name``)."""
    return AuditOut(audit.entries(limit, before, actor))


@get(
    "/audit/verify",
    sync_to_thread=True,
    opt={PERMISSION: Permission.AUDIT_READ},
    responses=errors(401, 403),
    tags=["audit"],
)
def audit_verify(audit: NamedDependency[AuditTrail]) -> VerifyOut:
    """Walk the whole chain: the first entry edited, removed or reordered, or a truncated tail."""
    return VerifyOut.of(audit.verify())


@get(
    "/calendar",
    sync_to_thread=True,
    opt={PERMISSION: Permission.CALENDAR_READ},
    responses=errors(401, 403),
    tags=["calendar"],
)
def calendar(
    calendar: NamedDependency[CalendarService], year: Annotated[int | None, QueryParameter(ge=2000, le=2100)] = None
) -> CalendarOut:
    """Holidays (``off``) and adjusted working days (``work``) the due dates are counted on; ``years``: those
    whose arrangement is complete (a year not listed counts what is entered, its dates tentative)."""
    return CalendarOut(calendar.years(), calendar.days(year))


@put(
    "/calendar/{day:date}",
    sync_to_thread=True,
    opt={PERMISSION: Permission.CALENDAR_WRITE},
    responses=errors(401, 403, 422),
    tags=["calendar"],
)
def calendar_set(
    who: NamedDependency[Principal],
    calendar: NamedDependency[CalendarService],
    day: FromPath[date],
    data: JSONBody[DayIn],
) -> CalendarDay:
    """Make ``day`` a holiday or an adjusted working weekend day (audited)."""
    return calendar.set_day(day, data.kind, data.name, who.actor)


@put(
    "/calendar/years/{year:int}",
    sync_to_thread=True,
    opt={PERMISSION: Permission.CALENDAR_WRITE},
    responses=errors(401, 403, 422),
    tags=["calendar"],
)
def calendar_complete(
    who: NamedDependency[Principal], calendar: NamedDependency[CalendarService], year: FromPath[int]
) -> CalendarOut:
    """Say that ``year``'s holiday arrangement is entered in full (audited): its due dates stop being
    tentative and the terminals get its days. 422 when none of its holidays is entered."""
    calendar.complete_year(year, who.actor)
    return CalendarOut(calendar.years(), calendar.days(year))


@delete(
    "/calendar/{day:date}",
    sync_to_thread=True,
    status_code=HTTP_204_NO_CONTENT,
    opt={PERMISSION: Permission.CALENDAR_WRITE},
    responses=errors(401, 403, 404, 422),
    tags=["calendar"],
)
def calendar_remove(
    who: NamedDependency[Principal], calendar: NamedDependency[CalendarService], day: FromPath[date]
) -> None:
    """``day`` becomes an ordinary day again (audited)."""
    calendar.remove_day(day, who.actor)
