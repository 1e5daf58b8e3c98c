"""My services: first the few a holder most likely needs, then all of them (eligible first, then needs-check,
by department) one tap away; search, item detail, checklists, visits."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from edge.kiosk.context import LANG_COOKIE, Kiosk, NoSession, redirect
from edge.kiosk.i18n import Translator
from edge.kiosk.receipts import checklist, material_text
from edge.kiosk.routes.home import kiosk_of, set_session_cookie
from edge.kiosk.session import KioskSession
from protocol.catalogue import Department, HandledAt, ServiceItem
from protocol.eligibility import Attributes, Eligibility, Verdict, unknowns

__all__ = ["ROUTES", "can_apply", "item_or_404"]

_PRINT_STATES = {"ok", "paper_out", "cover_open", "printer_error", "printer_offline", "printer_not_ready"}


def item_or_404(kiosk: Kiosk, code: str) -> ServiceItem:
    item = kiosk.directory.item(code)
    if item is None:
        raise NotFoundException()
    return item


def verdict_of(kiosk: Kiosk, session: KioskSession, item: ServiceItem) -> Verdict | None:
    attrs = session.attributes(kiosk.today())
    return kiosk.directory.verdict(attrs, item.code) if attrs is not None else None


def can_apply(kiosk: Kiosk, session: KioskSession, item: ServiceItem, verdict: Verdict | None = None) -> bool:
    """At the kiosk: immediate committee items, for an eligible holder, or needs-check ones with staff.
    ``verdict``: the holder's for ``item``, when the caller has it already."""
    if session.holder is None or not item.accepted_at_kiosk:
        return False
    verdict = verdict or verdict_of(kiosk, session, item)
    if verdict is None:
        return False
    return verdict.status is Eligibility.ELIGIBLE or (
        verdict.status is Eligibility.NEEDS_CHECK and session.staff_id is not None
    )


def _dept_name(dept: Department, lang: str) -> str:
    return dept.name_en if lang == "en" else dept.name


def _entry(kiosk: Kiosk, t: Translator, item: ServiceItem, status: Eligibility | None) -> dict[str, Any]:
    """One line of a list: the item's name, its status badge and whether the kiosk takes it (a list shows
    no verdict's sentence: the item's page does)."""
    return {
        "code": item.code,
        "name": t.pick(item.name, item.name_en),
        "status": status.value if status else None,
        "kiosk": item.accepted_at_kiosk,
        "department": kiosk.directory.department_name(item.department, t.lang),
    }


#: Up to this many services are listed on one page; more (a large catalogue) are shown as one button
#: per department, each opening that department's list: a 300-line page helps nobody at a kiosk.
LIST_ALL_UP_TO = 60


@get("/services", sync_to_thread=False)
def services(
    request: Request[Any, Any, Any],
    q: FromQuery[str] = "",
    dept: FromQuery[str] = "",
    all: FromQuery[bool] = False,  # noqa: A002
    full: FromQuery[bool] = False,
) -> Template:
    """``full``: every service the holder may apply for, grouped, instead of the first screen's few;
    ``all``: also those they may not (implies ``full``, as ``dept`` does)."""
    kiosk = kiosk_of(request)
    return _services_page(request, kiosk, kiosk.any_session(request), q.strip()[:40], dept, all, full)


@get("/claim/{token:str}", sync_to_thread=False)
def claim(request: Request[Any, Any, Any], token: FromPath[str]) -> Template | Response[Any]:
    """Where a card tap sends the page: the one-time token becomes the session cookie, and the holder's
    services come in the same response (the page then shows ``/services`` as its address)."""
    kiosk = kiosk_of(request)
    session = kiosk.sessions.claim(token)
    if session is None:
        if kiosk.session(request) is not None:  # a reload: the token is spent, the session is not
            return redirect("/services")
        raise NoSession
    if LANG_COOKIE in request.cookies:  # the last resident's language: a new card starts in Chinese
        fresh = redirect("/services")
        set_session_cookie(fresh, session.sid)
        fresh.delete_cookie(LANG_COOKIE)
        return fresh
    page = _services_page(request, kiosk, session, path="/services")
    set_session_cookie(page, session.sid)
    return page


