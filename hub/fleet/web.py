"""The operators' pages under ``/fleet``: the dashboard of all terminals (sortable, problems first), one
page per terminal with its history, the alerts, and (nested) the catalogue pages.

Mounted with one line in the hub app (``route_handlers=[…, fleet_router()]``). Every route needs the
``fleet.read`` permission, checked by the app's guard (:func:`hub.web.auth.guard`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from litestar import Request, Router, get
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery

from hub.catalogue.web import catalogue_router
from hub.errors import NotFound
from hub.fleet import view
from hub.fleet.pages import html
from hub.night import results as night_results
from hub.people.roles import Permission
from hub.web.auth import PERMISSION
from protocol.envelope import utcnow
from shegong.db import read_only

__all__ = ["fleet_router"]

COLUMNS = [
    ("terminal", "终端", ""),
    ("state", "状态", ""),
    ("seen", "最后心跳", ""),
    ("outbox", "待上传", "num"),
    ("oldest", "最早未传", "num"),
    ("catalogue", "服务目录", ""),
    ("app", "应用版本", ""),
    ("disk", "磁盘剩余", "num"),
    ("reader", "读卡器", ""),
    ("printer", "打印机", ""),
    ("clock", "时钟偏差", "num"),
    ("uptime", "运行时长", "num"),
    ("alerts", "告警", ""),
]
_EXTRA_SORT = {"reader": lambda v: (v.reader, v.terminal_id), "printer": lambda v: (v.printer, v.terminal_id)}


def _runtime(state: State) -> Any:
    return state.runtime


def _fleet_views(rt: Any, terminal: str | None = None) -> tuple[list[view.TerminalView], Any]:
    now, desired = utcnow(), rt.fleet.desired()
    with read_only(rt.engine).connect() as conn:
        return view.terminals(conn, rt.fleet.settings, now, desired, terminal), desired


@get("/", sync_to_thread=True, name="fleet:dashboard")
def dashboard(
    request: Request[Any, Any, Any],
    state: State,
    sort: FromQuery[str] = "problems",
    dir: FromQuery[str] = "",  # noqa: A002
) -> Any:
    rt = _runtime(state)
    views, desired = _fleet_views(rt)
    key = view.SORT_KEYS.get(sort) or _EXTRA_SORT.get(sort)
    if key is None:
        sort, key = "problems", view.SORT_KEYS["problems"]
    desc = dir == "desc"
    views.sort(key=key, reverse=desc)
    counts = {s: sum(v.state.value == s for v in views) for s in ("online", "silent", "flapping", "offline")}
    return html(
        "fleet_dashboard.html",
        request,
        section="dashboard",
        views=views,
        counts=counts,
        active_alerts=sum(len(v.alerts) for v in views),
        rollout=view.rollout(views, desired, utcnow()),
        settings=rt.fleet.settings,
        columns=COLUMNS,
        sort=sort,
        desc=desc,
    )


@get("/terminals/{terminal_id:str}", sync_to_thread=True, name="fleet:terminal")
def terminal_page(request: Request[Any, Any, Any], state: State, terminal_id: FromPath[str]) -> Any:
    rt = _runtime(state)
    views, _ = _fleet_views(rt, terminal_id)
    if not views:
        raise NotFound(f"没有终端 {terminal_id}")
    with read_only(rt.engine).connect() as conn:
        alerts = view.alerts(conn, terminal=terminal_id, limit=100)
        beats = view.heartbeats(conn, terminal_id, limit=60)
        links = view.link_events(conn, terminal_id, limit=50)
    night = night_results.latest(rt.engine, terminal_id)  # the terminal's last nightly result (issue 15)
    return html(
        "fleet_terminal.html",
        request,
        section="dashboard",
        v=views[0],
        alerts=alerts,
        beats=beats,
        links=links,
        night=night,
        settings=rt.fleet.settings,
    )


@get("/alerts", sync_to_thread=True, name="fleet:alerts")
def alerts_page(request: Request[Any, Any, Any], state: State, all: FromQuery[int] = 0) -> Any:  # noqa: A002
    rt = _runtime(state)
    with read_only(rt.engine).connect() as conn:
        rows = view.alerts(conn, active_only=not all, limit=500)
    return html("fleet_alerts.html", request, section="alerts", alerts=rows, show_all=bool(all))


@get("/api/terminals", sync_to_thread=True, name="fleet:api")
def terminals_json(state: State) -> dict[str, Any]:
    """The dashboard's data as JSON (for scripts and the benchmark)."""
    views, desired = _fleet_views(_runtime(state))
    return {
        "desired_version": desired.version if desired else None,
        "terminals": [
            {
                "terminal_id": v.terminal_id,
                "state": v.state.value,
                "last_seen_at": v.last_seen_at.isoformat() if v.last_seen_at else None,
                "outbox_depth": v.outbox_depth,
                "oldest_unsent_age_s": v.oldest_unsent_age_s,
                "catalogue_version": v.catalogue_version,
                "rollout_s": v.rollout_s,
                "alerts": v.alerts,
            }
            for v in views
        ],
    }


def fleet_router(guards: Sequence[Any] | None = None) -> Router:
    """The ``/fleet`` pages (and ``/fleet/catalogue``); extra ``guards`` apply to all of them."""
    return Router(
        path="/fleet",
        route_handlers=[dashboard, terminal_page, alerts_page, terminals_json, catalogue_router()],
        guards=list(guards or []),
        opt={PERMISSION: Permission.FLEET_READ},
    )
