"""Alarms: raised once, cleared when resolved. Also kept in memory, so a full disk cannot hide one."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import OperationalError
from sqlmodel import col

from edge.store import audit
from edge.store.models import Alarm
from protocol.envelope import utcnow

__all__ = ["Alarms"]

log = logging.getLogger(__name__)


class Alarms:
    """Active alarms by kind. ``raise_`` and ``clear`` are idempotent; each change is logged once."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._active: dict[str, str] = {}
        with engine.connect() as conn:
            rows = conn.execute(select(col(Alarm.kind), col(Alarm.message)).where(col(Alarm.cleared_at).is_(None)))
            self._active.update({kind: message for kind, message in rows})

    def active(self) -> dict[str, str]:
        return dict(self._active)

    def raise_(self, kind: str, message: str, at: datetime | None = None) -> None:
        if kind in self._active:
            return
        self._active[kind] = message
        log.error("alarm raised: %s: %s", kind, message)
        at = at or utcnow()
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(Alarm).values(kind=kind, message=message, raised_at=at))
                audit.record(conn, at, "terminal", "alarm.raised", kind, {"message": message})
        except OperationalError:
            log.exception("alarm %s could not be stored; it stays active in memory and in heartbeats", kind)

    def clear(self, kind: str) -> None:
        if self._active.pop(kind, None) is None:
            return
        log.warning("alarm cleared: %s", kind)
        now = utcnow()
        try:
            with self._engine.begin() as conn:
                n = conn.execute(
                    update(Alarm).where(col(Alarm.kind) == kind, col(Alarm.cleared_at).is_(None)).values(cleared_at=now)
                ).rowcount
                if n:
                    audit.record(conn, now, "terminal", "alarm.cleared", kind, {})
        except OperationalError:
            log.exception("alarm %s clearing could not be stored", kind)
