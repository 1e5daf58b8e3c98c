"""Terminals' nightly results: stored as they report them (``night_report`` on ``up/reconcile``), shown on
each terminal's fleet page, and watched for a terminal that missed its night: by the fleet evaluator's
periodic round in the running hub (:class:`MissedNightWatch`), and by the hub's own night."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, or_, update
from sqlmodel import col, select

from hub.db.models import FleetAlertRow, NightResultRow, TerminalRegisterRow
from hub.fleet.registry import raise_alert
from kernel.db import upsert_insert
from protocol.envelope import Envelope, utcnow
from protocol.reconcile import NightReport

__all__ = ["NIGHT_MISSED", "MissedNightWatch", "latest", "missed_nights", "on_report"]

Outgoing = tuple[str, bytes]
NIGHT_MISSED = "night_missed"
"""The fleet alert kind of a terminal whose last nightly result is older than the hub allows."""


def on_report(conn: Connection, message: Envelope, at: datetime) -> list[Outgoing]:
    """Ingest hook: keep the terminal's latest nightly result (the hub's time of receipt beside it). One that
    started before the one held (QoS 1 delivers again, or late) changes nothing, unless the one held claims to
    start after the hub received this one."""
    if not isinstance(message, NightReport):
        return []
    b = message.body
    values: dict[str, Any] = {
        "terminal_id": message.terminal,
        "started_at": b.started_at,
        "received_at": at,
        "seconds": b.seconds,
        "ok": b.ok,
        "steps": json.dumps([s.model_dump() for s in b.steps], ensure_ascii=False),
    }
    insert = upsert_insert(conn)
    stmt = insert(NightResultRow).values(**values)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["terminal_id"],
            set_={k: v for k, v in values.items() if k != "terminal_id"},
            # a held one "started" after now (its terminal's clock was ahead, since set right) is no newer
            where=or_(col(NightResultRow.started_at) <= b.started_at, col(NightResultRow.started_at) > at),
        )
    )
    return []


def latest(engine: Engine, terminal: str) -> dict[str, Any] | None:
    """A terminal's latest nightly result for its fleet page (time, duration, each step), or None."""
    with engine.connect() as conn:
        row = conn.execute(select(NightResultRow).where(NightResultRow.terminal_id == terminal)).mappings().first()
    if row is None:
        return None
    return {
        "started_at": row["started_at"],
        "received_at": row["received_at"],
        "seconds": row["seconds"],
        "ok": bool(row["ok"]),
        "steps": json.loads(row["steps"]),
    }


class MissedNightWatch:
    """A job of the fleet evaluator's round (leading process only): every ``every_s`` seconds, raise or clear
    the ``night_missed`` alerts (:func:`missed_nights`). A hub whose own night does not run — its timer
    broken, the night failing before its step — still tells of terminals that missed theirs."""

    __name__ = "missed-night watch"

    def __init__(
        self, engine: Engine, allowed_h: float, every_s: float, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.engine = engine
        self.allowed_h = allowed_h
        self.every_s = every_s
        self.clock = clock
        self._last = float("-inf")

    def __call__(self) -> tuple[int, int]:
        if time.monotonic() - self._last < self.every_s:
            return 0, 0
        self._last = time.monotonic()
        return missed_nights(self.engine, self.clock(), self.allowed_h)


def missed_nights(engine: Engine, now: datetime, allowed_h: float) -> tuple[int, int]:
    """Raise a ``night_missed`` fleet alert for each registered terminal with no nightly result in the last
    ``allowed_h`` hours (one registered less long ago is given that long), clear it for the others.
    Returns (raised, cleared)."""
    cutoff = now - timedelta(hours=allowed_h)
    raised = cleared = 0
    with engine.begin() as conn:
        register = {
            t: registered
            for t, registered in conn.execute(
                select(TerminalRegisterRow.terminal_id, TerminalRegisterRow.registered_at)
            )
        }
        last = dict(conn.execute(select(NightResultRow.terminal_id, NightResultRow.received_at)).all())
        active = set(
            conn.execute(
                select(FleetAlertRow.terminal_id).where(
                    FleetAlertRow.kind == NIGHT_MISSED, col(FleetAlertRow.cleared_at).is_(None)
                )
            ).scalars()
        )
        for terminal, registered in register.items():
            seen = last.get(terminal)
            missed = (seen is None and registered < cutoff) or (seen is not None and seen < cutoff)
            if missed and terminal not in active:
                detail = f"last night {seen.isoformat() if seen else 'never'}"
                # The night's step and the leader's tick may both get here: the second raises nothing (a
                # concurrency review saw its whole transaction fail on the index of active alerts).
                raised += raise_alert(conn, terminal, NIGHT_MISSED, detail, now)
            elif not missed and terminal in active:
                conn.execute(
                    update(FleetAlertRow)
                    .where(
                        col(FleetAlertRow.terminal_id) == terminal,
                        col(FleetAlertRow.kind) == NIGHT_MISSED,
                        col(FleetAlertRow.cleared_at).is_(None),
                    )
                    .values(cleared_at=now)
                )
                cleared += 1
        # A retired terminal's result goes with it.
        gone = set(last) - set(register)
        if gone:
            conn.execute(delete(NightResultRow).where(col(NightResultRow.terminal_id).in_(gone)))
    return raised, cleared
