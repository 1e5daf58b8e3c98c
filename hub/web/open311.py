"""Open311 GeoReport v2 at ``/open311/v2/`` (http://wiki.open311.org/GeoReport_v2): each resource as
``.json`` and ``.xml`` from one handler (Litestar's path parameters are whole segments, so a resource with
a fixed name is one handler at two paths; one named in the path parses its ending), errors as the spec's
list of ``{code, description}`` in the same format, with the HTTP status. Public (no session, no CSRF:
partners are systems, not browsers); a partner's key comes as the spec's ``api_key`` parameter. The
handlers only parse and render: :class:`hub.open311.service.Open311` does the work.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Annotated, Any
from xml.etree import ElementTree as ET

from litestar import MediaType, Request, Response, Router, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body, FromPath, FromQuery
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from litestar.types import ExceptionHandlersMap
from sqlalchemy.exc import DataError

from hub.errors import HubError
from hub.open311.messages import ERRORS
from hub.open311.models import (
    Discovery,
    Open311Error,
    RequestCreated,
    Service,
    ServiceDefinition,
    ServiceRequest,
)
from hub.open311.service import Filters, Open311
from hub.portal.service import Portal
from hub.web.auth import PUBLIC, client_of
from hub.web.errors import log_failure, retry_after, status_and_message
from hub.web.pages.portal import portal_base

__all__ = ["PREFIX", "open311_error", "open311_router"]

PREFIX = "/open311/v2"
XML = "text/xml"  # as discovery names the format (GeoReport v2: text/xml and application/json)
_PLURAL = {"endpoints": "endpoint", "formats": "format", "attributes": "attribute", "values": "value"}
_ERRORS = {
    code: ResponseSpec(data_container=list[Open311Error], description=what)
    for code, what in (
        (400, "bad parameters"),
        (401, "no api_key"),
        (403, "a wrong or revoked api_key, or an item not allowed online"),
        (404, "no such service or request"),
        (
            429,
            "the partner is over its request limit, or this client sent too many wrong api_keys: try again after "
            "the seconds of the Retry-After header",
        ),
    )
}
_XML_ERRORS = {
    code: ResponseSpec(data_container=str, media_type=XML, description=spec.description)
    for code, spec in _ERRORS.items()
}
_OPT = {PUBLIC: True}


# --------------------------------------------------------------------------- rendering
def _element(tag: str, value: Any) -> ET.Element:
    el = ET.Element(tag)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, Mapping):
        for key, v in value.items():
            el.append(_element(key, v))
    elif isinstance(value, list):
        child = _PLURAL.get(tag, "item")
        for v in value:
            el.append(_element(child, v))
    elif isinstance(value, bool):
        el.text = "true" if value else "false"
    elif value is not None:
        el.text = str(value)
    return el


def to_xml(root: str, item: str | None, data: Any) -> str:
    """``data`` as the spec's XML: a list under ``<root>`` as ``<item>`` elements, one object as ``<root>``."""
    if item is None:
        el = _element(root, data)
    else:
        el = ET.Element(root)
        for d in data:
            el.append(_element(item, d))
    return '<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(el, encoding="unicode")


def _xml(root: str, item: str | None, data: Any, status: int = 200) -> Response[str]:
    return Response(to_xml(root, item, data), media_type=XML, status_code=status)


def _split_file(name: str) -> tuple[str, str]:
    """``MZ-003.json`` → (``MZ-003``, ``json``); any other ending is not found."""
    stem, dot, fmt = name.rpartition(".")
    if not dot or fmt not in ("json", "xml"):
        raise HTTPException(status_code=404, detail=ERRORS["format"])
    return stem, fmt


# --------------------------------------------------------------------------- errors
def open311_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """An error as GeoReport v2 gives it: ``[{code, description}]`` in JSON, ``<errors>`` for a .xml path."""
    status, message = status_and_message(exc)  # input the database cannot hold (a NUL, a huge number): 400
    log_failure(request, exc, status)
    if status == 404 and message in ("", "Not Found"):
        message = ERRORS["not_found"]
    errors = [Open311Error(status, message)]
    headers = retry_after(exc)
    if request.url.path.endswith(".xml"):
        return Response(to_xml("errors", "error", errors), media_type=XML, status_code=status, headers=headers)
    return Response(errors, status_code=status, media_type=MediaType.JSON, headers=headers)


handlers: ExceptionHandlersMap = {
    HubError: open311_error,
    HTTPException: open311_error,
    DataError: open311_error,
    OverflowError: open311_error,
    Exception: open311_error,
}


# --------------------------------------------------------------------------- resources
def _base(request: Request[Any, Any, Any]) -> str:
    return str(request.base_url).rstrip("/") + PREFIX


def discovery(request: Request[Any, Any, Any], open311: NamedDependency[Open311]) -> Discovery:
    """Where the GeoReport v2 endpoint is and what it speaks."""
    return open311.discovery(_base(request))


