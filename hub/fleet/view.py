"""What the dashboard, the terminal pages and ``/metrics`` show, read fresh from the database.

States and problems are assessed at read time with the same rules as the evaluator, so a page is never
staler than the last heartbeat committed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from hub.db.models import FleetAlertRow, FleetHeartbeatRow, FleetLinkEventRow, FleetTerminalRow, TerminalRow, table
from hub.fleet.assess import Assessment, Desired, State, assess, unsent_age_s
from hub.fleet.registry import DROP_KINDS, facts_of, refusals
from hub.settings import FleetSettings

__all__ = ["SORT_KEYS", "Rollout", "TerminalView", "alerts", "heartbeats", "link_events", "rollout", "terminals"]

_terms, _fleet = table(TerminalRow), table(FleetTerminalRow)
_alerts, _beats, _links = table(FleetAlertRow), table(FleetHeartbeatRow), table(FleetLinkEventRow)


@dataclass
class TerminalView:
    terminal_id: str
    state: State
    state_since: datetime | None
    last_seen_at: datetime | None
    seen_age_s: float | None
    outbox_depth: int
    oldest_unsent_age_s: float | None
    parked: int
    disk_free_mb: float | None
    app_version: str
    catalogue_version: int
    catalogue_version_at: datetime | None
    catalogue_error: str
    desired_version: int | None
    rollout_s: float | None  # published → reported; None while behind
    reader: str
    printer: str
    clock_offset_s: float | None  # the terminal's clock minus the hub's
    uptime_s: float | None
    bd_seq: int
    seq_gaps: int
    alarms: list[str]
    alerts: list[str] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)

    @property
    def behind(self) -> bool:
        return self.desired_version is not None and self.catalogue_version < self.desired_version

    @property
    def trouble(self) -> tuple[int, int, int]:
        """Sort key putting problems first: state, then active alerts, then how long unheard."""
        return (self.state.rank, -len(self.alerts), -int(self.seen_age_s or 0))


SORT_KEYS: dict[str, Any] = {
    "problems": lambda v: (v.trouble, v.terminal_id),
    "terminal": lambda v: v.terminal_id,
    "state": lambda v: (v.state.rank, v.terminal_id),
    "seen": lambda v: (v.seen_age_s if v.seen_age_s is not None else float("inf"), v.terminal_id),
    "outbox": lambda v: (v.outbox_depth, v.terminal_id),
    "oldest": lambda v: (v.oldest_unsent_age_s or 0, v.terminal_id),
    "catalogue": lambda v: (v.catalogue_version, v.terminal_id),
    "app": lambda v: (v.app_version, v.terminal_id),
    "disk": lambda v: (v.disk_free_mb if v.disk_free_mb is not None else float("inf"), v.terminal_id),
    "clock": lambda v: (abs(v.clock_offset_s or 0), v.terminal_id),
    "uptime": lambda v: (v.uptime_s or 0, v.terminal_id),
    "alerts": lambda v: (len(v.alerts), v.terminal_id),
}
"""Sortable columns of the dashboard; ``problems`` (the default) puts the worst first."""


def terminals(
    conn: Connection,
    settings: FleetSettings,
    now: datetime,
    desired: Desired | None,
    terminal: str | None = None,
) -> list[TerminalView]:
    """Every terminal (or one), assessed now, sorted by trouble."""
    q = select(
        _terms,
        _fleet.c.state_since,
        _fleet.c.state.label("fleet_state"),
        _fleet.c.catalogue_version.label("reported_version"),
        _fleet.c.catalogue_version_at,
        _fleet.c.catalogue_error,
    ).select_from(_terms.outerjoin(_fleet, _fleet.c.terminal_id == _terms.c.terminal_id))
    drops_q = (
        select(_links.c.terminal_id, func.count())
        .where(_links.c.kind.in_(DROP_KINDS), _links.c.at > now - timedelta(seconds=settings.flap_window_s))
        .group_by(_links.c.terminal_id)
    )
    alerts_q = select(_alerts.c.terminal_id, _alerts.c.kind).where(_alerts.c.cleared_at.is_(None))
    if terminal is not None:
        q = q.where(_terms.c.terminal_id == terminal)
        drops_q = drops_q.where(_links.c.terminal_id == terminal)
        alerts_q = alerts_q.where(_alerts.c.terminal_id == terminal)
    drops = {t: int(n) for t, n in conn.execute(drops_q).all()}
    refused = refusals(conn, now - timedelta(seconds=settings.dead_letter_window_s), terminal)
    active: dict[str, list[str]] = {}
    for t, kind in conn.execute(alerts_q).all():
        active.setdefault(t, []).append(kind)
    views = []
    for r in conn.execute(q).mappings():
        facts = facts_of(
            r, r["reported_version"], drops.get(r["terminal_id"], 0), refused.get(r["terminal_id"], (0, 0))
        )
        health = facts.health
        a = assess(facts, now, settings, desired)
        if r["fleet_state"] == State.RETIRED.value:  # out of service: nothing expected of it
            a = Assessment(State.RETIRED, None, {})
        oldest = health.get("oldest_unsent_at")
        reported_at = r["catalogue_version_at"]
        rollout_s = None
        if desired is not None and facts.catalogue_version >= desired.version and reported_at is not None:
            rollout_s = max(0.0, (reported_at - desired.published_at).total_seconds())
        views.append(
            TerminalView(
                terminal_id=r["terminal_id"],
                state=a.state,
                state_since=r["state_since"],
                last_seen_at=r["last_seen_at"],
                seen_age_s=(now - r["last_seen_at"]).total_seconds() if r["last_seen_at"] else None,
                outbox_depth=int(health.get("outbox_depth", 0)),
                oldest_unsent_age_s=unsent_age_s(oldest, r["clock_skew_s"], now) if oldest else None,
                parked=int(health.get("parked", 0)),
                disk_free_mb=health.get("disk_free_mb"),
                app_version=r["app_version"],
                catalogue_version=facts.catalogue_version,
                catalogue_version_at=reported_at,
                catalogue_error=r["catalogue_error"] or "",
                desired_version=desired.version if desired else None,
                rollout_s=rollout_s,
                reader=health.get("reader", ""),
                printer=health.get("printer", ""),
                clock_offset_s=-r["clock_skew_s"] if r["clock_skew_s"] is not None else None,
                uptime_s=health.get("uptime_s"),
                bd_seq=r["bd_seq"],
                seq_gaps=r["seq_gaps"],
                alarms=list(health.get("alarms", [])),
                alerts=sorted(active.get(r["terminal_id"], [])),
                problems={k.value: v for k, v in a.problems.items()},
            )
        )
    views.sort(key=SORT_KEYS["problems"])
    return views


@dataclass(frozen=True, slots=True)
class Rollout:
    """How far the desired catalogue version has got."""

    version: int
    published_at: datetime
    terminals: int
    reported: int
    elapsed_s: float  # until the last terminal reported, or until now while some are behind
    done: bool


def rollout(views: list[TerminalView], desired: Desired | None, now: datetime) -> Rollout | None:
    if desired is None:
        return None
    views = [v for v in views if v.state is not State.RETIRED]
    reported = [v for v in views if not v.behind]
    done = len(reported) == len(views)
    if done and reported:
        last = max((v.rollout_s or 0.0) for v in reported)
    else:
        last = (now - desired.published_at).total_seconds()
    return Rollout(desired.version, desired.published_at, len(views), len(reported), max(0.0, last), done)


def alerts(
    conn: Connection, active_only: bool = False, terminal: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """Alerts newest first (active ones first when all are listed)."""
    q = select(_alerts).order_by(_alerts.c.cleared_at.is_not(None), _alerts.c.raised_at.desc()).limit(limit)
    if active_only:
        q = q.where(_alerts.c.cleared_at.is_(None))
    if terminal is not None:
        q = q.where(_alerts.c.terminal_id == terminal)
    return [dict(r) for r in conn.execute(q).mappings()]


def heartbeats(conn: Connection, terminal: str, limit: int = 60) -> list[dict[str, Any]]:
    q = select(_beats).where(_beats.c.terminal_id == terminal).order_by(_beats.c.at.desc()).limit(limit)
    return [dict(r) for r in conn.execute(q).mappings()]


def link_events(conn: Connection, terminal: str, limit: int = 50) -> list[dict[str, Any]]:
    q = select(_links).where(_links.c.terminal_id == terminal).order_by(_links.c.at.desc(), _links.c.id.desc())
    return [dict(r) for r in conn.execute(q.limit(limit)).mappings()]
