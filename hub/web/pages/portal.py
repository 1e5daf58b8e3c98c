"""The resident portal (``/portal``, issue 16): public, no sign-in, mobile first, Chinese by default and
English with ``?lang=en``.

- ``/portal/`` the service guide: the catalogue in force, searchable (``?q=``); ``/portal/items/<code>``
  one item's procedure, materials, fee, promised time and where to apply;
- ``/portal/progress`` a case by receipt number **and** ID number **and** query code (the receipt's QR
  code opens it with the receipt number and query code filled in; the resident types the ID number), its
  history in the glossary's words, and a pass to download the record as PDF (``POST /portal/record``);
- ``/portal/verify?t=`` checks a printed record's QR code;
- ``/portal/stats`` the public statistics, small cells suppressed.

The look-up's answer to anything wrong is one message and one status whatever was wrong — but for an ID
number that cannot be anyone's, told as a typing mistake (and not counted: it says nothing of any case).
What is typed is read as residents type it (:mod:`protocol.typed`: full-width, lower-case x, spaces,
dashes). The ID number typed is never logged, never put in a URL and never sent back in a page (the form
comes back empty).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

import anyio
from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, QueryParameter
from litestar.response import Template

from hub.portal.lookup import CaseRecordView, LookupFailed, LookupRefused, NotAnIdNumber
from hub.portal.service import Portal
from hub.portal.token import DOWNLOAD, RECORD, BadToken
from hub.web.auth import PUBLIC, client_of
from hub.web.pages.common import field
from hub.web.text import portal_words
from protocol.envelope import utcnow
from protocol.statuses import glossary
from protocol.typed import typed_query_code

__all__ = ["portal_router", "verify_url"]

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
Lang = Annotated[str, QueryParameter(pattern="^(zh|en)$")]
DOWNLOAD_S = 30 * 60
"""A download pass lasts half an hour from the look-up."""
TYPED_MAX = 40
"""The most of each look-up field read (the form's ``maxlength``): room for the spaces and dashes people type
between the 18 characters of an ID number, the 6 of a query code."""


def _kept(receipt_no: str, query_code: str) -> dict[str, str]:
    """What the other language's page is opened with: the receipt number and query code (as the receipt's QR
    code carries them), never the ID number: the resident types that again."""
    return {"r": receipt_no.strip()[:40], "c": typed_query_code(query_code)[:6]} if receipt_no or query_code else {}


def _lang(value: str) -> str:
    return "en" if value == "en" else "zh"


def _page(
    template: str, lang: str, status_code: int = 200, query: dict[str, str] | None = None, **context: Any
) -> Template:
    """A portal page in ``lang``; ``query``: what the page's address carries besides the language, kept by the
    link to the other language (the record's token on the verify page)."""
    w = portal_words(lang)
    suffix = "?lang=en" if lang == "en" else ""
    other = "?" + urlencode({**(query or {}), "lang": "zh" if lang == "en" else "en"})
    return Template(
        f"portal/{template}",
        context={
            "w": w,
            "lang": lang,
            "lang_q": suffix,
            "lang_amp": "&lang=en" if lang == "en" else "",
            "other_lang_q": other,
            **context,
        },
        status_code=status_code,
    )


def portal_base(request: Request[Any, Any, Any], portal: Portal) -> str:
    """The portal's address as residents reach it: ``[portal] base_url``, else the request's own."""
    return (portal.settings.base_url or f"{str(request.base_url).rstrip('/')}/portal").rstrip("/")


def verify_url(base: str, token: str, lang: str = "zh") -> str:
    """The address a record's QR code opens: its check, in the language the record was printed in."""
    return f"{base}/verify?t={token}" + ("&lang=en" if lang == "en" else "")


@get("/", sync_to_thread=True, name="portal:guide")
def guide(
    portal: NamedDependency[Portal], q: Annotated[str, QueryParameter(max_length=64)] = "", lang: Lang = "zh"
) -> Template:
    catalogue, items = portal.guide.search(q)
    return _page(
        "guide.html",
        lang,
        q=q,
        items=items,
        catalogue=catalogue,
        departments={d.code: d for d in catalogue.departments},
    )


@get("/items/{code:str}", sync_to_thread=True, name="portal:item")
def item_page(portal: NamedDependency[Portal], code: FromPath[str], lang: Lang = "zh") -> Template:
    catalogue, item = portal.guide.item(code)
    if item is None:
        return _page("guide.html", lang, 404, q=code, items=[], catalogue=catalogue, departments={})
    return _page("item.html", lang, item=item, department=catalogue.department(item.department))


@get("/progress", name="portal:progress")
async def progress_form(
    r: Annotated[str, QueryParameter(max_length=40)] = "",
    c: Annotated[str, QueryParameter(max_length=6)] = "",
    lang: Lang = "zh",
) -> Template:
    return _page("progress.html", lang, query=_kept(r, c), receipt_no=r, query_code=c.upper())


def _shown(view: CaseRecordView, portal: Portal) -> dict[str, Any]:
    download = portal.tokens.make(DOWNLOAD, {"c": view.case_id}, utcnow() + timedelta(seconds=DOWNLOAD_S))
    return {"case": view, "download": download}


@post("/progress", name="portal:lookup", status_code=200)
async def lookup(request: Request[Any, Any, Any], portal: NamedDependency[Portal], data: Form) -> Template:
    lang = _lang(field(data, "lang"))
    # As typed (spaces, dashes, full-width: the look-up reads them); cut only to bound the work.
    receipt, code = field(data, "receipt_no")[:TYPED_MAX], field(data, "query_code")[:TYPED_MAX]
    try:
        view = await anyio.to_thread.run_sync(
            portal.lookup.find, client_of(request), receipt, field(data, "id_number")[:TYPED_MAX], code
        )
    except LookupRefused as refused:
        page = _page(
            "progress.html",
            lang,
            429,
            _kept(receipt, code),
            receipt_no=receipt,
            query_code=code,
            error="refused",
            minutes=max(1, math.ceil(refused.retry_s / 60)),  # how long: an elderly resident needs a time
        )
        page.headers["Retry-After"] = str(max(1, math.ceil(refused.retry_s)))
        return page
    except NotAnIdNumber:
        return _page(
            "progress.html", lang, 400, _kept(receipt, code), receipt_no=receipt, query_code=code, error="id_invalid"
        )
    except LookupFailed:
        return _page(
            "progress.html", lang, 404, _kept(receipt, code), receipt_no=receipt, query_code=code, error="failed"
        )
    return _page(
        "progress.html", lang, query=_kept(view.receipt_no, code), receipt_no="", query_code="", **_shown(view, portal)
    )


@post("/record", name="portal:record", status_code=200)
async def record(
    request: Request[Any, Any, Any], portal: NamedDependency[Portal], data: Form
) -> Response[bytes] | Template:
    lang = _lang(field(data, "lang"))
    now = utcnow()
    try:
        case_id = str(portal.tokens.open(DOWNLOAD, field(data, "pass"), now)["c"])
    except (BadToken, KeyError):
        return _page("progress.html", lang, 400, receipt_no="", query_code="", error="download_expired")
    view = await anyio.to_thread.run_sync(portal.lookup.record, case_id, True)
    if view is None:
        return _page("progress.html", lang, 400, receipt_no="", query_code="", error="download_expired")
    facts = {"c": view.case_id, "r": view.receipt_no, "s": view.status, "v": view.version, "p": int(now.timestamp())}
    token = portal.tokens.make(RECORD, facts, now + timedelta(days=portal.settings.record_token_days))
    url = verify_url(portal_base(request, portal), token, lang)
    from hub.web.record_pdf import record_pdf  # fpdf is a fifth of a second to import: only when a record is asked for

    pdf = await anyio.to_thread.run_sync(record_pdf, view, url, now, lang)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="record-{view.receipt_no}.pdf"'},
    )


