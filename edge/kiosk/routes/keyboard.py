"""The on-screen keyboard's pinyin candidates: ``/ime?p=zhang&k=name`` → what those letters may stand for."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.params import FromQuery

from edge.kiosk.ime import FieldKind, valid_letters
from edge.kiosk.routes.home import kiosk_of

__all__ = ["ROUTES"]

_KINDS = {k.value: k for k in FieldKind}


@get("/ime", sync_to_thread=False)
def ime(
    request: Request[Any, Any, Any], p: FromQuery[str] = "", k: FromQuery[str] = "text"
) -> Response[dict[str, Any]]:
    """``{"ready": bool, "failed": bool, "candidates": [[text, letters used], …]}``, best first, the field
    kind ``k``'s own words (``place``, ``name``) before others. Not ready: the index is being built (the
    keyboard says so and asks again); failed: it could not be (the keyboard says to ask staff)."""
    if not valid_letters(p) or k not in _KINDS:
        return Response({"error": "p: 1 to 40 letters a-z; k: text, place or name"}, status_code=400)
    index = kiosk_of(request).ime
    if index is None or not index.ready():
        return Response({"ready": False, "failed": index is None or index.failed, "candidates": []})
    found = index.candidates(p, _KINDS[k])
    return Response({"ready": True, "failed": False, "candidates": [[c.text, c.used] for c in found]})


ROUTES = [ime]
