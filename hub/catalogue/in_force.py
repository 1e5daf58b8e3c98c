"""The catalogue in force: what routing, due dates, the web pages, reports and the CLI act on.

It is the newest published version, or the shipped seed before anything was published. A version
published in this process takes effect at once (:meth:`CatalogueInForce.refresh`, called by
:class:`hub.catalogue.publishing.CataloguePublishing`); one published by another process sharing the
database (``shegong hub catalogue publish``, another ingest worker's web page) within ``check_s``
seconds: :meth:`CatalogueInForce.current` asks the database for the newest published version number —
one tiny query, at most once per ``check_s`` — and parses a new version once (the store caches it).

What a catalogue change does to cases: cases arriving afterwards are routed by the new version, and
promised by the item their terminal accepted them under when this hub published it lately
(:meth:`CatalogueInForce.item_as_promised`), else by the new version; a case keeps the department and the
promise it got at arrival (``cases.promised_days``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from cachetools import LRUCache
from sqlalchemy import Engine

from hub.catalogue.store import CatalogueStore, Listing, VersionInfo
from kernel.db import read_only
from protocol.catalogue import Catalogue, ServiceItem, load_seed

__all__ = ["CHECK_S", "PROMISE_WINDOW", "CatalogueInForce", "catalogue_in_force"]

CHECK_S = 2.0
"""Default: how often (seconds) to look for a version published by another process."""
AGAIN_S = 0.25
"""How often at most a terminal reporting a version above the one in force makes :meth:`CatalogueInForce.published`
look again at once (while terminals run a version the hub lost, each of their heartbeats would)."""
PROMISE_WINDOW = timedelta(days=30)
"""A case accepted under an item this long after a version that no longer lists it came into force is promised
by the catalogue in force: a terminal offline for a month has been seen to (the night marks it missed after
36 hours), and a terminal cannot name an item the centre gave up long ago to stretch a case's time limit."""
CLOCK_SLACK = timedelta(minutes=15)
"""A terminal's clock may run this much behind the hub's (the skew alert is at five minutes) and still name an
item published a moment before it accepted the case."""


class CatalogueInForce:
    """One per hub process, passed to every part that reads the catalogue. Thread-safe; cheap per call."""

    def __init__(
        self,
        store: CatalogueStore,
        check_s: float = CHECK_S,
        seed: Callable[[], Catalogue] = load_seed,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.check_s = check_s
        self._seed = seed
        self._clock = clock
        self._lock = threading.Lock()
        self._version: int | None = None
        self._catalogue: Catalogue | None = None
        self._info: VersionInfo | None = None
        self._asked_at = float("-inf")
        self._checked_at = float("-inf")
        # Items the version in force does not list, as the newest version that did (None: never listed), by
        # (version in force, code): a terminal still on an older version sends them batch after batch.
        self._withdrawn: LRUCache[tuple[int | None, str], ServiceItem | None] = LRUCache(1024)
        # What published versions listed, by (code, content hash), for the version in force (it only grows with
        # publications), and the items of it asked for: what terminals on other versions accepted cases under.
        self._listings: tuple[int | None, dict[tuple[str, str], Listing]] = (None, {})
        self._promised: LRUCache[tuple[str, str], ServiceItem | None] = LRUCache(1024)

    @property
    def version(self) -> int | None:
        """The published version in force (as last checked); None while the seed applies."""
        return self._version

    def published(self, at_least: int = 0) -> VersionInfo | None:
        """The published version in force (its number, hashes, when published), rechecked as :meth:`current`
        is; None while the seed applies. What terminals should run, in every hub process: a process's
        :meth:`CatalogueStore.desired` is only as fresh as its own last publication or announcement.

        ``at_least``: a version a terminal reports. Above the one in force here, another process may have
        published it a moment ago (a terminal takes a version within a second, sooner than ``check_s``):
        the database is asked at once, at most every :data:`AGAIN_S`."""
        self.current()
        info = self._info
        if at_least > (info.version if info is not None else 0) and self._clock() - self._asked_at >= AGAIN_S:
            self._asked_at = self._clock()
            self.refresh()
            info = self._info
        return info

    def current(self) -> Catalogue:
        """The catalogue in force now (rechecked when the last check is ``check_s`` old)."""
        catalogue = self._catalogue
        if catalogue is not None and self._clock() - self._checked_at < self.check_s:
            return catalogue
        return self.refresh()

    def item(self, code: str) -> ServiceItem | None:
        """Item ``code`` as the catalogue in force lists it; one it no longer lists as the newest published
        version that did (a case from a terminal still on that version is promised what its receipt says,
        :meth:`hub.catalogue.store.CatalogueStore.last_listing`); None for a code never published."""
        found = self.current().get(code)
        if found is not None:
            return found
        key = (self._version, code)
        with self._lock:
            if key in self._withdrawn:
                return self._withdrawn[key]
        with read_only(self.store.engine).connect() as conn:
            found = self.store.last_listing(code, conn)
        with self._lock:
            self._withdrawn[key] = found
        return found

    def item_as_promised(self, code: str, item_hash: str | None, at: datetime) -> ServiceItem | None:
        """Item ``code`` as a terminal accepted a case under it at ``at`` (the content hash it names,
        ``item_hash``), when a version this hub published listed that content then or within
        :data:`PROMISE_WINDOW` before: a case accepted offline under version 3 and received once version 4 is
        in force is promised and finished as its receipt said. Otherwise (no hash, from an older terminal;
        content never published here, or out of force for longer) as :meth:`item` finds it — so a terminal
        cannot pick a promise the centre gave up long ago, and a made-up hash costs no query."""
        if item_hash is None:
            return self.item(code)
        self.current()
        version = self._version
        with self._lock:
            known, listings = self._listings
        if known != version or (version is not None and not listings):
            with read_only(self.store.engine).connect() as conn:
                listings = self.store.listings(conn)
            with self._lock:
                self._listings = (version, listings)
        listing = listings.get((code, item_hash))
        if (
            listing is None
            or listing.since > at + CLOCK_SLACK
            or (listing.until is not None and listing.until < at - PROMISE_WINDOW)
        ):
            return self.item(code)
        with self._lock:
            if (code, item_hash) in self._promised:
                return self._promised[(code, item_hash)] or self.item(code)
        with read_only(self.store.engine).connect() as conn:
            found = self.store.published_item(code, item_hash, conn)
        with self._lock:
            self._promised[(code, item_hash)] = found
        return found or self.item(code)

    def refresh(self) -> Catalogue:
        """Look at the database now: the newest published version (or the seed) becomes the one in force.

        Reads through a connection that takes no write lock (ingest calls this inside its own write
        transaction, and on SQLite a second write transaction would wait for that very one)."""
        with read_only(self.store.engine).connect() as conn:
            newest = self.store.newest_version(conn)
            known, info = self._catalogue, self._info
            if known is not None and newest == self._version:
                catalogue = known
            elif newest is None:
                catalogue, info = self._seed(), None
            else:
                published = self.store.published(newest, conn)  # parsed once per version
                catalogue, info = published.catalogue, published.info
        with self._lock:
            kept, kept_version = self._catalogue, self._version
            if kept is not None and kept_version is not None and (newest is None or newest < kept_version):
                catalogue = kept  # a slower concurrent refresh read an older version: versions only grow
            else:
                self._version, self._catalogue, self._info = newest, catalogue, info
            self._checked_at = self._clock()
        return catalogue


def catalogue_in_force(engine: Engine) -> Catalogue:
    """The catalogue in force, read once (for the CLI and one-off callers: no process keeps it)."""
    return CatalogueInForce(CatalogueStore(engine)).current()
