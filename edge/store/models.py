"""Tables of the edge database. Schema changes go through an Alembic revision in ``migrations/``.

Queries are typed: written against a model (``sqlmodel.select`` with ``col()``; ``Session.exec`` for whole
rows) where that reads well, and as Core statements on :func:`table` (``table(CaseRow)``) for bulk and hot
paths. ``Model.__table__`` is untyped and not used.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Index
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from kernel.db import UTCDateTime, table

__all__ = [
    "Alarm",
    "AuditAnchorRow",
    "AuditEntryRow",
    "Case",
    "CaseEventRow",
    "CatalogueItemRow",
    "CatalogueStateRow",
    "EdgeModel",
    "HubAnchorRow",
    "Meta",
    "OutboxRow",
    "RatingRow",
    "ReceiptCounter",
    "table",
]


class EdgeModel(SQLModel, registry=registry()):
    """Base of the edge tables: their own metadata, apart from the hub's."""


def _ts(nullable: bool = False) -> Column[datetime]:
    return Column(UTCDateTime(), nullable=nullable)


class Case(EdgeModel, table=True):
    """A case accepted here. ``payload`` is the submission as sent, sealed to the hub's key (nothing on the
    terminal can read it); ``holder_key`` finds a holder's cases without storing their ID number."""

    __tablename__ = "cases"

    case_id: str = Field(primary_key=True, max_length=36)
    receipt_no: str = Field(unique=True, max_length=40)
    query_code: str = Field(max_length=6)
    item_code: str = Field(max_length=64)
    holder_key: str = Field(index=True, max_length=64)
    created_at: datetime = Field(sa_column=_ts())
    status: str = Field(default="submitted", max_length=32)
    version: int = 0
    status_at: datetime = Field(sa_column=_ts())
    status_note: str = ""
    hub_acked_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    payload: str
    reconciled_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    """When the hub last confirmed it holds this case (nightly reconciliation); retention needs it (e0015)."""
    due_date: date | None = None
    """The promised completion date: the receipt's, then the centre's as its events bring it (e0019)."""


class OutboxRow(EdgeModel, table=True):
    """One item waiting for the hub's ack after commit. Deleted by that ack, never before. ``seq`` only
    goes up (AUTOINCREMENT, e0014): the sync agent sends "what comes after the last seq it sent", so a
    number handed out again after the outbox emptied would never be sent."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_unparked", "parked_at", "seq"), {"sqlite_autoincrement": True})

    seq: int | None = Field(default=None, primary_key=True)
    item_id: str = Field(index=True, max_length=36)
    channel: str = Field(max_length=16)
    payload: str
    created_at: datetime = Field(sa_column=_ts())
    attempts: int = 0
    parked_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    parked_reason: str | None = None


class CaseEventRow(EdgeModel, table=True):
    """A hub event applied here: the timeline residents see, and only what it shows (state, time, the
    resident-facing note). Goes with its case (edge.store.retention)."""

    __tablename__ = "case_events"

    event_id: int = Field(primary_key=True)
    case_id: str = Field(index=True, max_length=36)
    version: int
    status: str = Field(max_length=32)
    at: datetime = Field(sa_column=_ts())
    note: str = ""
    tag: str = Field(default="", max_length=64)
    """The hub's tag of the event, sent back with it if the hub asks for the events it lost (e0017)."""


class ReceiptCounter(EdgeModel, table=True):
    """Local sequence of receipt numbers per day: made offline, unique at this terminal; with the terminal's
    receipt series (``receipt_series``) unique at its committee."""

    __tablename__ = "receipt_counters"

    day: str = Field(primary_key=True, max_length=8)
    last: int = 0


class Meta(EdgeModel, table=True):
    """Small durable counters: bd_seq, reserved seq block, events watermark."""

    __tablename__ = "meta"

    key: str = Field(primary_key=True, max_length=64)
    value: int = 0


class Alarm(EdgeModel, table=True):
    """Raised once, cleared when resolved; sent in heartbeats, shown in the console."""

    __tablename__ = "alarms"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(index=True, max_length=32)
    message: str
    raised_at: datetime = Field(sa_column=_ts())
    cleared_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class RatingRow(EdgeModel, table=True):
    """A satisfaction rating given here; it travels through the outbox like a case. The resident's
    free-text reason is in the outbox item only, gone with the hub's ack: nothing here shows it."""

    __tablename__ = "ratings"

    rating_id: str = Field(primary_key=True, max_length=36)
    case_id: str | None = Field(default=None, index=True, max_length=36)
    level: int
    rated_at: datetime = Field(sa_column=_ts())
    reconciled_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    """When the hub last confirmed it holds this rating (e0015)."""


class CatalogueItemRow(EdgeModel, table=True):
    """One item of the catalogue this terminal runs, in display order, as the hub published it."""

    __tablename__ = "catalogue_items"

    code: str = Field(primary_key=True, max_length=16)
    position: int
    hash: str = Field(max_length=80)
    body: str


class CatalogueStateRow(EdgeModel, table=True):
    """The version this terminal runs (one row, id 1); absent while it runs the shipped seed."""

    __tablename__ = "catalogue_state"

    id: int = Field(primary_key=True)
    version: int
    content_hash: str = Field(max_length=80)
    departments: str
    applied_at: datetime = Field(sa_column=_ts())


class WorkCalendarRow(EdgeModel, table=True):
    """The hub's holiday calendar as last received (one row, id 1); absent while the shipped seed counts."""

    __tablename__ = "work_calendar"

    id: int = Field(primary_key=True)
    content_hash: str = Field(max_length=80)
    body: str
    published_at: datetime = Field(sa_column=_ts())
    received_at: datetime = Field(sa_column=_ts())


class AuditEntryRow(EdgeModel, table=True):
    """One link of the terminal's hash chain (see :mod:`protocol.auditchain`). Never holds an ID number
    or a name: cases by id and receipt, staff by staff id."""

    __tablename__ = "audit_entries"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=_ts())
    actor: str
    action: str = Field(max_length=64)
    subject: str
    data: str
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
    sig: str | None = Field(
        default=None,
        max_length=128,
        description="Ed25519 signature of ``hash`` with this terminal's audit key, made at append (e0016)",
    )


class AuditAnchorRow(EdgeModel, table=True):
    """The chain's length and head (one row, id 1), moved in the same transaction as every append, so a
    deleted tail is seen; ``shegong edge audit anchor`` prints it to keep off the device."""

    __tablename__ = "audit_anchor"

    id: int = Field(primary_key=True)
    entries: int = 0
    last_id: int = 0
    head_hash: str = Field(max_length=64)
    at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class HubAnchorRow(EdgeModel, table=True):
    """A signed daily anchor of the hub's audit chain, as this terminal received it: kept as a witness, the
    first one of each day (a later, different one for the same day is not taken)."""

    __tablename__ = "hub_anchors"

    day: str = Field(primary_key=True, max_length=10)
    entries: int
    last_id: int
    head_hash: str = Field(max_length=64)
    at: datetime = Field(sa_column=_ts())
    signature: str = Field(max_length=128)
    received_at: datetime = Field(sa_column=_ts())