def _services_page(
    request: Request[Any, Any, Any],
    kiosk: Kiosk,
    session: KioskSession,
    q: str = "",
    dept: str = "",
    all: bool = False,  # noqa: A002
    full: bool = False,
    path: str | None = None,
) -> Template:
    attrs = session.attributes(kiosk.today())
    t = kiosk.t(request)
    full = full or all or bool(dept)
    key = (tuple(sorted(attrs.values.items())) if attrs else None, q, dept, all, full)
    return kiosk.render_cached(
        request, "services.html", key, lambda: _services_view(kiosk, t, attrs, q, dept, all, full), session, path
    )


def _first_screen(kiosk: Kiosk, t: Any, attrs: Attributes) -> dict[str, Any]:
    """The services page a holder sees first: the few items they most likely need (protocol.likely), and
    all the others they may apply for one tap away."""
    ranked = kiosk.directory.ranked(attrs)
    return {
        "first": [_entry(kiosk, t, entry.item, entry.status) for entry in ranked.first()],
        "open_count": len(ranked.likely) + len(ranked.others),
        "sections": [],
        "results": None,
        "q": "",
        "hidden": 0,
        "all": False,
        "full": False,
        "collapse": False,
        "dept": "",
        "labels": _labels(t),
    }


def _services_view(
    kiosk: Kiosk,
    t: Any,
    attrs: Attributes | None,
    q: str,
    dept: str,
    all: bool,  # noqa: A002
    full: bool = True,
) -> dict[str, Any]:
    """The services page's body: for a holder, the first screen unless ``full`` or a search; otherwise
    eligible first, then needs-check (then, asked for, not eligible), by department."""
    if attrs is not None and not full and not q:
        return _first_screen(kiosk, t, attrs)
    lang = t.lang
    catalogue = kiosk.directory.catalogue
    hidden = 0
    # (status or None, [(department, [(item, status or None)])])
    groups: list[tuple[str | None, list[tuple[Department, list[tuple[ServiceItem, Eligibility | None]]]]]] = []
    if attrs is None:
        by_dept: list[tuple[Department, list[tuple[ServiceItem, Eligibility | None]]]] = [
            (d, [(i, None) for i in catalogue.items_of(d.code)]) for d in catalogue.departments
        ]
        groups.append((None, [(d, items) for d, items in by_dept if items]))
    else:
        for group in kiosk.directory.groups(attrs):
            if group.status is Eligibility.NOT_ELIGIBLE and not all:
                hidden = group.count
                continue
            groups.append(
                (
                    group.status.value,
                    [(d.department, [(e.item, e.status) for e in d.items]) for d in group.departments],
                )
            )
    if dept:
        groups = [(status, [(d, items) for d, items in depts if d.code == dept]) for status, depts in groups]
    visible = [(item, status) for _, depts in groups for _, items in depts for item, status in items]
    results = None
    if q:
        statuses = {item.code: status for item, status in visible}
        found = kiosk.directory.search(q, [item for item, _ in visible])
        results = [_entry(kiosk, t, item, statuses[item.code]) for item in found]
    collapse = not dept and len(visible) > LIST_ALL_UP_TO
    sections = [
        {
            "status": status,
            "departments": [
                {
                    "code": d.code,
                    "name": _dept_name(d, lang),
                    "count": len(items),
                    "items": [] if collapse else [_entry(kiosk, t, i, v) for i, v in items],
                }
                for d, items in depts
            ],
        }
        for status, depts in groups
    ]
    return {
        "first": None,
        "sections": sections,
        "results": results,
        "q": q,
        "hidden": hidden,
        "all": all,
        "full": full,
        "collapse": collapse,
        "dept": _dept_name(catalogue.department(dept), lang)
        if dept and dept in {d.code for d in catalogue.departments}
        else "",
        "labels": _labels(t),
    }


