"""``/api/public``: the resident portal's open data, without sign-in — the service guide and the public
statistics (aggregates only, small cells suppressed: :mod:`hub.portal.stats`). Nothing personal is here;
a case's progress is looked up on the portal's page only (:mod:`hub.web.pages.portal`)."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from hub.portal.guide import ServiceSummary
from hub.portal.service import Portal
from hub.portal.stats import MonthStats
from hub.web.api.schemas import errors
from hub.web.auth import PUBLIC

__all__ = ["public_services", "public_stats"]


@get("/public/services", sync_to_thread=True, opt={PUBLIC: True}, security=[], tags=["public"], responses=errors(400))
def public_services(
    portal: NamedDependency[Portal], q: Annotated[str, QueryParameter(max_length=64)] = ""
) -> list[ServiceSummary]:
    """The catalogue in force, or its items matching every word of ``q``."""
    return portal.guide.summaries(q)


@get("/public/stats", sync_to_thread=True, opt={PUBLIC: True}, security=[], tags=["public"], responses=errors(400))
def public_stats(portal: NamedDependency[Portal]) -> list[MonthStats]:
    """Per month (newest first): cases, share decided in time and mean satisfaction, for the centre, each
    department and each item; a figure counting fewer cases or ratings than the threshold is null."""
    return portal.stats.recent()