def services(open311: NamedDependency[Open311]) -> list[Service]:
    """Every item of the catalogue in force."""
    return open311.services()


@get("/services/{service_file:str}", opt=_OPT, sync_to_thread=True, responses=_ERRORS)
def service_definition(service_file: FromPath[str], open311: NamedDependency[Open311]) -> Response[ServiceDefinition]:
    """An item's definition: its form fields and materials as attributes (``MZ-003.json`` or ``.xml``)."""
    code, fmt = _split_file(service_file)
    definition = open311.definition(code)
    if fmt == "xml":
        return _xml("service_definition", None, definition)  # type: ignore[return-value]
    return Response(definition)


def list_requests(
    request: Request[Any, Any, Any],
    open311: NamedDependency[Open311],
    portal: NamedDependency[Portal],
    service_request_id: FromQuery[str | None] = None,
    service_code: FromQuery[str | None] = None,
    start_date: FromQuery[str | None] = None,
    end_date: FromQuery[str | None] = None,
    status: FromQuery[str | None] = None,
    api_key: FromQuery[str | None] = None,
) -> list[ServiceRequest]:
    """Requests partners created, by the spec's filters (ids comma-separated override the rest; else the
    last 90 days or the range asked; status open or closed); with ``api_key``, only that partner's own,
    with the caller's words and the clerk's last note."""
    partner = open311.partner(api_key, required=False, client=client_of(request))
    filters = Filters(service_request_id, service_code, start_date, end_date, status)
    return open311.requests(filters, partner, portal_base(request, portal))


def create_request(
    request: Request[Any, Any, Any],
    open311: NamedDependency[Open311],
    portal: NamedDependency[Portal],
    data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)],
    api_key: FromQuery[str | None] = None,
) -> list[RequestCreated]:
    """A partner's request for a caller (form fields as the spec names them: ``service_code``,
    ``first_name``, ``last_name``, ``phone``, ``description``, ``address_string``, ``attribute[<code>]``),
    for an item the catalogue allows online; ``api_key`` in the form or the query."""
    key = data.get("api_key") or api_key
    partner = open311.partner(key if isinstance(key, str) else None, required=True, client=client_of(request))
    assert partner is not None  # required: a missing key raised
    return [open311.create(partner, data, portal_base(request, portal))]


@get("/requests/{request_file:str}", opt=_OPT, sync_to_thread=True, responses=_ERRORS)
def get_request(
    request: Request[Any, Any, Any],
    request_file: FromPath[str],
    open311: NamedDependency[Open311],
    portal: NamedDependency[Portal],
    api_key: FromQuery[str | None] = None,
) -> Response[list[ServiceRequest]]:
    """One request (``OPEN311-20261204-000001.json`` or ``.xml``), as a list of one, as the spec has it."""
    request_id, fmt = _split_file(request_file)
    partner = open311.partner(api_key, required=False, client=client_of(request))
    found = [open311.request(request_id, partner, portal_base(request, portal))]
    if fmt == "xml":
        return _xml("service_requests", "request", found)  # type: ignore[return-value]
    return Response(found)


def _in_both_formats(
    route: type[get] | type[post], path: str, xml: tuple[str, str | None], handler: Callable[..., Any]
) -> list[HTTPRouteHandler]:
    """One operation at ``<path>.json`` and ``<path>.xml``, one handler behind both: Litestar renders what it
    returns as JSON; at ``.xml`` an after-request hook renders the same data as the spec's XML (``xml`` names
    its root and item elements) and the document says XML text."""
    root, item = xml
    status = HTTP_201_CREATED if route is post else HTTP_200_OK

    def as_xml(response: Response[Any]) -> Response[Any]:
        return _xml(root, item, response.content, response.status_code or status)

    as_text = ResponseSpec(data_container=str, media_type=XML, description=f"the {root} as XML")
    return [
        route(f"{path}.json", opt=_OPT, sync_to_thread=True, responses=_ERRORS)(handler),
        route(
            f"{path}.xml",
            opt=_OPT,
            sync_to_thread=True,
            media_type=XML,
            after_request=as_xml,
            responses={**_XML_ERRORS, status: as_text},
        )(handler),
    ]


def open311_router() -> Router:
    return Router(
        path=PREFIX,
        route_handlers=[
            *_in_both_formats(get, "/discovery", ("discovery", None), discovery),
            *_in_both_formats(get, "/services", ("services", "service"), services),
            service_definition,
            *_in_both_formats(get, "/requests", ("service_requests", "request"), list_requests),
            *_in_both_formats(post, "/requests", ("service_requests", "request"), create_request),
            get_request,
        ],
        exception_handlers=handlers,
        opt=_OPT,
        security=[],
        tags=["open311"],
    )
