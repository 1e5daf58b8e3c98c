"""My cases with their timelines; a receipt's progress by its QR code (or its number and query code).

Offline, each case shows the last state the terminal knows and the time it is as of (截至 …). A holder's
earlier cases are found with the hub's lookup key (edge.store.cases): until the terminal has it since
its start, the page says the history comes back with the link to the centre and lists the cases of this
session only.

A receipt's progress needs its number and query code *and* its holder: the card of the session, or the
ID number typed. Failed lookups are limited per client and per receipt (edge.kiosk.throttle), and a
refusal never says which part was wrong. What is typed is read as people type it (protocol.typed: lower
case, full-width, spaces, dashes) — the same reading as the hub's portal and Open311.
"""

from __future__ import annotations

import hashlib
import logging
import math
from datetime import datetime
from typing import Annotated, Any, cast

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, QueryParameter
from litestar.response import Template

from edge.kiosk.context import Kiosk, local
from edge.kiosk.routes.home import kiosk_of
from edge.kiosk.routes.rating import DECIDED
from edge.kiosk.session import KioskSession
from edge.store.cases import LookupUnavailable
from edge.store.retention import CLOSED
from protocol import idnumber
from protocol.cases import CaseStatus
from protocol.typed import typed_id_number, typed_query_code, typed_receipt

__all__ = ["ROUTES"]

log = logging.getLogger(__name__)
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
_STATUSES = {s.value for s in CaseStatus}
CLOSED_STATUSES = {s.value for s in CLOSED}
TYPED_MAX = 40
"""The most of a typed receipt number, query code or ID number read (the form's ``maxlength``)."""


def _view(kiosk: Kiosk, lang: str, case: dict[str, Any], rated: bool | None = None) -> dict[str, Any]:
    """A case as the pages show it; ``rated``: whether it is rated (None: not asked, no rating offered)."""
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
        "case_id": str(case["case_id"]),
        "rated": bool(rated),
        "rateable": rated is False and status in DECIDED,
        # the promised date while the case is open: the receipt's, then the centre's (moved by a 补正 pause)
        "due": case.get("due_date") if status not in CLOSED_STATUSES else None,
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
    rated = kiosk.runtime.ratings.rated_among([str(c["case_id"]) for c in rows])
    cases = [_view(kiosk, lang, c, str(c["case_id"]) in rated) for c in rows]
    return kiosk.render(
        request,
        "cases.html",
        session=session,
        cases=cases,
        history_unavailable=found is None,
        just_rated=request.query_params.get("rated", "") in rated,
    )


def _lookup_id(session: KioskSession | None, typed: str) -> str | None:
    """Whose progress may be shown: the card holder's, else the ID number typed (when it is a possible one)."""
    if session is not None and session.holder is not None:
        return session.holder.id_number
    try:
        return idnumber.validate(typed_id_number(typed[:TYPED_MAX]))
    except idnumber.InvalidIdNumber as exc:
        log.info("a progress lookup asked again for the ID number: the one typed is not a possible one (%s)", exc)
        return None


