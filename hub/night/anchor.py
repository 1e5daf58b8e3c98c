"""The hub's nightly audit anchor (issue 15): check the chain's new entries and their seals, sign the
day's anchor (entry count, last id, head hash, time), keep it, and — in the running hub — publish it
retained on ``shegong/v1/hub/anchor`` for every terminal to witness (:class:`AnchorPublisher`)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from sqlalchemy import Engine, func
from sqlmodel import col, select

from hub.audit.chain import anchor as stored_anchor
from hub.audit.keyed import AuditKey, check_from
from hub.db.models import AuditDayAnchorRow
from hub.errors import HubError
from kernel.db import upsert_insert
from protocol import topics
from protocol.reconcile import day_of
from protocol.witness import AnchorBody, HubAnchor, anchor_text

__all__ = ["AnchorPublisher", "ChainBroken", "anchor_night", "latest_anchor"]

log = logging.getLogger(__name__)


class ChainBroken(HubError):
    """An entry since the last anchor does not follow the chain or its seal does not hold: no anchor signed."""


def anchor_night(engine: Engine, key: AuditKey, now: datetime) -> dict[str, int]:
    """Check the entries since the last anchor and sign today's, unless the day has one: a night run again
    the same day keeps the first, which may be published and witnessed already (terminals keep the first
    anchor of each day, and ``audit verify --witnesses`` holds the hub to it); what came after is anchored
    the next day. Every entry was sealed as it was appended: one without a seal fails the night, naming the
    entry."""
    with engine.begin() as conn:
        through = conn.execute(select(func.max(AuditDayAnchorRow.last_id))).scalar() or 0
        checked, broken = check_from(conn, key, after_id=int(through))
        if broken is not None:
            raise ChainBroken(f"audit entry {broken.entry_id}: {broken.problem}")
        a = stored_anchor(conn)
        day = day_of(now)
        at = now.astimezone(UTC)
        values = {
            "day": day,
            "entries": a.entries,
            "last_id": a.last_id,
            "head_hash": a.head,
            "at": at,
            "signature": key.sign(anchor_text(day, a.entries, a.last_id, a.head, at)),
        }
        insert = upsert_insert(conn)
        conn.execute(insert(AuditDayAnchorRow).values(**values).on_conflict_do_nothing(index_elements=["day"]))
    return {"checked": checked, "entries": a.entries}


def latest_anchor(engine: Engine) -> AnchorBody | None:
    with engine.connect() as conn:
        row = (
            conn.execute(select(AuditDayAnchorRow).order_by(col(AuditDayAnchorRow.day).desc()).limit(1))
            .mappings()
            .first()
        )
    if row is None:
        return None
    at = row["at"] if row["at"].tzinfo else row["at"].replace(tzinfo=UTC)
    return AnchorBody(
        day=row["day"],
        entries=row["entries"],
        last_id=row["last_id"],
        head=row["head_hash"],
        at=at,
        signature=row["signature"],
    )


class AnchorPublisher:
    """On the running hub's periodic tick: publish the newest signed anchor (retained) when it changed —
    through the ingest worker's own client, as the broker allows one connection per MQTT user."""

    __name__ = "audit anchor publisher"

    def __init__(self, engine: Engine, client: mqtt.Client, every_s: float = 2.0) -> None:
        self.engine = engine
        self.client = client
        self.every_s = every_s
        self._last = float("-inf")
        self._published: AnchorBody | None = None

    def __call__(self) -> int:
        if time.monotonic() - self._last < self.every_s or not self.client.is_connected():
            return 0
        self._last = time.monotonic()
        latest = latest_anchor(self.engine)
        if latest is None or latest == self._published:
            return 0
        info = self.client.publish(topics.hub_anchor(), HubAnchor(terminal="hub", body=latest).encode(), 1, True)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return 0
        self._published = latest
        log.info("published the audit anchor of %s (%d entries)", latest.day, latest.entries)
        return 1
