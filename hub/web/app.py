"""The hub's web side. For now a JSON API over cases, dead letters and terminals, health and metrics;
the back office pages grow here by domain."""

from __future__ import annotations

import threading
from typing import Any

import uvicorn
from litestar import Litestar, MediaType, Request, Response, get
from litestar.datastructures import State
from prometheus_client import generate_latest
from sqlalchemy import Engine, func, select

from hub.db.models import CaseRow, DeadLetter, TerminalRow
from hub.errors import HubError, NotFound
from protocol.idnumber import mask

__all__ = ["create_app", "serve"]

_cases, _dead, _terms = CaseRow.__table__, DeadLetter.__table__, TerminalRow.__table__


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items() if k not in {"payload"}}
    if "id_number" in out:
        out["id_number"] = mask(out["id_number"])
    return out


def _engine(state: State) -> Engine:
    return state.runtime.engine  # type: ignore[no-any-return]


@get("/api/cases", sync_to_thread=True)
def list_cases(state: State, limit: int = 100, offset: int = 0, terminal: str | None = None) -> dict[str, Any]:
    q = select(_cases).order_by(_cases.c.received_at.desc()).limit(min(limit, 1000)).offset(offset)
    count = select(func.count()).select_from(_cases)
    if terminal:
        q, count = q.where(_cases.c.terminal_id == terminal), count.where(_cases.c.terminal_id == terminal)
    with _engine(state).connect() as conn:
        rows = conn.execute(q).mappings().all()
        total = conn.execute(count).scalar_one()
    return {"total": total, "cases": [_jsonable(dict(r)) for r in rows]}


@get("/api/cases/{case_id:str}", sync_to_thread=True)
def get_case(state: State, case_id: str) -> dict[str, Any]:
    with _engine(state).connect() as conn:
        row = conn.execute(select(_cases).where(_cases.c.case_id == case_id)).mappings().first()
    if row is None:
        raise NotFound(f"no case {case_id}")
    return _jsonable(dict(row))


@get("/api/dead-letters", sync_to_thread=True)
def list_dead_letters(state: State, limit: int = 100, reason: str | None = None) -> dict[str, Any]:
    q = select(_dead).order_by(_dead.c.id.desc()).limit(min(limit, 1000))
    if reason:
        q = q.where(_dead.c.reason == reason)
    with _engine(state).connect() as conn:
        rows = conn.execute(q).mappings().all()
    return {"dead_letters": [_jsonable(dict(r)) for r in rows]}


@get("/api/terminals", sync_to_thread=True)
def list_terminals(state: State) -> dict[str, Any]:
    with _engine(state).connect() as conn:
        rows = conn.execute(select(_terms).order_by(_terms.c.terminal_id)).mappings().all()
    return {"terminals": [_jsonable(dict(r)) for r in rows]}


@get("/healthz", sync_to_thread=False)
def healthz(state: State) -> dict[str, Any]:
    return {"ok": True, "broker": state.runtime.worker.connected.is_set()}


@get("/metrics", media_type=MediaType.TEXT, sync_to_thread=False)
def metrics(state: State) -> bytes:
    return generate_latest(state.runtime.metrics.registry)


def _hub_error(_: Request[Any, Any, Any], exc: HubError) -> Response[dict[str, str]]:
    return Response({"error": str(exc)}, status_code=exc.status_code)


def create_app(runtime: Any) -> Litestar:
    return Litestar(
        route_handlers=[list_cases, get_case, list_dead_letters, list_terminals, healthz, metrics],
        state=State({"runtime": runtime}),
        exception_handlers={HubError: _hub_error},
    )


def serve(runtime: Any, stop: threading.Event) -> None:
    """Serve until ``stop`` is set (SIGTERM) or Ctrl-C."""
    config = uvicorn.Config(
        create_app(runtime),
        host=runtime.settings.web_host,
        port=runtime.settings.web_port,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    threading.Thread(target=lambda: (stop.wait(), setattr(server, "should_exit", True)), daemon=True).start()
    server.run()
