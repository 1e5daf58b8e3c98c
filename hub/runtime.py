"""The hub's parts wired together: engine, routing, handler, MQTT ingest worker."""

from __future__ import annotations

from hub.cases.routing import Router
from hub.catalogue.publishing import CataloguePublishing
from hub.db.engine import open_engine
from hub.fleet.service import FleetService
from hub.ingest.handler import Handler
from hub.ingest.metrics import IngestMetrics
from hub.ingest.worker import IngestWorker
from hub.settings import HubSettings

__all__ = ["HubRuntime", "default_router"]


def default_router() -> Router:
    """Routing from the seed catalogue until the hub's own catalogue tables take over."""
    try:
        from protocol.catalogue import load_seed
    except ImportError:  # the catalogue lands with the kiosk work; until then everything goes to the centre
        return Router({})
    catalogue = load_seed()
    return Router({item.code: item.department for item in catalogue.items})


class HubRuntime:
    def __init__(self, settings: HubSettings, router: Router | None = None) -> None:
        self.settings = settings
        self.engine = open_engine(settings.database_url)
        self.metrics = IngestMetrics()
        self.handler = Handler(self.engine, router or default_router(), self.metrics, settings.clock_skew_alert_s)
        self.worker = IngestWorker(settings, self.handler)
        self.catalogue = CataloguePublishing(self.engine, self.handler, self.worker)
        self.fleet = FleetService(self.engine, self.handler, self.metrics.registry, self.catalogue.store)
        self.fleet.on_tick.append(self.catalogue.tick)

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
