"""``/api/audit`` (read and verify the chain) and ``/api/calendar`` (the holiday calendar)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated, Any

from litestar import Request, delete, get, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_204_NO_CONTENT
from sqlalchemy import select

from hub.audit.chain import anchor, verify
from hub.db.models import AuditEntry, table
from hub.people.roles import Permission, Principal
from hub.web.api.schemas import DayIn, errors
from hub.web.auth import PERMISSION

__all__ = ["audit_entries", "audit_verify", "calendar", "calendar_remove", "calendar_set"]

_audit = table(AuditEntry)


def _services(request: Request[Any, Any, Any]) -> Any:
    return request.app.state.services


def audit_page(engine: Any, limit: int, before: int | None = None, actor: str | None = None) -> list[dict[str, Any]]:
    q = select(_audit).order_by(_audit.c.id.desc()).limit(limit)
    if before is not None:
        q = q.where(_audit.c.id < before)
    if actor:
        q = q.where(_audit.c.actor == actor)
    with engine.connect() as conn:
        rows = conn.execute(q).mappings().all()
    return [{**dict(r), "at": r["at"].isoformat()} for r in rows]


@get(
    "/audit",
    sync_to_thread=True,
    opt={PERMISSION: Permission.AUDIT_READ},
    responses=errors(401, 403),
    tags=["audit"],
)
def audit_entries(
    request: Request[Any, Any, Any],
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    before: Annotated[int | None, QueryParameter(ge=1, le=2**63 - 1)] = None,  # a 64-bit id, as both databases store it
    actor: Annotated[str | None, QueryParameter(max_length=64)] = None,
) -> dict[str, Any]:
    """The newest audit entries (before entry ``before``), optionally of one actor (``user:name``)."""
    return {"entries": audit_page(_services(request).engine, limit, before, actor)}


def verify_result(engine: Any) -> dict[str, Any]:
    with engine.connect() as conn:
        checked, broken = verify(conn)
        head = anchor(conn)
    return {
        "intact": broken is None,
        "checked": checked,
        "break": None if broken is None else {"entry_id": broken.entry_id, "problem": broken.problem},
        "anchor": str(head),
    }


@get(
    "/audit/verify",
    sync_to_thread=True,
    opt={PERMISSION: Permission.AUDIT_READ},
    responses=errors(401, 403),
    tags=["audit"],
)
def audit_verify(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Walk the whole chain: the first entry edited, removed or reordered, or a truncated tail."""
    return verify_result(_services(request).engine)


@get(
    "/calendar",
    sync_to_thread=True,
    opt={PERMISSION: Permission.CALENDAR_READ},
    responses=errors(401, 403),
    tags=["calendar"],
)
def calendar(
    request: Request[Any, Any, Any], year: Annotated[int | None, QueryParameter(ge=2000, le=2100)] = None
) -> dict[str, Any]:
    """Holidays (``off``) and adjusted working days (``work``) the due dates are counted on."""
    svc = _services(request).calendar
    return {"years": svc.years(), "days": [asdict(d) for d in svc.days(year)]}


@put(
    "/calendar/{day:date}",
    sync_to_thread=True,
    opt={PERMISSION: Permission.CALENDAR_WRITE},
    responses=errors(401, 403, 422),
    tags=["calendar"],
)
def calendar_set(
    request: Request[Any, Any, Any], who: NamedDependency[Principal], day: FromPath[date], data: JSONBody[DayIn]
) -> dict[str, Any]:
    """Make ``day`` a holiday or an adjusted working weekend day (audited)."""
    return asdict(_services(request).calendar.set_day(day, data.kind, data.name, who.actor))


@delete(
    "/calendar/{day:date}",
    sync_to_thread=True,
    status_code=HTTP_204_NO_CONTENT,
    opt={PERMISSION: Permission.CALENDAR_WRITE},
    responses=errors(401, 403, 404),
    tags=["calendar"],
)
def calendar_remove(request: Request[Any, Any, Any], who: NamedDependency[Principal], day: FromPath[date]) -> None:
    """``day`` becomes an ordinary day again (audited)."""
    _services(request).calendar.remove_day(day, who.actor)
