"""Catalogue versions at the hub: one draft to edit, published versions that never change.

Every version is kept whole (items as canonical JSON, one row each, with its content hash), so the hub
can tell any terminal what changed between the version it runs and the one it wants. Publishing turns
the draft into the next version and appends to the audit chain in the same transaction.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from hub.audit.chain import AuditRecord, append
from hub.cases.routing import UNROUTED
from hub.cases.states import OPEN
from hub.catalogue import translations
from hub.db.models import CaseRow, CatalogueItemRow, CatalogueVersionRow, FleetTerminalRow, HubRestoreRow, table
from hub.errors import HubError, NotFound
from hub.text import text
from kernel.db import transaction_lock
from protocol.catalogue import Catalogue, CatalogueManifest, ServiceItem, canonical_json, load_seed
from protocol.catalogue_sync import manifest_hash
from protocol.envelope import utcnow

__all__ = [
    "MAX_AHEAD",
    "CatalogueError",
    "ItemChanged",
    "CatalogueStore",
    "Published",
    "VersionInfo",
    "newest_version",
    "restored_above",
]

log = logging.getLogger(__name__)
_versions, _items = table(CatalogueVersionRow), table(CatalogueItemRow)
_EDIT_LOCK = 730_003  # PostgreSQL advisory lock: one change of the draft or publication at a time


def _editing(conn: Connection) -> Connection:
    """``conn``'s transaction, alone among the catalogue's editors (SQLite: its one writer already is): an
    item saved while the draft was being published changed the published version after the fact (a
    concurrency review: terminals refused its manifest; workers routed by two different versions)."""
    return transaction_lock(conn, _EDIT_LOCK)


_fleet, _restores, _cases = table(FleetTerminalRow), table(HubRestoreRow), table(CaseRow)


MAX_AHEAD = 1000
"""How far above the hub's newest version a version a terminal reports may number the next publication. A
terminal runs only versions a hub published, and a restore loses a few publications, not a thousand: a
terminal reporting more misreports (a fault, or someone else's software with its credentials). It is
alerted on (``catalogue_ahead``), not obeyed: one terminal cannot push every later version number up, out
of the columns' range in the end, and stop publishing for all."""


def restored_above(conn: Connection) -> int:
    """The highest number a restore of this database said versions continue above (0: never restored)."""
    return int(conn.execute(select(func.max(_restores.c.catalogue_above))).scalar() or 0)


def newest_version(conn: Connection) -> int:
    """The highest version number this database holds, its draft's included (0: none)."""
    return int(conn.execute(select(func.max(_versions.c.version))).scalar() or 0)


class CatalogueError(HubError):
    """An edit, import or publication that cannot be done as asked."""


class ItemChanged(CatalogueError):
    """The item was saved by someone else since the editor opened it: this save would undo theirs."""

    status_code = 409


REPLACE_ANY = "*"
"""``replaces`` for :meth:`CatalogueStore.import_catalogue` that replaces whatever draft is there."""


class DraftChanged(CatalogueError):
    """The draft holds unpublished changes the caller did not agree to replace (or changed since they did)."""

    status_code = 409


@dataclass(frozen=True, slots=True)
class VersionInfo:
    version: int
    content_hash: str
    manifest_hash: str
    items: int
    note: str
    created_at: datetime
    created_by: str
    published_at: datetime | None
    published_by: str

    @property
    def draft(self) -> bool:
        return self.published_at is None


@dataclass(frozen=True, slots=True)
class Listing:
    """When published versions listed one item's content (:meth:`CatalogueStore.listings`)."""

    since: datetime  # the first version listing it was published
    until: datetime | None  # a version no longer listing it came into force (None: it is in force)


@dataclass(frozen=True, slots=True)
class Published:
    """A published version as the request handler needs it: parsed once, kept in memory."""

    info: VersionInfo
    catalogue: Catalogue
    manifest: CatalogueManifest
    sizes: dict[str, int]  # item code -> bytes of its JSON, to fill a reply without overflowing it


def _audit(conn: Connection, at: datetime, actor: str, action: str, version: int, data: dict[str, Any]) -> None:
    """Every change of a draft and every publication goes into the audit chain, under who made it."""
    append(conn, [AuditRecord(at, actor, action, f"catalogue:{version}", data)])


def _keeps_departments_with_open_cases(conn: Connection, published: Catalogue, catalogue: Catalogue) -> None:
    """:class:`CatalogueError` when ``catalogue`` leaves out a department of the ``published`` version that
    holds open cases: the queues, the overdue board and the search list the departments of the catalogue in
    force, so those cases would vanish from every clerk's and manager's view (a catalogue manager's review).
    (A department no version listed — a fixed router's, in tests and benchmarks — is not dropped by this one.)"""
    dropped = sorted({d.code for d in published.departments} - {d.code for d in catalogue.departments} - {UNROUTED})
    if not dropped:
        return
    held = conn.execute(
        select(_cases.c.department, func.count())
        .where(_cases.c.status.in_(sorted(s.value for s in OPEN)), _cases.c.department.in_(dropped))
        .group_by(_cases.c.department)
        .order_by(_cases.c.department)
    ).all()
    if held:
        named = ", ".join(f"{department} ({n})" for department, n in held)
        raise CatalogueError(text("catalogue_error", "department_holds_cases", departments=named))


def _departments_json(catalogue: Catalogue) -> str:
    return json.dumps(
        [d.model_dump(mode="json") for d in catalogue.departments], ensure_ascii=False, separators=(",", ":")
    )


class CatalogueStore:
    """The hub's catalogue versions. Published versions are cached (they never change)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._published: dict[int, Published] = {}
        self._by_hash: dict[str, int] = {}
        self._desired: VersionInfo | None = None

    def desired(self) -> VersionInfo | None:
        """The newest published version as last read (:meth:`refresh`, :meth:`publish`): never touches the
        database, so ingest hooks may call it inside their transaction."""
        return self._desired

    def refresh(self) -> VersionInfo | None:
        """Read the newest published version again (one published by another process, say)."""
        self._desired = self.latest()
        return self._desired

    # ------------------------------------------------------------------ reading
    def versions(self, limit: int = 100) -> list[VersionInfo]:
        """Newest first, the draft (if any) included."""
        with self.engine.connect() as conn:
            return self._infos(conn, select(_versions).order_by(_versions.c.version.desc()).limit(limit))

    def newest_version(self, conn: Connection) -> int | None:
        """The newest published version's number: the tiny query :class:`CatalogueInForce` asks often."""
        q = select(func.max(_versions.c.version)).where(_versions.c.published_at.is_not(None))
        found = conn.execute(q).scalar()
        return int(found) if found is not None else None

    def latest(self, conn: Connection | None = None) -> VersionInfo | None:
        """The newest published version: the desired one."""
        q = select(_versions).where(_versions.c.published_at.is_not(None)).order_by(_versions.c.version.desc()).limit(1)
        if conn is not None:
            found = self._infos(conn, q)
        else:
            with self.engine.connect() as c:
                found = self._infos(c, q)
        return found[0] if found else None

    def _infos(self, conn: Connection, q: Any) -> list[VersionInfo]:
        rows = conn.execute(q).mappings().all()
        counts: dict[int, int] = dict(
            conn.execute(
                select(_items.c.version, func.count())
                .where(_items.c.version.in_([r["version"] for r in rows]))
                .group_by(_items.c.version)
            ).all()
        )
        return [
            VersionInfo(
                version=r["version"],
                content_hash=r["content_hash"],
                manifest_hash=r["manifest_hash"],
                items=counts.get(r["version"], 0),
                note=r["note"],
                created_at=r["created_at"],
                created_by=r["created_by"],
                published_at=r["published_at"],
                published_by=r["published_by"],
            )
            for r in rows
        ]

    def _read(self, conn: Connection, version: int) -> Catalogue:
        row = conn.execute(select(_versions).where(_versions.c.version == version)).mappings().first()
        if row is None:
            raise NotFound(text("catalogue_error", "no_version", version=version))
        bodies = conn.execute(
            select(_items.c.body).where(_items.c.version == version).order_by(_items.c.position)
        ).scalars()
        return Catalogue.model_validate_json(
            f'{{"version":{version},"departments":{row["departments"]},"items":[{",".join(bodies)}]}}'
        )

    def last_listing(self, code: str, conn: Connection) -> ServiceItem | None:
        """Item ``code`` as the newest published version that lists it, or None if none ever did: an item
        a later version withdrew, as a terminal still on that version promised it on its receipts."""
        q = (
            select(_items.c.body)
            .join(_versions, _versions.c.version == _items.c.version)
            .where(_items.c.code == code, _versions.c.published_at.is_not(None))
            .order_by(_items.c.version.desc())
            .limit(1)
        )
        body = conn.execute(q).scalar()
        return ServiceItem.model_validate_json(body) if body is not None else None

    def item_hashes(self, version: int, conn: Connection | None = None) -> dict[str, str]:
        """Item code → content hash in ``version`` (the draft's too), as stored: no item read."""
        if conn is None:
            with self.engine.connect() as c:
                return self.item_hashes(version, c)
        rows = conn.execute(select(_items.c.code, _items.c.hash).where(_items.c.version == version))
        return {code: item_hash for code, item_hash in rows}

    def departments_json(self, version: int, conn: Connection | None = None) -> str:
        """``version``'s departments as stored."""
        if conn is None:
            with self.engine.connect() as c:
                return self.departments_json(version, c)
        return str(conn.execute(select(_versions.c.departments).where(_versions.c.version == version)).scalar())

    def content_token(self, version: int, conn: Connection | None = None) -> str:
        """A hash of what ``version`` holds — its departments and its items' content hashes, as stored — to
        compare without reading a thousand items: an equal token, nothing a manager would lose."""
        if conn is None:
            with self.engine.connect() as c:
                return self.content_token(version, c)
        held = [self.departments_json(version, conn), sorted(self.item_hashes(version, conn).items())]
        return "sha256:" + hashlib.sha256(json.dumps(held).encode()).hexdigest()

    def listings(self, conn: Connection) -> dict[tuple[str, str], Listing]:
        """Every item content any published version listed, by (code, content hash): when a version first
        listed it, and when a version that no longer did came into force after the last one that did."""
        published = conn.execute(
            select(_versions.c.version, _versions.c.published_at)
            .where(_versions.c.published_at.is_not(None))
            .order_by(_versions.c.version)
        ).all()
        at = {version: when for version, when in published}
        after = {v: published[n + 1][1] for n, (v, _) in enumerate(published[:-1])}
        rows = conn.execute(
            select(_items.c.code, _items.c.hash, func.min(_items.c.version), func.max(_items.c.version))
            .join(_versions, _versions.c.version == _items.c.version)
            .where(_versions.c.published_at.is_not(None))
            .group_by(_items.c.code, _items.c.hash)
        )
        return {(code, h): Listing(at[first], after.get(last)) for code, h, first, last in rows}

    def published_item(self, code: str, item_hash: str, conn: Connection) -> ServiceItem | None:
        """Item ``code`` with content hash ``item_hash`` as some published version lists it, or None: what a
        terminal accepted a case under (``CaseSubmission.item_hash``), though another version is in force."""
        q = (
            select(_items.c.body)
            .join(_versions, _versions.c.version == _items.c.version)
            .where(_items.c.code == code, _items.c.hash == item_hash, _versions.c.published_at.is_not(None))
            .limit(1)
        )
        body = conn.execute(q).scalar()
        return ServiceItem.model_validate_json(body) if body is not None else None

    def published(self, version: int, conn: Connection | None = None) -> Published:
        """A published version; :class:`NotFound` if there is none (or it is still a draft)."""
        hit = self._published.get(version)
        if hit is not None:
            return hit
        if conn is None:
            with self.engine.connect() as c:
                return self.published(version, c)
        infos = self._infos(conn, select(_versions).where(_versions.c.version == version))
        if not infos or infos[0].draft:
            raise NotFound(text("catalogue_error", "not_published", version=version))
        catalogue = self._read(conn, version)
        hit = Published(
            info=infos[0],
            catalogue=catalogue,
            manifest=catalogue.manifest(),
            sizes={item.code: len(canonical_json(item)) for item in catalogue.items},
        )
        with self._lock:
            self._published[version] = hit
            self._by_hash.setdefault(hit.info.content_hash, version)
        return hit

    def version_with_hash(self, content_hash: str, conn: Connection | None = None) -> int | None:
        """A published version whose content hashes to ``content_hash`` (what a terminal says it runs)."""
        if not content_hash:
            return None
        if content_hash in self._by_hash:
            return self._by_hash[content_hash]
        q = (
            select(_versions.c.version)
            .where(_versions.c.content_hash == content_hash, _versions.c.published_at.is_not(None))
            .order_by(_versions.c.version.desc())
            .limit(1)
        )
        if conn is None:
            with self.engine.connect() as c:
                found = c.execute(q).scalar()
        else:
            found = conn.execute(q).scalar()
        if found is not None:
            with self._lock:
                self._by_hash[content_hash] = found
        return found

    def get(self, version: int | None = None) -> Catalogue:
        """A version (the draft included) as a catalogue; without ``version``, the newest published one."""
        with self.engine.connect() as conn:
            if version is None:
                latest = self.latest(conn)
                if latest is None:
                    raise NotFound(text("catalogue_error", "none_published"))
                version = latest.version
            return self._read(conn, version)

    def draft(self) -> Catalogue | None:
        with self.engine.connect() as conn:
            version = self._draft_version(conn)
            return self._read(conn, version) if version is not None else None

    def _draft_version(self, conn: Connection) -> int | None:
        return conn.execute(select(_versions.c.version).where(_versions.c.published_at.is_(None))).scalar()

    # ------------------------------------------------------------------ editing
    def _write(self, conn: Connection, catalogue: Catalogue, actor: str, note: str, at: datetime) -> None:
        conn.execute(delete(_items).where(_items.c.version == catalogue.version))
        conn.execute(delete(_versions).where(_versions.c.version == catalogue.version))
        conn.execute(
            insert(_versions).values(
                version=catalogue.version,
                content_hash=catalogue.content_hash(),
                manifest_hash="",
                departments=_departments_json(catalogue),
                note=note[:200],
                created_at=at,
                created_by=actor,
                published_at=None,
                published_by="",
            )
        )
        rows = [
            {
                "version": catalogue.version,
                "code": item.code,
                "position": n,
                "hash": item.content_hash(),
                "body": canonical_json(item).decode(),
            }
            for n, item in enumerate(catalogue.items)
        ]
        if rows:
            conn.execute(insert(_items), rows)

    def highest_reported(self, conn: Connection | None = None) -> int:
        """The highest catalogue version any terminal reported running (births, heartbeats, reports: the
        fleet's rows), 0 when none did. Above the newest published version, the hub's database is older
        than its last publication: restored from a backup taken before it. A version more than
        :data:`MAX_AHEAD` above every version held is not counted."""
        own = select(func.coalesce(func.max(_versions.c.version), 0)).scalar_subquery()
        q = select(func.max(_fleet.c.catalogue_version)).where(_fleet.c.catalogue_version <= own + MAX_AHEAD)
        if conn is None:
            with self.engine.connect() as c:
                return int(c.execute(q).scalar() or 0)
        return int(conn.execute(q).scalar() or 0)

    def publication(self) -> tuple[int, int] | None:
        """What publishing the draft now would do, for the page that asks first: the version it would become
        (its number, or one above the highest version a terminal runs) and that highest version; None
        without a draft."""
        with self.engine.connect() as conn:
            version = self._draft_version(conn)
            if version is None:
                return None
            reported = self.highest_reported(conn)
            return max(version, reported + 1, restored_above(conn) + 1), reported

    def _next_version(self, conn: Connection) -> int:
        """Above every version this database holds, every version a terminal runs and every number a restore
        passed: a hub restored from a backup older than its last publication would otherwise number its
        next one at or below what the terminals run, and they would never take it (a terminal ignores an
        announcement not newer than its own), or give a number twice."""
        return max(newest_version(conn), self.highest_reported(conn), restored_above(conn)) + 1

    def start_draft(self, actor: str) -> int:
        """The draft's version, copying the newest published version into a new draft if there is none."""
        with self.engine.begin() as conn:
            return self._draft(_editing(conn), actor)

    def _draft(self, conn: Connection, actor: str) -> int:
        """:meth:`start_draft` in the caller's transaction."""
        version = self._draft_version(conn)
        if version is not None:
            return version
        latest = self.latest(conn)
        if latest is None:
            raise CatalogueError(text("catalogue_error", "import_first"))
        base = self._read(conn, latest.version)
        draft = base.model_copy(update={"version": self._next_version(conn)})
        at = utcnow()
        self._write(conn, draft, actor, text("catalogue_note", "based_on", version=latest.version), at)
        _audit(conn, at, actor, "catalogue.draft_started", draft.version, {"base": latest.version})
        return draft.version

    def import_catalogue(self, data: bytes | str, actor: str, note: str = "", replaces: str | None = None) -> int:
        """Replace the draft by a whole catalogue (JSON as :meth:`export` writes it); returns its version.
        Its English texts are noted as a save notes them (:func:`hub.catalogue.translations.note_save`).

        A draft that differs from the published version is replaced only when ``replaces`` is its
        :meth:`content_token` (the caller saw those changes and agreed to lose them) or :data:`REPLACE_ANY`
        (:class:`DraftChanged` otherwise). The draft
        is every manager's, and an import threw a colleague's unpublished edits away unasked (a catalogue
        manager's review)."""
        try:
            raw = json.loads(data)
            if isinstance(raw, dict):
                raw["version"] = 1  # the hub numbers versions itself
            catalogue = Catalogue.model_validate_json(json.dumps(raw))
        except (ValueError, ValidationError) as exc:
            raise CatalogueError(text("catalogue_error", "bad_file", detail=str(exc)[:300])) from None
        with self.engine.begin() as conn:
            had = self._draft_version(_editing(conn))
            version = had or self._next_version(conn)
            base = had or self.newest_version(conn)  # what the file replaces: the draft, else the published
            before = self._read(conn, base) if base is not None else None
            seen = had is None or replaces in (REPLACE_ANY, self.content_token(had, conn))
            if had is not None and not seen and self._unpublished(conn, had):
                raise DraftChanged(text("catalogue_error", "draft_has_changes"))
            at = utcnow()
            draft = catalogue.model_copy(update={"version": version})
            note = note or text("catalogue_note", "imported")
            self._write(conn, draft, actor, note, at)
            # Which Chinese each English text translates, as a save in the editor notes it: a Chinese text
            # the file changes without its English is flagged stale (a catalogue manager's review: an import,
            # the only way to add items, was never checked).
            replaced = {i.code: i for i in before.items} if before else {}
            translations.note_saves(conn, [(replaced.get(item.code, item), item) for item in draft.items])
            record = {"content_hash": draft.content_hash(), "items": len(draft.items), "note": note[:200]}
            _audit(conn, at, actor, "catalogue.imported", version, record)
        return version

    def _unpublished(self, conn: Connection, draft: int) -> bool:
        """Whether the draft (version ``draft``) holds anything the newest published version does not."""
        published = self.newest_version(conn)
        return published is None or self.content_token(published, conn) != self.content_token(draft, conn)

    def unpublished(self) -> str | None:
        """The draft's :meth:`content_token` when it holds anything the newest published version does not (an
        import would lose it), else None."""
        with self.engine.connect() as conn:
            draft = self._draft_version(conn)
            return self.content_token(draft, conn) if draft is not None and self._unpublished(conn, draft) else None

    def update_item(
        self,
        code: str,
        changes: dict[str, Any],
        actor: str,
        english_confirmed: bool = False,
        based_on: str | None = None,
    ) -> ServiceItem:
        """Change some fields of one item of the draft (started if needed); the whole item is checked again.
        Which Chinese each English text translates is noted in the same transaction
        (:func:`hub.catalogue.translations.note_save`; ``english_confirmed``: the editor says all are current).

        ``based_on``: the content hash of the item as the editor showed it. Another save since (a second
        manager's, in the same draft) raises :class:`ItemChanged` instead of being undone by this one, which
        sends every field as it was shown (a catalogue manager's review lost a colleague's material so)."""
        with self.engine.begin() as conn:
            version = self._draft(_editing(conn), actor)  # the draft still, when this commits
            row = (
                conn.execute(select(_items).where(_items.c.version == version, _items.c.code == code))
                .mappings()
                .first()
            )
            if row is None:
                raise NotFound(text("catalogue_error", "no_item", code=code))
            if based_on is not None and based_on != row["hash"]:
                raise ItemChanged(text("catalogue_error", "item_changed", code=code))
            data = json.loads(row["body"])
            data.update(changes)
            try:
                item = ServiceItem.model_validate_json(json.dumps(data))
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                bad = text(
                    "catalogue_error", "bad_item", code=code, where=f"{where}: " if where else "", message=first["msg"]
                )
                raise CatalogueError(bad) from None
            conn.execute(
                update(_items)
                .where(_items.c.version == version, _items.c.code == code)
                .values(hash=item.content_hash(), body=canonical_json(item).decode())
            )
            translations.note_save(conn, ServiceItem.model_validate_json(row["body"]), item, english_confirmed)
            before, after = json.loads(row["body"]), json.loads(canonical_json(item))
            changed = {k: [before.get(k), after.get(k)] for k in sorted(changes) if before.get(k) != after.get(k)}
            _audit(conn, utcnow(), actor, "catalogue.item_changed", version, {"code": code, "changed": changed})
        return item

    def discard_draft(self, actor: str) -> None:
        with self.engine.begin() as conn:
            version = self._draft_version(_editing(conn))
            if version is not None:
                conn.execute(delete(_items).where(_items.c.version == version))
                conn.execute(delete(_versions).where(_versions.c.version == version))
                _audit(conn, utcnow(), actor, "catalogue.draft_discarded", version, {})

    # ------------------------------------------------------------------ publishing
    def publish(self, actor: str, note: str = "") -> VersionInfo:
        """Publish the draft as the desired version, numbered above every version a terminal reported running.
        Refused when there is no draft, when it is not a valid catalogue, or when it equals the newest
        published version (allowed when terminals run a version above it: publishing it again brings them
        back to the catalogue in force here)."""
        with self.engine.begin() as conn:
            info = self._publish(_editing(conn), actor, note, utcnow())
        self._desired = info
        return info

    def _publish(self, conn: Connection, actor: str, note: str, at: datetime) -> VersionInfo:
        version = self._draft_version(conn)
        if version is None:
            raise CatalogueError(text("catalogue_error", "nothing_to_publish"))
        latest = self.latest(conn)
        reported = self.highest_reported(conn)
        ahead = latest is not None and reported > latest.version  # terminals run a version this hub lost
        renumbered = max(version, reported + 1, restored_above(conn) + 1)
        if renumbered != version:
            # A draft numbered before the terminals reported (or one the restored backup held): renumbered
            # above them and above the numbers a restore lost, so they take it and no number is given twice.
            conn.execute(update(_items).where(_items.c.version == version).values(version=renumbered))
            conn.execute(update(_versions).where(_versions.c.version == version).values(version=renumbered))
            version = renumbered
        catalogue = self._read(conn, version)
        if latest is not None:
            _keeps_departments_with_open_cases(conn, self.published(latest.version, conn).catalogue, catalogue)
        content = catalogue.content_hash()
        if latest is not None and latest.content_hash == content and not ahead:
            # The same content again is refused, unless terminals run a version this hub does not have: then
            # publishing it again is how the operator brings them back to the catalogue in force here.
            raise CatalogueError(text("catalogue_error", "unchanged", version=latest.version))
        if ahead:
            assert latest is not None
            log.warning(
                "catalogue version %d published above version %d, which terminals run but this hub's database "
                "does not hold (its newest was %d: restored from an older backup?)",
                version,
                reported,
                latest.version,
            )
        manifest = catalogue.manifest()
        m_hash = manifest_hash(manifest)
        values: dict[str, Any] = {
            "content_hash": content,
            "manifest_hash": m_hash,
            "published_at": at,
            "published_by": actor,
        }
        if note:
            values["note"] = note[:200]
        conn.execute(update(_versions).where(_versions.c.version == version).values(**values))
        data: dict[str, Any] = {
            "version": version,
            "content_hash": content,
            "manifest_hash": m_hash,
            "items": manifest.items,
        }
        if ahead:
            data["terminals_ran"] = reported  # the version numbering passed: one this database never held
        _audit(conn, at, actor, "catalogue.published", version, data)
        info = self.latest(conn)
        if info is None:  # the row this transaction just marked published: the database lost it
            raise CatalogueError(text("catalogue_error", "nothing_to_publish"))
        return info

    def bootstrap(self, seed: Catalogue | None = None, actor: str = "hub") -> VersionInfo | None:
        """With no version at all, publish the shipped seed as version 1 (terminals run it already)."""
        seed = seed or load_seed()
        try:
            # One transaction from the look to the publish (BEGIN IMMEDIATE on SQLite: one hub process at a
            # time): hub workers starting together on an empty database no longer interleave an import and
            # a publish of one another's draft.
            with self.engine.begin() as conn:
                if conn.execute(select(func.count()).select_from(_versions)).scalar():
                    return None
                at, note = utcnow(), text("catalogue_note", "seed")
                draft = seed.model_copy(update={"version": self._next_version(conn)})
                self._write(conn, draft, actor, note, at)
                record = {"content_hash": draft.content_hash(), "items": len(draft.items), "note": note[:200]}
                _audit(conn, at, actor, "catalogue.imported", draft.version, record)
                info = self._publish(conn, actor, "", at)
            self._desired = info
            return info
        except (CatalogueError, IntegrityError):
            # Another hub worker bootstrapped it first; when both started at once, its version 1 row
            # took the key between our look and our insert. Its catalogue comes in force within seconds.
            return None

    def export(self, version: int | None = None, draft: bool = False) -> str:
        """JSON of a version (the newest published by default, or the draft), for ``catalogue import``."""
        if draft:
            catalogue = self.draft()
            if catalogue is None:
                raise CatalogueError(text("catalogue_error", "no_draft"))
        else:
            catalogue = self.get(version)
        return json.dumps(catalogue.model_dump(mode="json"), ensure_ascii=False, indent=2) + "\n"