@get("/verify", sync_to_thread=True, name="portal:verify")
def verify(
    portal: NamedDependency[Portal], t: Annotated[str, QueryParameter(max_length=2000)] = "", lang: Lang = "zh"
) -> Template:
    try:
        facts = portal.tokens.open(RECORD, t, utcnow())
        printed = {k: facts[k] for k in ("c", "r", "s", "v", "p")}
    except (BadToken, KeyError):
        return _page("verify.html", lang, 400, query={"t": t}, ok=False)
    view = portal.lookup.record(str(printed["c"]))
    terms = {status.value: (t.en if lang == "en" else t.zh) for status, t in glossary().items()}
    printed_at = datetime.fromtimestamp(int(printed["p"]), UTC)
    return _page(
        "verify.html", lang, query={"t": t}, ok=True, printed=printed, printed_at=printed_at, terms=terms, case=view
    )


@get("/stats", sync_to_thread=True, name="portal:stats")
def stats(portal: NamedDependency[Portal], lang: Lang = "zh") -> Template:
    return _page("stats.html", lang, months=portal.stats.recent(), k=portal.settings.stats_min_count)


def portal_router() -> Router:
    """``/portal``: public (the guard lets it through without sign-in)."""
    return Router(
        path="/portal",
        route_handlers=[guide, item_page, progress_form, lookup, record, verify, stats],
        opt={PUBLIC: True},
        include_in_schema=False,
    )
