"""The hub's web side: the back office pages and the JSON API (OpenAPI at ``/schema/openapi.json``),
health and metrics.

Pages sign in with a server-side session (cookie ``hub_session``, HttpOnly, SameSite=Lax, Secure) and
carry a CSRF token in every form; the API under ``/api`` takes ``Authorization: Bearer <token>`` only.
One guard (:class:`hub.web.auth.Guard`) gates every route; every answer carries the headers of
:mod:`hub.web.headers` (no caching, a Content Security Policy without inline styles or scripts).

Handlers get the domain services by dependency injection (:func:`hub.web.services.dependencies`), the
signed-in principal as ``who``; every page renders through the one template environment of
:mod:`hub.web.templating`; the operators' pages are mounted under ``/fleet`` (:mod:`hub.web.pages.fleet`).
"""

from __future__ import annotations

import logging
import secrets
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn
from litestar import Litestar, MediaType, Router, get
from litestar.config.csrf import CSRFConfig
from litestar.di import NamedDependency, Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router
from litestar.stores.registry import StoreRegistry
from prometheus_client import generate_latest

from hub.settings import WebSettings
from hub.text import text
from hub.web.api import admin as api_admin
from hub.web.api import auth as api_auth
from hub.web.api import cases as api_cases
from hub.web.api import fleet as api_fleet
from hub.web.api import public as api_public
from hub.web.api import reports as api_reports
from hub.web.api.schemas import HealthOut
from hub.web.auth import PUBLIC, Guard, provide_who
from hub.web.errors import handlers
from hub.web.headers import add_security_headers
from hub.web.open311 import open311_router
from hub.web.pages import admin as pages_admin
from hub.web.pages import auth as pages_auth
from hub.web.pages import cases as pages_cases
from hub.web.pages import reports as pages_reports
from hub.web.pages.fleet import fleet_router
from hub.web.pages.help import help_router
from hub.web.pages.portal import portal_router
from hub.web.services import Health, Operations, Services, dependencies, portal_of
from hub.web.sessions import DbStore, RotatingSessionConfig
from hub.web.templating import template_config

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from hub.runtime import HubRuntime

__all__ = ["create_app", "serve", "static_router"]

_STATIC = Path(__file__).with_name("static")
SESSION_COOKIE = "hub_session"


@get("/healthz", sync_to_thread=False, opt={PUBLIC: True}, tags=["ops"], security=[])
def healthz(health: NamedDependency[Health]) -> HealthOut:
    return HealthOut(ok=True, broker=health.broker_connected())


@get("/metrics", media_type=MediaType.TEXT, sync_to_thread=False, opt={PUBLIC: True}, tags=["ops"], security=[])
def metrics(health: NamedDependency[Health]) -> bytes:
    return generate_latest(health.registry)


def _api() -> Router:
    return Router(
        path="/api",
        route_handlers=[
            api_auth.login,
            api_auth.logout,
            api_auth.me,
            api_cases.list_cases,
            api_cases.get_case,
            api_cases.queue,
            api_cases.act,
            api_cases.route,
            api_cases.overdue,
            api_cases.departments,
            api_reports.report_json,
            api_reports.report_csv,
            api_admin.audit_entries,
            api_admin.audit_verify,
            api_admin.calendar,
            api_admin.calendar_set,
            api_admin.calendar_remove,
            api_admin.calendar_complete,
            api_fleet.list_dead_letters,
            api_fleet.list_terminals,
            api_public.public_services,
            api_public.public_stats,
        ],
    )


_PAGES = [
    pages_auth.login_form,
    pages_auth.login_submit,
    pages_auth.logout,
    pages_auth.password_form,
    pages_auth.password_submit,
    pages_auth.index,
    pages_cases.queue_page,
    pages_cases.case_page,
    pages_cases.act,
    pages_cases.route,
    pages_cases.overdue_page,
    pages_cases.return_calls_page,
    pages_cases.record_return_call,
    pages_reports.reports_page,
    pages_admin.report_csv_page,
    pages_admin.audit_view,
    pages_admin.calendar_view,
    pages_admin.calendar_set,
    pages_admin.calendar_remove,
    pages_admin.calendar_complete,
]


def static_router() -> Router:
    """The stylesheets and the help call's chime: files, so the Content Security Policy needs nothing inline
    (hub.web.headers)."""
    return create_static_files_router(
        path="/static", directories=[_STATIC], opt={PUBLIC: True}, include_in_schema=False, name="static"
    )


def signing(web: WebSettings) -> WebSettings:
    """``web`` with a CSRF signing secret: a per-process one, with a warning, when none is set (several workers
    behind one address then refuse each other's forms)."""
    if web.secret:
        return web
    log.warning("no web secret set: CSRF tokens are signed with a per-process key (set SHEGONG_HUB_WEB_SECRET)")
    return web.model_copy(update={"secret": secrets.token_hex(32)})


def create_app(runtime: HubRuntime, config: WebSettings | None = None, services: Services | None = None) -> Litestar:
    """The web app over a hub ``runtime``; ``services``: the back office's, if already built (else the
    runtime's)."""
    config = signing(config or runtime.settings.web)
    services = services or Services.from_runtime(runtime)
    sessions = RotatingSessionConfig(
        key=SESSION_COOKIE,
        max_age=config.session_max_age_s,
        renew_on_access=True,
        secure=config.cookie_secure,
        httponly=True,
        samesite="lax",
        exclude=["^/api/", "^/schema", "^/healthz", "^/metrics", "^/static/", "^/open311/"],
    )
    return Litestar(
        route_handlers=[
            _api(),
            *_PAGES,
            healthz,
            metrics,
            fleet_router(),
            help_router(),
            portal_router(),
            static_router(),
            open311_router(),
        ],
        guards=[Guard(services.users, config)],
        dependencies={
            **dependencies(services, Operations.from_runtime(runtime), config, portal_of(runtime, services)),
            "who": Provide(provide_who, sync_to_thread=False),
        },
        exception_handlers=handlers,
        before_send=[add_security_headers],  # on every answer, error pages too
        middleware=[sessions.middleware],
        stores=StoreRegistry(stores={"sessions": DbStore(services.sessions)}),
        csrf_config=CSRFConfig(
            secret=str(config.secret),
            cookie_name="hub_csrf",
            cookie_secure=config.cookie_secure,
            cookie_samesite="strict",
            exclude=["^/api/", "^/schema", "^/static/", "^/open311/"],
        ),
        template_config=template_config(),
        openapi_config=OpenAPIConfig(
            title="Shegong hub API",
            version="1",
            description=text("web", "api_description"),
            components=Components(
                security_schemes={"BearerToken": SecurityScheme(type="http", scheme="bearer")},
            ),
            security=[{"BearerToken": []}],
        ),
        logging_config=None,  # the process's logging is set once by the shegong command, not by the web app
    )


def serve(runtime: HubRuntime, stop: threading.Event) -> None:
    """Serve until ``stop`` is set (SIGTERM) or Ctrl-C."""
    config = uvicorn.Config(
        create_app(runtime),
        host=runtime.settings.web.host,
        port=runtime.settings.web.port,
        log_level="warning",
        proxy_headers=True,  # the client's address from X-Forwarded-For, from these proxies only
        forwarded_allow_ips=runtime.settings.web.trusted_proxies,
    )
    server = uvicorn.Server(config)

    def stop_when_told() -> None:
        stop.wait()
        server.should_exit = True

    threading.Thread(target=stop_when_told, daemon=True).start()
    server.run()
