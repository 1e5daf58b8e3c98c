"""What the operators' pages read: every terminal assessed now, one terminal with its history, the alerts.

A thin service over :mod:`hub.fleet.view` holding what its queries need (the engine, the thresholds in
force, the catalogue version terminals should run), so the pages ask one object."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from hub.fleet import view
from hub.fleet.assess import Desired
from hub.night import results as night_results
from hub.settings import FleetSettings
from kernel.db import read_only
from protocol.envelope import utcnow

__all__ = ["Board", "FleetBoard", "TerminalHistory"]


@dataclass(frozen=True, slots=True)
class Board:
    """Every terminal assessed at ``at``; ``desired``: the catalogue version they should run."""

    at: datetime
    terminals: list[view.TerminalView]
    desired: Desired | None

    @property
    def rollout(self) -> view.Rollout | None:
        return view.rollout(self.terminals, self.desired, self.at)


@dataclass(frozen=True, slots=True)
class TerminalHistory:
    terminal: view.TerminalView
    alerts: list[dict[str, Any]]
    heartbeats: list[dict[str, Any]]
    links: list[dict[str, Any]]
    night: dict[str, Any] | None  # the terminal's last nightly result (docs/night.md)


class FleetBoard:
    def __init__(
        self, engine: Engine, settings: Callable[[], FleetSettings], desired: Callable[[], Desired | None]
    ) -> None:
        self.engine = engine
        self._settings = settings
        self._desired = desired

    @property
    def settings(self) -> FleetSettings:
        """The thresholds in force."""
        return self._settings()

    def board(self, terminal: str | None = None) -> Board:
        """Every terminal (or one), assessed now, problems first."""
        now, desired = utcnow(), self._desired()
        with read_only(self.engine).connect() as conn:
            return Board(now, view.terminals(conn, self.settings, now, desired, terminal), desired)

    def history(self, terminal: str) -> TerminalHistory | None:
        """One terminal with its latest alerts, sampled heartbeats and link events; None if never heard of."""
        found = self.board(terminal).terminals
        if not found:
            return None
        with read_only(self.engine).connect() as conn:
            return TerminalHistory(
                found[0],
                view.alerts(conn, terminal=terminal, limit=100),
                view.heartbeats(conn, terminal, limit=60),
                view.link_events(conn, terminal, limit=50),
                night_results.latest(self.engine, terminal),
            )

    def alerts(self, active_only: bool, limit: int = 500) -> list[dict[str, Any]]:
        """Alerts newest first (active ones first when all are listed)."""
        with read_only(self.engine).connect() as conn:
            return view.alerts(conn, active_only=active_only, limit=limit)
