"""The hub's parts wired together: engine, routing, handler, MQTT ingest worker and its event delivery."""

from __future__ import annotations

from pathlib import Path

from hub import casekey
from hub.calendar.duedates import DueDates
from hub.cases.routing import Router
from hub.catalogue.publishing import CataloguePublishing
from hub.db.engine import open_engine
from hub.errors import HubError
from hub.fleet.service import FleetService
from hub.ingest.deadletters import PurgeOld
from hub.ingest.handler import Handler
from hub.ingest.metrics import IngestMetrics
from hub.ingest.worker import IngestWorker
from hub.settings import HubSettings
from protocol.catalogue import Catalogue, load_seed

__all__ = ["HubRuntime", "default_router"]


def default_router(catalogue: Catalogue | None = None) -> Router:
    """Routing by the catalogue: each item to its department (the seed's until one is published)."""
    return Router({item.code: item.department for item in (catalogue or load_seed()).items})


class HubRuntime:
    def __init__(self, settings: HubSettings, router: Router | None = None) -> None:
        self.settings = settings
        case_key = casekey.load(Path(settings.case_key_file))  # first: without it no case can be opened
        self.engine = open_engine(settings.database_url)
        self.metrics = IngestMetrics()
        self.handler = Handler(
            self.engine,
            router or default_router(),
            self.metrics,
            settings.clock_skew_alert_s,
            case_key=case_key,
            dead_letter_prefix_bytes=settings.dead_letter_prefix_bytes,
            dead_letters_per_terminal=settings.dead_letters_per_terminal,
        )
        self.worker = IngestWorker(settings, self.handler)
        self.delivery = self.worker.delivery  # case events to terminals, from ingest and the back office alike
        self.catalogue = CataloguePublishing(self.engine, self.handler, self.worker)
        current = self._published_catalogue()
        if router is None:
            self.handler.router = default_router(current)
        self.handler.due_date = DueDates.from_engine(self.engine, current)  # promised working days, holiday calendar
        self.fleet = FleetService(self.engine, self.handler, self.metrics.registry, self.catalogue.store)
        self.fleet.on_tick.append(self.catalogue.tick)
        self.fleet.on_tick.append(PurgeOld(self.engine, settings.dead_letters_keep_days))

    def _published_catalogue(self) -> Catalogue | None:
        try:
            return self.catalogue.store.get()
        except HubError:  # nothing published yet: the seed applies
            return None

    def start(self) -> None:
        self.worker.start()
        self.fleet.start()

    def close(self) -> None:
        self.fleet.stop()
        self.worker.stop()
        self.engine.dispose()

    def __enter__(self) -> HubRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
