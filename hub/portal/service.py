"""The portal's services over one hub, built once (:meth:`Portal.build`) and handed to the pages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from hub.portal.guide import ServiceGuide
from hub.portal.lookup import ProgressLookup
from hub.portal.stats import PublicStats
from hub.portal.throttle import LookupPolicy, LookupThrottle
from hub.portal.token import TokenSeal
from hub.reports.reporter import Reporter
from hub.settings import PortalSettings
from protocol.catalogue import Catalogue, ServiceItem
from protocol.workdays import WorkCalendar

__all__ = ["Portal"]


@dataclass(frozen=True, slots=True)
class Portal:
    settings: PortalSettings
    guide: ServiceGuide
    lookup: ProgressLookup
    tokens: TokenSeal
    stats: PublicStats

    @classmethod
    def build(
        cls,
        engine: Engine,
        catalogue: Callable[[], Catalogue],
        item: Callable[[str], ServiceItem | None],
        tokens: TokenSeal,
        settings: PortalSettings,
        calendar: Callable[[], WorkCalendar] | None = None,
    ) -> Portal:
        """``item``: an item, withdrawn from ``catalogue`` or not (:meth:`CatalogueInForce.item`);
        ``calendar``: the calendar of the complete years (``CalendarService.published``), to say when a
        due date may still move (a year whose holiday arrangement is not entered in full)."""
        throttle = LookupThrottle(LookupPolicy.from_settings(settings))
        return cls(
            settings=settings,
            guide=ServiceGuide(catalogue),
            lookup=ProgressLookup(engine, catalogue, item, throttle, tokens, calendar),
            tokens=tokens,
            stats=PublicStats(Reporter(engine, catalogue), catalogue, settings.stats_months, settings.stats_min_count),
        )
