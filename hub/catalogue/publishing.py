"""Catalogue publishing in a running hub: the store, the catalogue in force, the answers to terminals,
the announcer."""

from __future__ import annotations

from typing import Any

from hub.catalogue.announce import Announcer
from hub.catalogue.in_force import CatalogueInForce
from hub.catalogue.requests import CatalogueRequests
from hub.catalogue.store import CatalogueStore, VersionInfo
from protocol.envelope import MessageType

__all__ = ["CataloguePublishing"]


class CataloguePublishing:
    """Wires catalogue publishing into a hub: ``handler`` (ingest hooks) and ``worker`` (its MQTT client).

    ``in_force`` is the hub's one provider of the catalogue in force; a version published here is in
    force at once. With no version in the database yet, the shipped seed becomes version 1 (what
    terminals already run)."""

    def __init__(self, store: CatalogueStore, in_force: CatalogueInForce, handler: Any, worker: Any) -> None:
        self.store = store
        self.in_force = in_force
        self.store.bootstrap()
        self.store.refresh()
        self.requests = CatalogueRequests(self.store)
        handler.hooks.setdefault(MessageType.CATALOGUE_REQUEST, []).append(self.requests.on_request)
        self.announcer = Announcer(self.store, worker.client)
        self.announcer.attach(worker)

    def publish(self, actor: str, note: str = "") -> VersionInfo:
        """Publish the draft, put it in force and announce it at once."""
        info = self.store.publish(actor, note)
        self.in_force.refresh()
        self.announcer.announce()
        return info

    def tick(self) -> None:
        """Announce a version published by another process (``shegong hub catalogue publish``)."""
        self.announcer.announce()
