"""The operators' pages under ``/fleet``: the dashboard of all terminals (sortable, problems first), one
page per terminal with its history, the alerts, and (nested) the catalogue pages.

Every route needs the ``fleet.read`` permission, checked by the app's guard (:class:`hub.web.auth.Guard`).
The fleet's words (terminal states, alerts and what to do about them) are the ``t`` of
:mod:`hub.web.text`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from litestar import Router, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from hub.calendar.service import CalendarService
from hub.errors import NotFound
from hub.fleet import view
from hub.fleet.board import FleetBoard
from hub.fleet.help import HelpDesk
from hub.ingest.committees import CommitteeNames
from hub.ingest.worker import CERT_WARN_DAYS
from hub.people.roles import Permission
from hub.text import section, text
from hub.web.auth import PERMISSION
from hub.web.pages.catalogue import catalogue_router
from hub.web.services import Health
from protocol.localtime import local_date

__all__ = ["COLUMNS", "FleetTerminalOut", "FleetTerminalsOut", "fleet_router"]

COLUMNS = [
    (key, section("fleet_column")[key], align)
    for key, align in (
        ("terminal", ""),
        ("state", ""),
        ("seen", ""),
        ("outbox", "num"),
        ("oldest", "num"),
        ("catalogue", ""),
        ("app", ""),
        ("disk", "num"),
        ("reader", ""),
        ("printer", ""),
        ("clock", "num"),
        ("uptime", "num"),
        ("alerts", ""),
    )
]
_EXTRA_SORT: dict[str, Callable[[view.TerminalView], Any]] = {
    "reader": lambda v: (v.reader, v.terminal_id),
    "printer": lambda v: (v.printer, v.terminal_id),
}


def _html(template: str, **context: Any) -> Template:
    return Template(template, context=context)


@get("/", sync_to_thread=True, name="fleet:dashboard", include_in_schema=False)
def dashboard(
    fleet: NamedDependency[FleetBoard],
    help_desk: NamedDependency[HelpDesk],
    committees: NamedDependency[CommitteeNames],
    calendar: NamedDependency[CalendarService],
    health: NamedDependency[Health],
    sort: FromQuery[str] = "problems",
    dir: FromQuery[str] = "",  # noqa: A002
) -> Template:
    board = fleet.board()
    views = board.terminals
    key = view.SORT_KEYS.get(sort) or _EXTRA_SORT.get(sort)
    if key is None:
        sort, key = "problems", view.SORT_KEYS["problems"]
    desc = dir == "desc"
    views.sort(key=key, reverse=desc)
    counts = {s: sum(v.state.value == s for v in views) for s in ("online", "silent", "flapping", "offline", "retired")}
    return _html(
        "fleet/dashboard.html",
        section="dashboard",
        now=board.at,
        views=views,
        counts=counts,
        active_alerts=sum(len(v.alerts) for v in views),
        rollout=board.rollout,
        settings=fleet.settings,
        columns=COLUMNS,
        sort=sort,
        desc=desc,
        committee_of=committees.by_terminal(),
        help_waiting=help_desk.waiting(),
        calendar_gaps=calendar.gaps(local_date(board.at)),
        cert_expires=_expiring(health.broker_cert_expires(), board.at),
        hub_linked=health.broker_connected(),  # every terminal goes quiet when it is the hub that is cut off
    )


def _expiring(expires: datetime | None, now: datetime) -> dict[str, object] | None:
    """The broker's certificate, on the dashboard from :data:`CERT_WARN_DAYS` days before it expires."""
    if expires is None or expires - now >= timedelta(days=CERT_WARN_DAYS):
        return None
    return {"day": local_date(expires), "days": max(0, (expires - now).days), "expired": expires <= now}


@get("/terminals/{terminal_id:str}", sync_to_thread=True, name="fleet:terminal", include_in_schema=False)
def terminal_page(
    fleet: NamedDependency[FleetBoard], committees: NamedDependency[CommitteeNames], terminal_id: FromPath[str]
) -> Template:
    history = fleet.history(terminal_id)
    if history is None:
        raise NotFound(text("web", "no_terminal", terminal_id=terminal_id))
    return _html(
        "fleet/terminal.html",
        section="dashboard",
        v=history.terminal,
        alerts=history.alerts,
        beats=history.heartbeats,
        links=history.links,
        night=history.night,
        settings=fleet.settings,
        committee=committees.by_terminal().get(terminal_id, ""),
    )


@get("/alerts", sync_to_thread=True, name="fleet:alerts", include_in_schema=False)
def alerts_page(
    fleet: NamedDependency[FleetBoard],
    help_desk: NamedDependency[HelpDesk],
    committees: NamedDependency[CommitteeNames],
    all: FromQuery[int] = 0,  # noqa: A002
) -> Template:
    rows = fleet.alerts(active_only=not all)
    return _html(
        "fleet/alerts.html",
        section="alerts",
        alerts=rows,
        show_all=bool(all),
        committee_of=committees.by_terminal(),
        help_waiting=help_desk.waiting(),
    )


@dataclass
class FleetTerminalOut:
    terminal_id: str
    state: str
    last_seen_at: datetime | None
    outbox_depth: int
    oldest_unsent_age_s: float | None
    catalogue_version: int
    rollout_s: float | None
    """Seconds from publication to the terminal reporting the desired version; null while behind."""
    alerts: list[str]


@dataclass
class FleetTerminalsOut:
    desired_version: int | None
    terminals: list[FleetTerminalOut]


@get("/api/terminals", sync_to_thread=True, name="fleet:api", tags=["fleet"])
def terminals_json(fleet: NamedDependency[FleetBoard]) -> FleetTerminalsOut:
    """The dashboard's data as JSON (for scripts and the benchmark)."""
    board = fleet.board()
    return FleetTerminalsOut(
        desired_version=board.desired.version if board.desired else None,
        terminals=[
            FleetTerminalOut(
                terminal_id=v.terminal_id,
                state=v.state.value,
                last_seen_at=v.last_seen_at,
                outbox_depth=v.outbox_depth,
                oldest_unsent_age_s=v.oldest_unsent_age_s,
                catalogue_version=v.catalogue_version,
                rollout_s=v.rollout_s,
                alerts=v.alerts,
            )
            for v in board.terminals
        ],
    )


def fleet_router() -> Router:
    """The ``/fleet`` pages (and ``/fleet/catalogue``), for users with ``fleet.read``."""
    return Router(
        path="/fleet",
        route_handlers=[dashboard, terminal_page, alerts_page, terminals_json, catalogue_router()],
        opt={PERMISSION: Permission.FLEET_READ},
    )
