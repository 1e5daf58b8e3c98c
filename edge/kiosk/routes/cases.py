"""My cases with their timelines; a receipt's progress by its QR code (or its number and query code).

Offline, each case shows the last state the terminal knows and the time it is as of (截至 …). A holder's
earlier cases are found with the hub's lookup key (edge.store.cases): until the terminal has it since
its start, the page says the history comes back with the link to the centre and lists the cases of this
session only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, cast

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Template

from edge.kiosk.context import Kiosk, local
from edge.kiosk.routes.home import kiosk_of
from edge.store.cases import LookupUnavailable

__all__ = ["ROUTES"]

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
_STATUSES = {"submitted", "accepted", "under_review", "more_materials", "completed", "rejected", "withdrawn"}


def _view(kiosk: Kiosk, lang: str, case: dict[str, Any]) -> dict[str, Any]:
    item = kiosk.directory.item(str(case["item_code"]))
    name = (item.name_en if lang == "en" else item.name) if item else str(case["item_code"])
    status = str(case["status"]) if case["status"] in _STATUSES else "submitted"
    timeline = [
        {
            "status": str(e["status"]) if e["status"] in _STATUSES else "submitted",
            "at": local(e["at"]),
            "note": e.get("note") or "",
        }
        for e in case.get("timeline", [])
    ]
    return {
        "name": name,
        "receipt_no": case["receipt_no"],
        "status": status,
        "status_at": local(case["status_at"]),
        "note": case.get("status_note") or "",
        "created_at": local(case["created_at"]),
        "acked": case.get("hub_acked_at") is not None,
        "timeline": timeline,
    }


@get("/cases", sync_to_thread=True)
def my_cases(request: Request[Any, Any, Any]) -> Template:
    kiosk = kiosk_of(request)
    session = kiosk.holder_session(request)
    assert session.holder is not None
    lang = kiosk.lang(request)
    store = kiosk.runtime.cases
    try:
        found = store.cases_of(session.holder.id_number)
    except LookupUnavailable:
        found = None
    # This session's own cases too: one accepted while the lookup key was missing has no holder key yet.
    known = {str(c["case_id"]) for c in found or ()}
    own = store.cases_by_id([cid for cid in session.receipts if cid not in known])
    rows = sorted([*(found or ()), *own], key=lambda c: cast(datetime, c["created_at"]), reverse=True)
    cases = [_view(kiosk, lang, c) for c in rows]
    return kiosk.render(request, "cases.html", session=session, cases=cases, history_unavailable=found is None)


def _progress(kiosk: Kiosk, request: Request[Any, Any, Any], receipt_no: str, code: str) -> Template:
    case = kiosk.runtime.cases.by_receipt(receipt_no, code)
    lang = kiosk.lang(request)
    return kiosk.render(request, "progress.html", case=_view(kiosk, lang, case) if case else None)


@get("/progress/{token:str}", sync_to_thread=True)
def progress_scanned(request: Request[Any, Any, Any], token: FromPath[str]) -> Template:
    """Where a scanned receipt QR sends the page (the receipt number and code stay on the server)."""
    kiosk = kiosk_of(request)
    found = kiosk.events.scan(token)
    if found is None:
        return kiosk.render(request, "progress.html", case=None)
    return _progress(kiosk, request, *found)


@get("/scan", sync_to_thread=False)
def scan_page(request: Request[Any, Any, Any]) -> Template:
    kiosk = kiosk_of(request)
    return kiosk.render(request, "scan.html")


@post("/progress", sync_to_thread=True)
def progress_typed(request: Request[Any, Any, Any], data: Form) -> Template:
    kiosk = kiosk_of(request)
    receipt_no = str(data.get("receipt_no", "")).strip().upper()[:32]
    code = str(data.get("query_code", "")).strip().upper()[:6]
    return _progress(kiosk, request, receipt_no, code)


ROUTES = [my_cases, progress_scanned, scan_page, progress_typed]
