"""The catalogue the kiosk shows: the version last applied from the hub, or the shipped seed.

A published version is applied in one SQLite transaction, so the kiosk sees the old catalogue or the new
one, never a mix; :meth:`CatalogueStore.current` is a plain attribute read, cheap on every request.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import Engine, delete, insert
from sqlmodel import Session, col, select

from edge.store.models import CatalogueItemRow, CatalogueStateRow, table
from protocol.catalogue import Catalogue, CatalogueManifest, Department, ServiceItem, canonical_json, load_seed
from protocol.envelope import utcnow

__all__ = ["CatalogueMismatch", "CatalogueStore"]

log = logging.getLogger(__name__)
_items = table(CatalogueItemRow)  # applied in bulk


class CatalogueMismatch(ValueError):
    """What would be applied does not hash to what the hub announced; nothing was written."""


class CatalogueStore:
    """``current()`` is the catalogue to show; ``version`` what to report (0 while running the seed).

    ``on_change`` callables get the new catalogue after each apply (the kiosk rebuilds its directory)."""

    def __init__(self, engine: Engine, seed: Callable[[], Catalogue] = load_seed) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self.on_change: list[Callable[[Catalogue], None]] = []
        loaded = self._load()
        self._current = loaded or seed()
        self._version = loaded.version if loaded else 0
        self._hashes = self._current.manifest().items

    # ------------------------------------------------------------------ reading
    def current(self) -> Catalogue:
        """The catalogue in force now."""
        return self._current

    @property
    def version(self) -> int:
        """The published version applied here; 0 while the shipped seed is in force."""
        return self._version

    @property
    def content_hash(self) -> str:
        return self._current.content_hash()

    def item_hashes(self) -> dict[str, str]:
        """Item code → content hash of every item held now."""
        return dict(self._hashes)

    def _load(self) -> Catalogue | None:
        with Session(self._engine) as session:
            state = session.get(CatalogueStateRow, 1)
            if state is None:
                return None
            version, departments = state.version, state.departments
            bodies = session.exec(select(col(CatalogueItemRow.body)).order_by(col(CatalogueItemRow.position))).all()
        try:
            return Catalogue.model_validate_json(
                f'{{"version":{version},"departments":{departments},"items":[{",".join(bodies)}]}}'
            )
        except ValidationError:
            log.exception("the stored catalogue (version %s) is unreadable; running the seed", version)
            return None

    # ------------------------------------------------------------------ applying
    def assemble(
        self, manifest: CatalogueManifest, departments: list[Department], fetched: dict[str, ServiceItem]
    ) -> Catalogue:
        """The catalogue ``manifest`` describes, from ``fetched`` items and those held already.

        Raises :class:`KeyError` for an item neither fetched nor held, :class:`CatalogueMismatch` when the
        result does not hash to the manifest's content hash."""
        held = self._current
        items = []
        for code, item_hash in manifest.items.items():
            item = fetched.get(code)
            if item is None:
                kept = held.get(code)
                if kept is None or self._hashes.get(code) != item_hash:
                    raise KeyError(code)
                item = kept
            items.append(item)
        try:
            catalogue = Catalogue(version=manifest.version, departments=departments, items=items)
        except ValidationError as exc:
            raise CatalogueMismatch(f"version {manifest.version} is inconsistent: {exc.errors()[0]['msg']}") from None
        if catalogue.content_hash() != manifest.content_hash:
            raise CatalogueMismatch(f"version {manifest.version} does not hash to the announced content hash")
        return catalogue

    def apply(self, catalogue: Catalogue, at: datetime | None = None) -> None:
        """Make ``catalogue`` the one in force: all of it in one transaction, then in memory. An older version
        is refused, and so is the version in force again unless its content differs (a hub restored from an
        older backup that published that number again: its publication is the later one)."""
        with self._lock:
            same = catalogue.version == self._version and catalogue.content_hash() == self._current.content_hash()
            if catalogue.version < self._version or same:
                log.info("catalogue %d not applied: %d is in force", catalogue.version, self._version)
                return
            if catalogue.version == self._version:  # its number published again by a restored hub: the later one
                log.warning("catalogue version %d replaced by the hub's later publication of it", catalogue.version)
            rows = [
                {"code": item.code, "position": n, "hash": item.content_hash(), "body": canonical_json(item).decode()}
                for n, item in enumerate(catalogue.items)
            ]
            departments = json.dumps(
                [d.model_dump(mode="json") for d in catalogue.departments], ensure_ascii=False, separators=(",", ":")
            )
            with self._engine.begin() as conn:
                conn.execute(delete(CatalogueItemRow))
                if rows:
                    conn.execute(insert(_items), rows)
                conn.execute(delete(CatalogueStateRow))
                conn.execute(
                    insert(CatalogueStateRow).values(
                        id=1,
                        version=catalogue.version,
                        content_hash=catalogue.content_hash(),
                        departments=departments,
                        applied_at=at or utcnow(),
                    )
                )
            self._current, self._version = catalogue, catalogue.version
            self._hashes = {item.code: str(r["hash"]) for item, r in zip(catalogue.items, rows, strict=True)}
        log.info("catalogue version %d in force (%d items)", catalogue.version, len(rows))
        for listener in list(self.on_change):
            try:
                listener(catalogue)
            except Exception:
                log.exception("a catalogue listener failed")
