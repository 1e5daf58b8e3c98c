"""One terminal's parts wired together: store, alarms, cases, outbox, retention and the sync agent.

The kiosk, the console and ``shegong edge …`` all start from an :class:`EdgeRuntime`; none of them
builds these parts on its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from edge.catalogue.calendar import CalendarStore
from edge.catalogue.store import CatalogueStore
from edge.catalogue.sync import CatalogueSync
from edge.night.witness import Witness
from edge.settings import EdgeSettings
from edge.store.alarms import Alarms
from edge.store.cases import CaseStore
from edge.store.db import open_engine
from edge.store.outbox import Outbox
from edge.store.ratings import RatingStore
from edge.store.retention import Retention
from edge.sync.agent import Ask, SyncAgent
from edge.sync.help import HelpCall
from edge.sync.lookup import LookupSync
from edge.text import text as words
from protocol import topics
from protocol.envelope import utcnow
from protocol.state import CommandName

if TYPE_CHECKING:
    from edge.devices.service import DeviceService

__all__ = ["PURGE_EVERY_S", "EdgeRuntime", "app_version"]

log = logging.getLogger(__name__)
PURGE_EVERY_S = 3600.0  # the retention window is in days: an hour late costs nothing, and a run is cheap


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
        self.cases = CaseStore(self.engine, settings, self.alarms)  # its lookup key comes from the hub
        self.outbox = Outbox(self.engine)
        self.ratings = RatingStore(self.engine, settings, self.cases.sealer)  # reasons sealed as cases are
        self.retention = Retention(self.engine, settings)
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
        self.agent.ask_handlers[Ask.FETCH_CATALOGUE] = self.catalogue_sync.fetch_now
        # The hub's holiday calendar: the kiosk's promised dates agree with the centre's due dates.
        self.calendar = CalendarStore(self.engine, self.alarms)
        self.agent.retained_handlers[topics.calendar()] = self.calendar.on_announcement
        # Keeps the hub's signed daily audit anchors: those its audit key signed.
        self.witness = Witness(self.engine, settings.terminal_id, settings.hub_audit_public_key, self.alarms)
        self.agent.retained_handlers[topics.hub_anchor()] = self.witness.on_anchor
        self.agent.down_handlers[topics.Down.AUDIT] = self.witness.on_request  # the hub asks, live
        self.lookup = LookupSync(self.cases, settings.terminal_id)
        self.agent.on_online.append(self.lookup.on_online)
        self.agent.down_handlers[topics.Down.LOOKUP] = self.lookup.on_reply
        # A resident's call for staff: heard by the hub at once, answered with who is coming.
        self.help = HelpCall(self.alarms, self.agent.heartbeat_soon, words("alarm.help_requested"))
        self.agent.command_handlers[CommandName.HELP_COMING] = self.help.on_command
        # Set by whoever runs the devices (the kiosk): the control socket tests them through it.
        self.devices: DeviceService | None = None
        # Called with the staff PIN entries read again from the configuration (the kiosk's staff directory).
        self.on_staff_pins: list[Callable[[str], None]] = []
        self._stop = threading.Event()
        self._housekeeper: threading.Thread | None = None

    def start_sync(self) -> None:
        """Start the sync agent, and the retention purge beside it: a running terminal does both."""
        self.agent.start()
        self.start_housekeeping()

    def start_housekeeping(self, every_s: float = PURGE_EVERY_S) -> None:
        """Purge what the retention window allows now and every ``every_s`` seconds, in a daemon thread."""
        if self._housekeeper is None:
            self._housekeeper = threading.Thread(
                target=self._housekeeping, args=(every_s,), name="edge-retention", daemon=True
            )
            self._housekeeper.start()

    def _housekeeping(self, every_s: float) -> None:
        while not self._stop.is_set():
            try:
                self.retention.purge()
            except Exception:  # a locked or full database now is no reason to stop purging later
                log.exception("retention purge failed; trying again in %.0f s", every_s)
            self._stop.wait(every_s)

    def close(self) -> None:
        self._stop.set()
        self.agent.stop()
        if self._housekeeper is not None:
            self._housekeeper.join(10)
        self.outbox.close()
        self.engine.dispose()

    def __enter__(self) -> EdgeRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
