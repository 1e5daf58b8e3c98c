"""One terminal's parts wired together: store, alarms, cases, outbox and the sync agent.

The kiosk, the console and ``shegong edge …`` all start from an :class:`EdgeRuntime`; none of them
builds these parts on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version

from edge.catalogue.store import CatalogueStore
from edge.catalogue.sync import CatalogueSync
from edge.settings import EdgeSettings
from edge.store.alarms import Alarms
from edge.store.cases import CaseStore
from edge.store.db import device_secret, open_engine
from edge.store.outbox import Outbox
from edge.store.ratings import RatingStore
from edge.sync.agent import SyncAgent
from protocol import topics
from protocol.envelope import utcnow

__all__ = ["EdgeRuntime", "app_version"]


def app_version() -> str:
    try:
        return version("shegong")
    except PackageNotFoundError:
        return "dev"


class EdgeRuntime:
    def __init__(
        self,
        settings: EdgeSettings,
        health: Callable[[], dict[str, object]] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.engine = open_engine(settings)
        self.alarms = Alarms(self.engine)
        self.cases = CaseStore(self.engine, settings, device_secret(settings), self.alarms)
        self.outbox = Outbox(self.engine)
        self.ratings = RatingStore(self.engine, settings)
        self.catalogue = CatalogueStore(self.engine)  # .current(): the catalogue to show (seed until published)
        self.agent = SyncAgent(
            settings,
            self.outbox,
            self.cases,
            self.alarms,
            health=health,
            app_version=app_version(),
            clock=clock,
            catalogue_version=lambda: self.catalogue.version,
        )
        self.catalogue_sync = CatalogueSync(self.catalogue, settings.terminal_id, clock=clock)
        self.agent.retained_handlers[topics.catalogue()] = self.catalogue_sync.on_announcement
        self.agent.down_handlers[topics.Down.CATALOGUE] = self.catalogue_sync.on_reply
        self.agent.on_online.append(self.catalogue_sync.on_online)

    def start_sync(self) -> None:
        self.agent.start()

    def close(self) -> None:
        self.agent.stop()
        self.engine.dispose()

    def __enter__(self) -> EdgeRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
