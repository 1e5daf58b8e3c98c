"""Following the hub's catalogue: desired version announced (retained), reported version sent back.

Runs inside the sync agent's thread through its extension points: ``on_announcement`` for the retained
``shegong/v1/catalogue`` topic, ``on_reply`` for ``down/catalogue``. Each returns the messages to publish.

- An announcement not newer than the version in force, or older than the one being fetched, is ignored:
  an older announcement never overwrites a newer one. Ignored is not unseen: one with other content than
  the catalogue in force (a hub restored from a backup older than its last publication) is logged and
  reported to the hub as a conflict, whose fleet page shows it. The same version with other content is
  fetched and applied: a version is never published twice, so that one is the hub's newer publication.
- A request names what the terminal runs; the reply carries the full manifest (checked against the
  announced manifest hash) and the items that changed. Items still missing are asked for by code.
- The new version is applied in one transaction and reported; a failure is reported with its error.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from edge.catalogue.store import CatalogueMismatch, CatalogueStore
from protocol import topics
from protocol.catalogue import CatalogueManifest, Department, ServiceItem
from protocol.catalogue_sync import (
    MAX_FETCH,
    AnnouncementBody,
    CatalogueAnnouncement,
    CatalogueReply,
    CatalogueReport,
    CatalogueReportBody,
    CatalogueRequest,
    CatalogueRequestBody,
    ReplyStatus,
    ReportStatus,
    manifest_hash,
)
from protocol.codec import decode
from protocol.envelope import Envelope, ProtocolError, utcnow

__all__ = ["CatalogueSync"]

log = logging.getLogger(__name__)
Outgoing = tuple[str, bytes]
MAX_FETCH_ROUNDS = 5  # replies that bring nothing new before the terminal gives up on this version
REPEAT_AFTER_S = 15.0  # the same announcement again within this time (hub restart, CLI) is not a new request


class CatalogueSync:
    """The terminal's side of catalogue publishing; ``pending`` correlation ids pair replies with requests."""

    def __init__(self, store: CatalogueStore, terminal_id: str, clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.terminal_id = terminal_id
        self._clock = clock
        self._lock = threading.Lock()
        self.desired: AnnouncementBody | None = None
        self._announced: AnnouncementBody | None = None  # the newest announcement heard, kept after a failure
        self._pending: set[uuid.UUID] = set()
        self._manifest: CatalogueManifest | None = None
        self._departments: list[Department] = []
        self._fetched: dict[str, ServiceItem] = {}
        self._rounds = 0
        self._last_request = 0.0
        self.conflict: AnnouncementBody | None = None  # the hub's announcement below the version in force
        self.failure = ""  # why the last attempt to take a version failed, until one is applied
        self.stats = {
            "announcements": 0,
            "ignored": 0,
            "requests": 0,
            "replies": 0,
            "items": 0,
            "applied": 0,
            "failed": 0,
            "conflicts": 0,  # announcements of an older version with other content (a restored hub)
        }

    # ------------------------------------------------------------------ announcements
    def on_announcement(self, payload: bytes) -> list[Outgoing]:
        """The retained desired version (sent again at every subscribe)."""
        if not payload:
            return []
        try:
            message = decode(payload, ignore_unknown=True)  # the hub may be newer (protocol.codec)
        except ProtocolError as exc:
            log.error("refused a catalogue announcement: %s", exc)
            return []
        if not isinstance(message, CatalogueAnnouncement):
            log.error("refused a %s on the catalogue topic", message.type.value)
            return []
        a = message.body
        with self._lock:
            self.stats["announcements"] += 1
            if self._announced is None or a.version >= self._announced.version:
                self._announced = a
            self.conflict = a if self._conflicts(a) else None
            if self.conflict is not None:
                return [self._conflict(a)]
            if not self._wanted(a) or (self.desired is not None and a.version < self.desired.version):
                self.stats["ignored"] += 1
                log.info("catalogue announcement %d ignored: %d in force", a.version, self.store.version)
                return []
            if self.desired is None or a.version != self.desired.version or a.content_hash != self.desired.content_hash:
                self._restart(a)
            elif self._pending and time.monotonic() - self._last_request < REPEAT_AFTER_S:
                return []  # the request for it is on its way
            return [self._request(None)]

    def fetch_now(self) -> tuple[str, list[Outgoing]]:
        """A technician's "fetch now" (in the agent's thread, online): ask the hub at once for the newest
        version it announced, from the start, even after a failed attempt. The outcome: ``requested``,
        ``up_to_date`` (that version is in force) or ``no_announcement`` (the hub announced none yet)."""
        with self._lock:
            a = self._announced
            if a is None:
                return "no_announcement", []
            if not self._wanted(a):
                return "up_to_date", []
            self._restart(a)
            log.info("catalogue version %d asked for now, by the maintenance console", a.version)
            return "requested", [self._request(None)]

    def _wanted(self, a: AnnouncementBody) -> bool:
        """Whether ``a`` is to be fetched: newer than the version in force, or that very version with other
        content (a hub restored from an older backup published its number again: the hub's is the later)."""
        return a.version > self.store.version or (
            a.version == self.store.version and a.content_hash != self.store.content_hash
        )

    def _conflicts(self, a: AnnouncementBody) -> bool:
        """Whether ``a`` announces a version below the one in force with other content: the hub no longer
        holds the catalogue this terminal runs (its database was restored from an older backup)."""
        return a.version < self.store.version and a.content_hash != self.store.content_hash

    def _conflict(self, a: AnnouncementBody) -> Outgoing:
        """Keep the catalogue in force (it is the newest one the centre published; an older announcement never
        overwrites it), but say so: a warning here and a failed report to the hub, shown on the terminal's
        fleet page, until the hub publishes a version above this one (it numbers its next one so)."""
        self.stats["ignored"] += 1
        self.stats["conflicts"] += 1
        error = (
            f"the hub announces version {a.version}, older than version {self.store.version} in force here "
            "and with other content: the hub's database is older than its last publication (restored from "
            "a backup?); this terminal keeps its version until the hub publishes a newer one"
        )
        log.warning("catalogue announcement %d not applied: %s", a.version, error)
        return self._report(None, ReportStatus.FAILED, error, a.version)

    def state(self) -> dict[str, Any]:
        """For the maintenance console: the newest version the hub announced, a conflicting announcement's
        version (the hub's database older than the catalogue in force here), the last failure."""
        with self._lock:
            return {
                "catalogue_announced": self._announced.version if self._announced else None,
                "catalogue_conflict": self.conflict.version if self.conflict else None,
                "catalogue_failure": self.failure,
            }

    def on_online(self) -> list[Outgoing]:
        """A new connection: requests sent before it may be lost, so the next announcement asks again."""
        with self._lock:
            self._last_request = 0.0
        return []

    def _restart(self, desired: AnnouncementBody) -> None:
        self.desired = desired
        self._pending.clear()
        self._manifest, self._departments, self._fetched, self._rounds = None, [], {}, 0

    def _request(self, fetch: list[str] | None) -> Outgoing:
        assert self.desired is not None
        body = CatalogueRequestBody(
            version=self.desired.version,
            have_version=self.store.version,
            have_hash=self.store.content_hash,
            fetch=fetch,
        )
        self._pending.add(body.correlation_id)
        self._last_request = time.monotonic()
        self.stats["requests"] += 1
        message = CatalogueRequest(terminal=self.terminal_id, sent_at=self._clock(), body=body)
        return topics.up(self.terminal_id, topics.Up.CATALOGUE), message.encode()

    # ------------------------------------------------------------------ replies
    def on_reply(self, message: Envelope) -> list[Outgoing]:
        """A reply on ``down/catalogue``: check it, keep its items, ask for the rest or apply."""
        if not isinstance(message, CatalogueReply):
            return []
        r = message.body
        with self._lock:
            self.stats["replies"] += 1
            self.stats["items"] += len(r.items)
            if r.correlation_id not in self._pending or self.desired is None or r.version != self.desired.version:
                log.info("catalogue reply %s for version %d is stale; ignored", r.correlation_id, r.version)
                return []
            if r.status is ReplyStatus.ERROR:
                return [self._failed(r.correlation_id, f"hub: {r.error}")]
            if self._manifest is None:
                problem = self._check_manifest(r.manifest)
                if problem:
                    return [self._failed(r.correlation_id, problem)]
                self._manifest, self._departments = r.manifest, list(r.departments)
            assert self._manifest is not None
            new = 0
            for item in r.items:
                if self._manifest.items.get(item.code) == item.content_hash():
                    new += item.code not in self._fetched
                    self._fetched[item.code] = item
                else:
                    log.warning("catalogue item %s does not match the manifest; ignored", item.code)
            held = self.store.item_hashes()
            missing = [
                code for code, h in self._manifest.items.items() if code not in self._fetched and held.get(code) != h
            ]
            if missing:
                self._rounds = 0 if new else self._rounds + 1
                if self._rounds >= MAX_FETCH_ROUNDS:
                    return [self._failed(r.correlation_id, f"the hub does not send {len(missing)} item(s)")]
                return [self._request(missing[:MAX_FETCH])]  # the rest in the next request
            return [self._apply(r.correlation_id)]

    def _check_manifest(self, manifest: CatalogueManifest | None) -> str:
        assert self.desired is not None
        if manifest is None:
            return "reply without a manifest"
        if manifest.version != self.desired.version or manifest.content_hash != self.desired.content_hash:
            return "manifest differs from the announcement"
        if manifest_hash(manifest) != self.desired.manifest_hash:
            return "manifest does not hash to the announced manifest hash"
        return ""

    def _apply(self, correlation_id: uuid.UUID) -> Outgoing:
        assert self._manifest is not None
        departments = self._departments or list(self.store.current().departments)
        try:
            catalogue = self.store.assemble(self._manifest, departments, self._fetched)
            self.store.apply(catalogue, self._clock())
        except (CatalogueMismatch, KeyError) as exc:
            return self._failed(correlation_id, f"cannot apply: {exc}")
        self.stats["applied"] += 1
        self.failure = ""
        self._pending.clear()
        self._manifest, self._fetched = None, {}
        return self._report(correlation_id, ReportStatus.APPLIED)

    def _failed(self, correlation_id: uuid.UUID, error: str) -> Outgoing:
        """Report the failure; a later announcement of the same version (e.g. at reconnect) tries again."""
        log.error("catalogue version %s not applied: %s", self.desired.version if self.desired else "?", error)
        self.stats["failed"] += 1
        failed = self.desired.version if self.desired else 0
        self.failure = f"v{failed}: {error}"
        self.desired = None
        self._pending.clear()
        self._manifest, self._fetched = None, {}
        return self._report(correlation_id, ReportStatus.FAILED, error, failed)

    def _report(
        self, correlation_id: uuid.UUID | None, status: ReportStatus, error: str = "", failed: int = 0
    ) -> Outgoing:
        body = CatalogueReportBody(
            correlation_id=correlation_id,
            version=self.store.version,
            content_hash=self.store.content_hash,
            status=status,
            error=error[:300],
            failed_version=failed,
            applied_at=self._clock(),
        )
        message = CatalogueReport(terminal=self.terminal_id, sent_at=self._clock(), body=body)
        return topics.up(self.terminal_id, topics.Up.CATALOGUE), message.encode()

    def report(self) -> list[Outgoing]:
        """The version in force, as a report (sent on connect, so the hub's view is fresh after an outage)."""
        with self._lock:
            return [self._report(None, ReportStatus.APPLIED)]