def _labels(t: Any) -> dict[str, str]:
    return {status.value: t(f"status.{status.value}") for status in Eligibility} | {"at_kiosk": t("services.at_kiosk")}


@get("/item/{code:str}", sync_to_thread=False)
def item_detail(request: Request[Any, Any, Any], code: FromPath[str], printed: FromQuery[str] = "") -> Template:
    kiosk = kiosk_of(request)
    session = kiosk.any_session(request)
    item = item_or_404(kiosk, code)
    t = kiosk.t(request)
    verdict = verdict_of(kiosk, session, item)
    applies = can_apply(kiosk, session, item, verdict)
    today = kiosk.today()
    printed = printed if printed in _PRINT_STATES else ""
    card = session.card_attributes(today) if session.staff_id else None
    checkable = card is not None and bool(unknowns(item.eligibility, card))  # staff may answer (again)
    return kiosk.render_cached(
        request,
        "item.html",
        (code, verdict, applies, checkable, today, printed),
        lambda: {
            "checkable": checkable,
            "department": kiosk.directory.department_name(item.department, t.lang),
            "verdict": verdict,
            "due": (due := kiosk.directory.due_date(item, today)),
            "tentative": kiosk.directory.tentative(due),
            "can_apply": applies,
            **_item_view(kiosk, t, item, printed),
        },
        session=session,
    )


def _item_view(kiosk: Kiosk, t: Any, item: ServiceItem, printed: str) -> dict[str, Any]:
    """What the item page and the visit page both show of an item, in the page's language."""
    return {
        "item": item,
        "name": item.name_en if t.lang == "en" else item.name,
        "place": _place(kiosk, t, item),
        "materials": [material_text(t, item, n) for n in range(len(item.materials))],
        "printed": printed if printed in _PRINT_STATES else "",
    }


def _place(kiosk: Kiosk, t: Translator, item: ServiceItem) -> str:
    if item.handled_at is HandledAt.COMMITTEE:
        return t("item.place_committee", committee=kiosk.committee_name)
    return t("item.place_centre")


@post("/item/{code:str}/print", sync_to_thread=True)
def print_checklist(request: Request[Any, Any, Any], code: FromPath[str]) -> Response[Any]:
    kiosk = kiosk_of(request)
    kiosk.any_session(request)
    item = item_or_404(kiosk, code)
    t = kiosk.t(request)
    status = kiosk.print(checklist(t, item, kiosk.committee_name, _place(kiosk, t, item)))
    return redirect(f"/item/{code}?printed={status}")


@get("/item/{code:str}/book", sync_to_thread=False)
def book(request: Request[Any, Any, Any], code: FromPath[str], printed: FromQuery[str] = "") -> Template:
    """Items the centre decides: a suggested day and the checklist, so nobody makes a wasted trip."""
    kiosk = kiosk_of(request)
    session = kiosk.any_session(request)
    item = item_or_404(kiosk, code)
    t = kiosk.t(request)
    return kiosk.render(
        request,
        "book.html",
        session=session,
        visit=kiosk.directory.suggested_visit(kiosk.now()),
        **_item_view(kiosk, t, item, printed),
    )


@post("/item/{code:str}/book", sync_to_thread=True)
def print_visit(request: Request[Any, Any, Any], code: FromPath[str]) -> Response[Any]:
    kiosk = kiosk_of(request)
    kiosk.any_session(request)
    item = item_or_404(kiosk, code)
    t = kiosk.t(request)
    visit = kiosk.directory.suggested_visit(kiosk.now())
    status = kiosk.print(checklist(t, item, kiosk.committee_name, _place(kiosk, t, item), visit))
    return redirect(f"/item/{code}/book?printed={status}")


ROUTES = [services, claim, item_detail, print_checklist, book, print_visit]
