"""The on-screen keyboard's pinyin candidates: ``/ime?p=zhang`` → what those letters may stand for."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.params import FromQuery

from edge.kiosk.ime import valid_letters
from edge.kiosk.routes.home import kiosk_of

__all__ = ["ROUTES"]


@get("/ime", sync_to_thread=False)
def ime(request: Request[Any, Any, Any], p: FromQuery[str] = "") -> Response[dict[str, Any]]:
    """``{"ready": bool, "candidates": [[text, letters used], …]}``, best first. Not ready: the index is
    being built (the keyboard says so and asks again); letters still type as letters."""
    if not valid_letters(p):
        return Response({"error": "p: 1 to 40 letters a-z"}, status_code=400)
    index = kiosk_of(request).ime
    if index is None or not index.ready():
        return Response({"ready": False, "candidates": []})
    return Response({"ready": True, "candidates": [[c.text, c.used] for c in index.candidates(p)]})


ROUTES = [ime]
