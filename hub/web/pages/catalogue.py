"""Catalogue pages (mounted under ``/fleet/catalogue``): versions, the draft and its changes, an editor of
every field of an item the kiosk shows (:mod:`hub.web.pages.catalogue_form`; an English text older than
its Chinese source is flagged, :mod:`hub.catalogue.translations`), import and export of the whole
catalogue as JSON, and publishing after a confirmation page that lists the changes and the stale English
(through :class:`~hub.catalogue.publishing.CataloguePublishing`, the dependency ``publishing``).

Reading needs what the enclosing router asks (``fleet.read``); changing and publishing is for managers
and operators (:func:`writers_only`) — auditors read only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from litestar import MediaType, Request, Response, Router, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.handlers.base import BaseRouteHandler
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template

from hub.catalogue import translations
from hub.catalogue.publishing import CataloguePublishing
from hub.catalogue.store import CatalogueStore, VersionInfo
from hub.errors import HubError, NotFound, PermissionDenied
from hub.text import section, text
from hub.web.auth import principal_of
from hub.web.pages.catalogue_form import BLANK_ROWS, changes_from_form
from protocol.catalogue import Catalogue, ServiceItem

__all__ = ["catalogue_router"]

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
_BASE = "/fleet/catalogue"
WRITER_ROLES = frozenset({"manager", "operator"})


def writers_only(connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler) -> None:
    """Edits and publication: managers and operators (the signed-in principal the app's guard set)."""
    who = principal_of(connection)
    if who is not None and str(who.role) not in WRITER_ROLES:
        raise PermissionDenied(text("flash", "catalogue_writers"))


def _actor(request: Request[Any, Any, Any]) -> str:
    """How the audit trail and the version list name the signed-in user (the principal the app's guard
    set); with nobody signed in there is nobody to record, so nothing is changed."""
    who = principal_of(request)
    if who is None:
        raise PermissionDenied(text("web", "sign_in_first"))
    return who.actor


def _changes(store: CatalogueStore, draft: Catalogue | None, latest: VersionInfo | None) -> dict[str, str]:
    """Item code → 新增 / 修改 / 删除, draft against the newest published version: by the items' hashes as
    stored (hashing a thousand items twice took a second of each page)."""
    if draft is None or latest is None:
        return {}
    before, after = store.item_hashes(latest.version), store.item_hashes(draft.version)
    change = section("catalogue_change")
    out = {code: change["added"] for code in after if code not in before}
    if store.departments_json(latest.version) != store.departments_json(draft.version):
        out[change["departments"]] = change["changed"]
    out.update({code: change["changed"] for code in after if code in before and before[code] != after[code]})
    out.update({code: change["removed"] for code in before if code not in after})
    return out


def _page(publishing: CataloguePublishing, notice: str = "", error: bool = False, status: int = 200) -> Template:
    store = publishing.store
    draft = store.draft()
    latest = store.latest()
    shown = draft or (store.get(latest.version) if latest else None)
    context = {
        "section": "catalogue",
        "versions": store.versions(limit=30),
        "draft": draft,
        "latest": latest,
        "shown": shown,
        "changes": _changes(store, draft, latest),
        "unpublished": store.unpublished(),  # the draft's token, when an import would lose something of it
        "stale": translations.stale_in(store.engine, shown) if shown else {},
        "notice": notice,
        "error": error,
    }
    return Template("catalogue/index.html", context=context, status_code=status, media_type=MediaType.HTML)


def _done(key: str, code: str = "") -> str:
    """The notice after a step, by its key in the redirect's ``?done=`` (never words from the URL: a web
    review showed any text a link carried as the page's notice, wording for a phishing link)."""
    words = {
        "draft_started": lambda: text("flash", "draft_started"),
        "draft_discarded": lambda: text("flash", "draft_discarded"),
        "imported": lambda: text("flash", "imported"),
        "published": lambda: section("catalogue")["published"],
        "saved": lambda: section("catalogue")["saved"].format(code=code),
    }.get(key)
    return words() if words else ""


@get("/", sync_to_thread=True, name="catalogue:index", include_in_schema=False)
def catalogue_page(publishing: NamedDependency[CataloguePublishing], done: FromQuery[str] = "") -> Template:
    return _page(publishing, notice=_done(done))


def _act(publishing: CataloguePublishing, action: Callable[[], object], done: str) -> Template | Redirect:
    try:
        action()
    except HubError as exc:
        return _page(publishing, notice=str(exc), error=True, status=exc.status_code)
    return Redirect(f"{_BASE}/?done={done}", status_code=303)


@post("/draft", name="catalogue:draft", sync_to_thread=True, guards=[writers_only], include_in_schema=False)
def start_draft(request: Request[Any, Any, Any], publishing: NamedDependency[CataloguePublishing]) -> Any:
    return _act(publishing, lambda: publishing.store.start_draft(_actor(request)), "draft_started")


@post("/draft/discard", name="catalogue:discard", sync_to_thread=True, guards=[writers_only], include_in_schema=False)
def discard_draft(request: Request[Any, Any, Any], publishing: NamedDependency[CataloguePublishing], data: Form) -> Any:
    """A draft that differs from the published version asks first, listing what would be lost: the draft is
    shared by every manager, and one click threw away a colleague's edits (a catalogue manager's review)."""
    store = publishing.store
    draft, latest = store.draft(), store.latest()
    changes = _changes(store, draft, latest)
    if draft is not None and changes and data.get("confirm") != "yes":
        context = {"section": "catalogue", "draft": draft, "changes": changes}
        return Template("catalogue/discard.html", context=context, media_type=MediaType.HTML)
    return _act(publishing, lambda: store.discard_draft(_actor(request)), "draft_discarded")


@post("/publish", name="catalogue:publish", sync_to_thread=True, guards=[writers_only], include_in_schema=False)
def publish(request: Request[Any, Any, Any], publishing: NamedDependency[CataloguePublishing], data: Form) -> Any:
    """Publishing asks first: without ``confirm=yes`` the page lists what changes and which English is
    stale, and publishes only from its own button."""
    if data.get("confirm") != "yes":
        store = publishing.store
        draft, latest = store.draft(), store.latest()
        if draft is None:
            return _page(publishing)
        publication = store.publication()
        number, reported = publication if publication is not None else (draft.version, 0)
        context = {
            "section": "catalogue",
            "draft": draft,
            "latest": latest,
            "number": number,  # what the draft becomes: above every version a terminal runs
            "terminals_ahead": reported if latest is not None and reported > latest.version else None,
            "changes": _changes(store, draft, latest),
            "stale": translations.stale_in(store.engine, draft),
            "note": data.get("note", ""),
        }
        return Template("catalogue/publish.html", context=context, media_type=MediaType.HTML)
    return _act(publishing, lambda: publishing.publish(_actor(request), data.get("note", "")), "published")


@get("/items/{code:str}", sync_to_thread=True, name="catalogue:item", include_in_schema=False)
def item_form(
    publishing: NamedDependency[CataloguePublishing], code: FromPath[str], done: FromQuery[str] = ""
) -> Template:
    draft = publishing.store.draft()
    catalogue = draft or publishing.store.get()
    item = catalogue.get(code)
    if item is None:
        raise NotFound(text("flash", "no_item", code=code))
    return _item_page(publishing, item, editable=draft is not None, saved=_done(done, item.code))


def _item_page(
    publishing: CataloguePublishing,
    item: ServiceItem,
    editable: bool,
    notice: str = "",
    status: int = 200,
    saved: str = "",
) -> Template:
    context = {
        "section": "catalogue",
        "item": item,
        "editable": editable,
        "stale": translations.stale(publishing.store.engine, item),
        "blank_rows": BLANK_ROWS,
        "fee_yuan": f"{item.fee_fen / 100:.2f}",
        "notice": notice or saved,
        "error": bool(notice),
    }
    return Template("catalogue/item.html", context=context, status_code=status, media_type=MediaType.HTML)


@post(
    "/items/{code:str}", name="catalogue:item_save", sync_to_thread=True, guards=[writers_only], include_in_schema=False
)
def item_save(
    request: Request[Any, Any, Any], publishing: NamedDependency[CataloguePublishing], code: FromPath[str], data: Form
) -> Any:
    store = publishing.store
    try:
        store.start_draft(_actor(request))
        current = (store.draft() or store.get()).get(code)
        if current is None:
            raise NotFound(text("flash", "no_item", code=code))
        changes = changes_from_form(current, data)
        store.update_item(
            code,
            changes,
            _actor(request),
            english_confirmed=data.get("english_confirmed") == "on",
            based_on=data.get("based_on") or None,  # as the editor showed it: a colleague's save since is kept
        )
    except HubError as exc:
        item = (store.draft() or store.get()).get(code)
        if item is None:
            raise
        return _item_page(publishing, item, editable=True, notice=str(exc), status=exc.status_code)
    return Redirect(f"{_BASE}/items/{code}?done=saved", status_code=303)


@get("/export", sync_to_thread=True, name="catalogue:export", include_in_schema=False)
def export(
    publishing: NamedDependency[CataloguePublishing], version: FromQuery[int | None] = None, draft: FromQuery[int] = 0
) -> Response[str]:
    text = publishing.store.export(version, draft=bool(draft))
    name = "catalogue-draft.json" if draft else f"catalogue-v{version or 'latest'}.json"
    return Response(
        text,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@post("/import", name="catalogue:import", sync_to_thread=True, guards=[writers_only], include_in_schema=False)
def import_file(
    request: Request[Any, Any, Any],
    publishing: NamedDependency[CataloguePublishing],
    data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)],
) -> Any:
    upload = data.get("file")
    if not isinstance(upload, UploadFile):
        return _page(publishing, notice=text("flash", "choose_file"), error=True, status=400)
    content = upload.file.read()
    # The draft's hash the page showed, sent only when 替换草稿 is ticked: a draft changed since is kept.
    replaces = str(data.get("replaces", "")) if data.get("replace_draft") == "yes" else None
    note = text("catalogue_note", "web_import")
    return _act(
        publishing,
        lambda: publishing.store.import_catalogue(content, _actor(request), note, replaces=replaces),
        "imported",
    )


def catalogue_router() -> Router:
    """The catalogue pages, mounted under ``/fleet`` (:func:`hub.web.pages.fleet.fleet_router`)."""
    return Router(
        path="/catalogue",
        route_handlers=[catalogue_page, start_draft, discard_draft, publish, item_form, item_save, export, import_file],
    )
