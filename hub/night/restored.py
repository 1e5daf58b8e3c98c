"""What ``shegong hub restore`` records, so that nothing the lost database gave out is given again.

A backup written over the database takes it back to the backup's numbers: catalogue versions published
after it and partner (Open311) requests numbered after it are gone from the hub, but terminals may run those
versions and partners hold those request ids. Before the restore, the database being replaced is read, if
it can be (:func:`numbers_of`: it may be the broken one the restore is for); after it, :func:`record` adds a
``hub_restores`` row with the numbers each continues above (:func:`hub.catalogue.store.above_after_restore`,
:func:`hub.cases.partnered.receipts_above_after_restore`) and a ``hub.restored`` entry to the audit chain.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, insert, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from hub.audit.chain import AuditRecord, append
from hub.cases.partnered import COMMITTEE, receipts_above_after_restore
from hub.catalogue.store import above_after_restore
from hub.db.engine import DatabaseUnreachable, open_engine
from hub.db.models import HubRestoreRow, table
from protocol.localtime import local_date

__all__ = ["Numbers", "Restored", "numbers_of", "record"]

log = logging.getLogger(__name__)
_restores = table(HubRestoreRow)


@dataclass(frozen=True, slots=True)
class Numbers:
    """The highest numbers a database gave or passed: catalogue version, the day's partner receipt."""

    catalogue: int
    open311_today: int


@dataclass(frozen=True, slots=True)
class Restored:
    """The numbers a restored database continues above."""

    catalogue_above: int
    open311_above: int


def numbers_of(url: str, now: datetime) -> Numbers | None:
    """The numbers of the database at ``url`` (about to be replaced; any schema since the catalogue's), its
    own restores included; None when it cannot be read."""
    day = local_date(now)
    try:
        engine = open_engine(url, upgrade=False)
    except DatabaseUnreachable as exc:
        log.warning("%s: numbering taken from the backup", exc)
        return None
    try:
        with engine.connect() as conn:
            catalogue = [conn.execute(text("SELECT MAX(version) FROM catalogue_versions")).scalar()]
            last = conn.execute(
                text("SELECT MAX(receipt_no) FROM cases WHERE committee = :c AND receipt_no LIKE :p"),
                {"c": COMMITTEE, "p": f"{COMMITTEE}-{day:%Y%m%d}-%"},
            ).scalar()
            open311: list[int | None] = [int(last.rsplit("-", 1)[1]) if last else 0]
            if inspect(conn).has_table("hub_restores"):
                catalogue.append(conn.execute(text("SELECT MAX(catalogue_above) FROM hub_restores")).scalar())
                above = "SELECT MAX(open311_above) FROM hub_restores WHERE open311_day = :d"
                open311.append(conn.execute(text(above), {"d": day}).scalar())
            return Numbers(max(int(n or 0) for n in catalogue), max(int(n or 0) for n in open311))
    except (SQLAlchemyError, ValueError) as exc:
        log.warning(
            "the database being replaced cannot be read (%s): numbering taken from the backup", type(exc).__name__
        )
        return None
    finally:
        engine.dispose()


def record(engine: Engine, backup: str, overwritten: Numbers | None, actor: str, now: datetime) -> Restored:
    """Record that ``backup`` was written over the database (``engine``, at the schema's head, its audit key
    bound), with the numbers it continues above."""
    with engine.begin() as conn:
        restored = Restored(
            above_after_restore(conn, overwritten.catalogue if overwritten else None),
            receipts_above_after_restore(conn, overwritten.open311_today if overwritten else None, now),
        )
        conn.execute(
            insert(_restores).values(
                restored_at=now,
                backup=backup[:255],
                restored_by=actor,
                catalogue_above=restored.catalogue_above,
                open311_day=local_date(now),
                open311_above=restored.open311_above,
            )
        )
        data = {
            "backup": backup,
            "overwritten": None
            if overwritten is None
            else {"catalogue": overwritten.catalogue, "open311_today": overwritten.open311_today},
            "catalogue_above": restored.catalogue_above,
            "open311_above": restored.open311_above,
        }
        append(conn, [AuditRecord(now, actor, "hub.restored", "database", data)])
    return restored
