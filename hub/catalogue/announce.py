"""The desired version, retained on ``shegong/v1/catalogue``: announced by the running hub at every
connect and whenever a newer version is published — in this process at once, by another process
(``shegong hub catalogue publish``, which does not connect to the broker) at the leader's next periodic
check."""

from __future__ import annotations

import logging
import threading
from typing import Any

import paho.mqtt.client as mqtt

from hub.catalogue.store import CatalogueStore, VersionInfo
from protocol import topics
from protocol.catalogue_sync import AnnouncementBody, CatalogueAnnouncement

__all__ = ["Announcer", "announcement"]

log = logging.getLogger(__name__)


def announcement(info: VersionInfo) -> bytes:
    assert info.published_at is not None
    body = AnnouncementBody(
        version=info.version,
        content_hash=info.content_hash,
        manifest_hash=info.manifest_hash,
        items=info.items,
        published_at=info.published_at,
    )
    return CatalogueAnnouncement(terminal="hub", body=body).encode()


class Announcer:
    """Keeps the retained announcement equal to the newest published version, through the ingest
    worker's MQTT client (``client``)."""

    def __init__(self, store: CatalogueStore, client: mqtt.Client) -> None:
        self.store = store
        self.client = client
        self.announced: int | None = None
        self._lock = threading.Lock()

    def attach(self, worker: Any) -> None:
        """Announce again at every connect of ``worker`` (the broker may have lost the retained copy)."""
        original = worker.client.on_connect

        def on_connect(client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
            original(client, userdata, flags, reason, props)
            if not reason.is_failure:
                self._publish(self.store.desired())  # no database work in paho's thread: the cached version

        worker.client.on_connect = on_connect

    def announce(self, force: bool = False) -> VersionInfo | None:
        """Publish the newest version if it was not announced yet (or always, with ``force``)."""
        with self._lock:
            latest = self.store.refresh()
            if latest is None or (latest.version == self.announced and not force):
                return latest
            if self.client.is_connected():
                self._publish(latest)
            return latest

    def _publish(self, info: VersionInfo | None) -> None:
        if info is None:
            return
        self.client.publish(topics.catalogue(), announcement(info), qos=1, retain=True)
        if self.announced != info.version:
            log.info("catalogue version %d announced", info.version)
        self.announced = info.version
