"""``/api/dead-letters`` and ``/api/terminals``: what operators watch."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from hub.ingest.listing import IngestRecords
from hub.people.roles import Permission
from hub.web.api.schemas import DeadLettersOut, TerminalsOut, errors
from hub.web.auth import PERMISSION

__all__ = ["list_dead_letters", "list_terminals"]


@get(
    "/dead-letters",
    sync_to_thread=True,
    opt={PERMISSION: Permission.FLEET_READ},
    responses=errors(401, 403),
    tags=["fleet"],
)
def list_dead_letters(
    intake: NamedDependency[IngestRecords],
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    reason: Annotated[str | None, QueryParameter(max_length=32)] = None,
) -> DeadLettersOut:
    """The latest refused messages and why (payloads stay in the database)."""
    return DeadLettersOut(intake.dead_letters(limit, reason))


@get(
    "/terminals",
    sync_to_thread=True,
    opt={PERMISSION: Permission.FLEET_READ},
    responses=errors(401, 403),
    tags=["fleet"],
)
def list_terminals(intake: NamedDependency[IngestRecords]) -> TerminalsOut:
    """Every terminal the hub has heard of: online, last seen, versions, health."""
    return TerminalsOut(intake.terminals())
