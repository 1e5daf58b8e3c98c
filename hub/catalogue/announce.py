"""The desired version, retained on ``shegong/v1/catalogue``: announced by the leading hub process at
every connect and whenever a newer version is published — in this process at once, by another process
(``shegong hub catalogue publish``, which does not connect to the broker) at the leader's next periodic
check. A follower never announces at its connect: it would announce the version it read last, perhaps
at its start, and a retained announcement older than the version in force reaches no terminal that
lacks the newer one (and every terminal running that one reports it as a conflict)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
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
        #: Whether this process leads (hub.leader): only the leader announces at a connect.
        self.leading: Callable[[], bool] = lambda: True
        self._ahead: tuple[int, int] | None = None  # (newest published, highest reported) last warned of

    def attach(self, worker: Any) -> None:
        """Announce again at every connect of ``worker`` (the broker may have lost the retained copy)."""
        original = worker.client.on_connect

        def on_connect(client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
            original(client, userdata, flags, reason, props)
            if reason.is_failure:
                return
            if self.leading():
                self._publish(self.store.desired())  # no database work in paho's thread: the cached version
            else:
                self.announced = None  # announce afresh (from the database) whenever this process leads

        worker.client.on_connect = on_connect

    def announce(self, force: bool = False) -> VersionInfo | None:
        """Publish the newest version if it was not announced yet (or always, with ``force``)."""
        with self._lock:
            latest = self.store.refresh()
            if latest is not None:
                self._warn_if_behind_terminals(latest)
            if latest is None or (latest.version == self.announced and not force):
                return latest
            if self.client.is_connected():
                self._publish(latest)
            return latest

    def _warn_if_behind_terminals(self, latest: VersionInfo) -> None:
        """Say once (per pair of versions) that terminals run a catalogue version above the newest this hub
        published: its database is older than its last publication. The terminals keep what they run and
        take nothing this hub announces until it publishes above it (docs/catalogue.md)."""
        reported = self.store.highest_reported()
        ahead = (latest.version, reported) if reported > latest.version else None
        if ahead is not None and ahead != self._ahead:
            log.warning(
                "catalogue: terminals run version %d, above this hub's newest published version %d: the hub's "
                "database is older than its last publication (restored from a backup?). The terminals keep "
                "version %d; check the catalogue and publish it again (`shegong hub catalogue export`, "
                "`import`, `publish`): it becomes version %d and every terminal takes it",
                reported,
                latest.version,
                reported,
                reported + 1,
            )
        self._ahead = ahead

    def _publish(self, info: VersionInfo | None) -> None:
        if info is None:
            return
        self.client.publish(topics.catalogue(), announcement(info), qos=1, retain=True)
        if self.announced != info.version:
            log.info("catalogue version %d announced", info.version)
        self.announced = info.version
