"""``/api/dead-letters`` and ``/api/terminals``: what operators watch."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get
from litestar.params import QueryParameter
from sqlalchemy import select

from hub.db.models import DeadLetter, TerminalRow, table
from hub.people.roles import Permission
from hub.web.api.schemas import errors
from hub.web.auth import PERMISSION

__all__ = ["list_dead_letters", "list_terminals"]

_dead, _terms = table(DeadLetter), table(TerminalRow)


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items() if k != "payload"}


@get(
    "/dead-letters",
    sync_to_thread=True,
    opt={PERMISSION: Permission.FLEET_READ},
    responses=errors(401, 403),
    tags=["fleet"],
)
def list_dead_letters(
    request: Request[Any, Any, Any],
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    reason: Annotated[str | None, QueryParameter(max_length=32)] = None,
) -> dict[str, Any]:
    """The latest refused messages and why (payloads stay in the database)."""
    q = select(_dead).order_by(_dead.c.id.desc()).limit(limit)
    if reason:
        q = q.where(_dead.c.reason == reason)
    with request.app.state.services.engine.connect() as conn:
        rows = conn.execute(q).mappings().all()
    return {"dead_letters": [_jsonable(dict(r)) for r in rows]}


@get(
    "/terminals",
    sync_to_thread=True,
    opt={PERMISSION: Permission.FLEET_READ},
    responses=errors(401, 403),
    tags=["fleet"],
)
def list_terminals(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Every terminal the hub has heard of: online, last seen, versions, health."""
    with request.app.state.services.engine.connect() as conn:
        rows = conn.execute(select(_terms).order_by(_terms.c.terminal_id)).mappings().all()
    return {"terminals": [_jsonable(dict(r)) for r in rows]}