def _progress(kiosk: Kiosk, request: Request[Any, Any, Any], receipt_no: str, code: str, id_number: str) -> Template:
    """A receipt's progress, for its holder only: receipt number, query code and ID number (or the card)
    must all match. Failures count per receipt (with the ID number named) and per asker — the card holder of
    the session, else the client
    (every typed look-up at a kiosk comes from its one browser: a card holder is not held up by someone else's
    guesses); a refusal never says which part was wrong."""
    session = kiosk.session(request)
    if session is not None and session.holder is not None:  # the key stays in memory; still no ID number in it
        asker = "holder:" + hashlib.sha256(session.holder.id_number.encode()).hexdigest()[:24]
    else:
        asker = f"client:{request.client.host if request.client else 'unknown'}"
    # the receipt however typed, with the ID number named: guesses with other ID numbers hold no one else up
    named = hashlib.sha256(id_number.encode()).hexdigest()[:16]
    keys_client, keys_receipt = [asker], [f"receipt:{typed_receipt(receipt_no)[0]}#{named}"]
    wait = max(kiosk.progress_by_client.retry_in(keys_client), kiosk.progress_by_receipt.retry_in(keys_receipt))
    if wait > 0:
        log.warning("progress lookups refused for %.0f s more: too many failures", wait)
        return _refused(kiosk, request, "progress.too_many", 429, minutes=math.ceil(wait / 60))
    try:
        case = kiosk.runtime.cases.by_receipt(receipt_no, code, id_number)
    except LookupUnavailable:
        return _refused(kiosk, request, "progress.unavailable", 503)
    if case is None:
        kiosk.progress_by_client.failed(keys_client)
        kiosk.progress_by_receipt.failed(keys_receipt)
        log.info("a progress lookup matched no case")
        # 重新查询 brings the form back with what was typed (an accessibility review: 47 taps to do again)
        return _refused(kiosk, request, "progress.not_found", 404, again=kiosk.events.remember(receipt_no, code))
    return kiosk.render(request, "progress.html", case=_view(kiosk, kiosk.lang(request), case))


def _refused(
    kiosk: Kiosk, request: Request[Any, Any, Any], key: str, status: int, again: str = "", **fields: object
) -> Template:
    page = kiosk.render(request, "progress.html", case=None, error=kiosk.t(request)(key, **fields), again=again)
    page.status_code = status
    return page


def _ask_for_id(kiosk: Kiosk, request: Request[Any, Any, Any], receipt_no: str, code: str, error: bool) -> Template:
    """The form again, with the receipt's number and code filled in: the ID number is still needed."""
    page = kiosk.render(request, "scan.html", receipt_no=receipt_no, query_code=code, id_error=error)
    if error:
        page.status_code = 400
    return page


@get("/progress/{token:str}", sync_to_thread=True)
def progress_scanned(request: Request[Any, Any, Any], token: FromPath[str]) -> Template:
    """Where a scanned receipt QR sends the page (the receipt number and code stay on the server). With a
    card holder's session their card identifies them; otherwise the page asks for the ID number."""
    kiosk = kiosk_of(request)
    found = kiosk.events.scan(token)
    if found is None:
        return _refused(kiosk, request, "progress.expired", 404)
    receipt_no, code = found
    session = kiosk.session(request)
    if session is None or session.holder is None:
        return _ask_for_id(kiosk, request, receipt_no, code, error=False)
    return _progress(kiosk, request, receipt_no, code, session.holder.id_number)


@get("/scan", sync_to_thread=False)
def scan_page(request: Request[Any, Any, Any], t: Annotated[str, QueryParameter(max_length=64)] = "") -> Template:
    """The form; ``t``: a failed look-up's token (:meth:`KioskEvents.remember`), its number and code filled in."""
    kiosk = kiosk_of(request)
    receipt_no, code = (kiosk.events.scan(t) if t else None) or ("", "")
    return kiosk.render(request, "scan.html", receipt_no=receipt_no, query_code=code, id_error=False)


@post("/progress", sync_to_thread=True)
def progress_typed(request: Request[Any, Any, Any], data: Form) -> Template:
    kiosk = kiosk_of(request)
    # As people type them (lower case, full-width, spaces, dashes or none): the receipt number is kept as typed,
    # the store reads it (typed_receipt: every number it may be, upper-cased and with its letters as typed).
    receipt_no = str(data.get("receipt_no", ""))[:TYPED_MAX]
    code = typed_query_code(str(data.get("query_code", ""))[:TYPED_MAX])[:TYPED_MAX]
    id_number = _lookup_id(kiosk.session(request), str(data.get("id_number", "")))
    if id_number is None:
        return _ask_for_id(kiosk, request, receipt_no, code, error=True)
    return _progress(kiosk, request, receipt_no, code, id_number)


ROUTES = [my_cases, progress_scanned, scan_page, progress_typed]
