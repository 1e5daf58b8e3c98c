"""Fleet health in a running hub: the registry's ingest hooks, its evaluator thread and the Prometheus
figures, with the catalogue's desired version for the rollout."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry

from hub.catalogue.in_force import CatalogueInForce
from hub.fleet.assess import Desired
from hub.fleet.metrics import FleetCollector
from hub.fleet.registry import Fleet
from hub.settings import FleetSettings

__all__ = ["FleetService"]


class FleetService:
    def __init__(
        self,
        engine: Any,
        handler: Any,
        registry: CollectorRegistry,
        settings: FleetSettings,
        catalogue: CatalogueInForce | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.registry = Fleet(engine, settings, desired=self.desired)
        self.registry.attach(handler)
        registry.register(FleetCollector(engine, lambda: self.registry.settings, self.desired))

    @property
    def settings(self) -> FleetSettings:
        return self.registry.settings

    @property
    def on_tick(self) -> list[Callable[[], object]]:
        return self.registry.on_tick

    def desired(self, at_least: int = 0) -> Desired | None:
        """The published version in force, as every process of the hub sees it (looked for again at once
        when a terminal reports ``at_least``, a version above it). A follower's own cache was the version of
        its start, so its ingest hooks assessed terminals against an older one than the leader's evaluator
        (alerts raised by one, cleared by the other, heartbeat after heartbeat)."""
        info = self.catalogue.published(at_least) if self.catalogue is not None else None
        if info is None or info.published_at is None:
            return None
        return Desired(info.version, info.published_at)

    def start(self) -> None:
        self.registry.start()

    def stop(self) -> None:
        self.registry.stop()
