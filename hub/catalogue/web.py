"""Catalogue pages (mounted under ``/fleet/catalogue``): versions, the draft and its changes, a form for
the fields operators change most (name, description, promised time, materials), import and export of
the whole catalogue as JSON, and publishing.

Reading needs what the enclosing router asks (``fleet.read``); changing and publishing is for managers
and operators (:func:`writers_only`) — auditors read only."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, Router, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import State, UploadFile
from litestar.enums import RequestEncodingType
from litestar.handlers.base import BaseRouteHandler
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect

from hub.catalogue.store import CatalogueError
from hub.errors import HubError, NotFound, PermissionDenied
from hub.fleet.pages import html
from hub.people.roles import Principal
from protocol.catalogue import Catalogue, Material, ServiceItem

__all__ = ["catalogue_router"]

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
_BASE = "/fleet/catalogue"
WRITER_ROLES = frozenset({"manager", "operator"})


def writers_only(connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler) -> None:
    """Edits and publication: managers and operators (the signed-in principal the app's guard set)."""
    who = getattr(connection.state, "principal", None)
    if who is not None and str(who.role) not in WRITER_ROLES:
        raise PermissionDenied("只有中心主任和运维人员可以修改或发布服务目录")


def _actor(request: Request[Any, Any, Any]) -> str:
    """How the audit trail and the version list name the signed-in user (the principal the app's guard
    set); with nobody signed in there is nobody to record, so nothing is changed."""
    who = getattr(request.state, "principal", None)
    if not isinstance(who, Principal):
        raise PermissionDenied("请先登录")
    return who.actor


def _changes(draft: Catalogue | None, published: Catalogue | None) -> dict[str, str]:
    """Item code → 新增 / 修改 / 删除, draft against the newest published version."""
    if draft is None or published is None:
        return {}
    before, after = published.manifest().items, draft.manifest().items
    out = {code: "新增" for code in after if code not in before}
    out.update({code: "修改" for code in after if code in before and before[code] != after[code]})
    out.update({code: "删除" for code in before if code not in after})
    return out


def _page(request: Request[Any, Any, Any], rt: Any, notice: str = "", error: bool = False, status: int = 200) -> Any:
    store = rt.catalogue.store
    draft = store.draft()
    latest = store.latest()
    shown = draft or (store.get(latest.version) if latest else None)
    return html(
        "catalogue.html",
        request,
        status=status,
        section="catalogue",
        versions=store.versions(limit=30),
        draft=draft,
        latest=latest,
        shown=shown,
        changes=_changes(draft, store.get(latest.version) if latest and draft else None),
        notice=notice,
        error=error,
    )


@get("/", sync_to_thread=True, name="catalogue:index")
def catalogue_page(request: Request[Any, Any, Any], state: State, msg: FromQuery[str] = "") -> Any:
    return _page(request, state.runtime, notice=msg)


def _act(request: Request[Any, Any, Any], rt: Any, action: Any, done: str) -> Any:
    try:
        action()
    except HubError as exc:
        return _page(request, rt, notice=str(exc), error=True, status=exc.status_code)
    return Redirect(f"{_BASE}/?msg={done}", status_code=303)


@post("/draft", sync_to_thread=True, guards=[writers_only], name="catalogue:draft")
def start_draft(request: Request[Any, Any, Any], state: State) -> Any:
    rt = state.runtime
    return _act(request, rt, lambda: rt.catalogue.store.start_draft(_actor(request)), "已创建草稿")


@post("/draft/discard", sync_to_thread=True, guards=[writers_only], name="catalogue:discard")
def discard_draft(request: Request[Any, Any, Any], state: State) -> Any:
    rt = state.runtime
    return _act(request, rt, lambda: rt.catalogue.store.discard_draft(_actor(request)), "已放弃草稿")


@post("/publish", sync_to_thread=True, guards=[writers_only], name="catalogue:publish")
def publish(request: Request[Any, Any, Any], state: State, data: Form) -> Any:
    rt = state.runtime
    return _act(request, rt, lambda: rt.catalogue.publish(_actor(request), data.get("note", "")), "已发布并通知各终端")


@get("/items/{code:str}", sync_to_thread=True, name="catalogue:item")
def item_form(request: Request[Any, Any, Any], state: State, code: FromPath[str]) -> Any:
    rt = state.runtime
    draft = rt.catalogue.store.draft()
    catalogue = draft or rt.catalogue.store.get()
    item = catalogue.get(code)
    if item is None:
        raise NotFound(f"没有事项 {code}")
    return html("catalogue_item.html", request, section="catalogue", item=item, editable=draft is not None)


def _materials(item: ServiceItem, text: str) -> list[dict[str, Any]]:
    """One material name per line; a name already listed keeps its form, count and flags."""
    known = {m.name: m for m in item.materials}
    names = [line.strip() for line in text.splitlines() if line.strip()]
    return [(known.get(n) or Material(name=n)).model_dump(mode="json") for n in names]


@post("/items/{code:str}", sync_to_thread=True, guards=[writers_only], name="catalogue:item_save")
def item_save(request: Request[Any, Any, Any], state: State, code: FromPath[str], data: Form) -> Any:
    rt = state.runtime
    store = rt.catalogue.store
    try:
        store.start_draft(_actor(request))
        current = (store.draft() or store.get()).get(code)
        if current is None:
            raise NotFound(f"没有事项 {code}")
        try:
            changes: dict[str, Any] = {
                "name": data.get("name", current.name).strip(),
                "description": data.get("description", current.description).strip(),
                "promised_days": int(data.get("promised_days", current.promised_days)),
                "statutory_days": int(data.get("statutory_days", current.statutory_days)),
                "materials": _materials(current, data.get("materials", "")),
            }
        except ValueError:
            raise CatalogueError("时限须为整数（工作日）") from None
        store.update_item(code, changes, _actor(request))
    except HubError as exc:
        item = (store.draft() or store.get()).get(code)
        return html(
            "catalogue_item.html",
            request,
            status=exc.status_code,
            section="catalogue",
            item=item,
            editable=True,
            notice=str(exc),
            error=True,
        )
    return Redirect(f"{_BASE}/?msg=已保存 {code}（草稿）", status_code=303)


@get("/export", sync_to_thread=True, name="catalogue:export")
def export(state: State, version: FromQuery[int | None] = None, draft: FromQuery[int] = 0) -> Response[str]:
    text = state.runtime.catalogue.store.export(version, draft=bool(draft))
    name = "catalogue-draft.json" if draft else f"catalogue-v{version or 'latest'}.json"
    return Response(
        text,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@post("/import", sync_to_thread=True, guards=[writers_only], name="catalogue:import")
def import_file(
    request: Request[Any, Any, Any],
    state: State,
    data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)],
) -> Any:
    rt = state.runtime
    upload = data.get("file")
    if not isinstance(upload, UploadFile):
        return _page(request, rt, notice="请选择目录文件（JSON）", error=True, status=400)
    content = upload.file.read()
    return _act(
        request, rt, lambda: rt.catalogue.store.import_catalogue(content, _actor(request), "网页导入"), "已导入为草稿"
    )


def catalogue_router() -> Router:
    return Router(
        path="/catalogue",
        route_handlers=[catalogue_page, start_draft, discard_draft, publish, item_form, item_save, export, import_file],
    )
