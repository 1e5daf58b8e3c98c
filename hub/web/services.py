"""The domain services the web side calls, built once from the hub runtime and handed to route handlers
by Litestar's dependency injection (:func:`dependencies`): a handler names the service it needs as a
typed parameter (``cases: NamedDependency[CaseQueries]``).

They share the runtime's providers of the catalogue and the calendar in force, so what the pages list
and what a clerk's step counts is what ingest routes and promises by — a published version or a
calendar edit included, without a restart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from litestar.di import Provide
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from hub.audit.trail import AuditTrail
from hub.calendar.duedates import DueDates
from hub.calendar.service import CalendarService
from hub.cases.partnered import PartnerCases, PartnerLimit
from hub.cases.queries import CaseQueries
from hub.cases.returncalls import ReturnCalls
from hub.cases.routing import CatalogueRouter
from hub.cases.workflow import Send, Workflow
from hub.catalogue.in_force import CatalogueInForce
from hub.catalogue.publishing import CataloguePublishing
from hub.catalogue.store import CatalogueStore
from hub.fleet.board import FleetBoard
from hub.fleet.help import HelpDesk
from hub.ingest.committees import CommitteeNames
from hub.ingest.listing import IngestRecords
from hub.notices.outbox import Notices
from hub.open311.partners import Partners
from hub.open311.service import Open311
from hub.people.service import Users
from hub.people.sessions import SessionTable
from hub.people.throttle import LoginPolicy, LoginThrottle
from hub.portal.service import Portal
from hub.reports.reporter import Reporter
from hub.settings import WebSettings

if TYPE_CHECKING:
    from hub.runtime import HubRuntime

__all__ = ["Health", "Operations", "Services", "dependencies", "portal_of"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Services:
    """The back office's services over one database (they need no broker of their own)."""

    catalogue: CatalogueInForce
    calendar: CalendarService
    due_dates: DueDates
    users: Users
    sessions: SessionTable
    workflow: Workflow
    cases: CaseQueries
    audit: AuditTrail
    reports: Reporter
    intake: IngestRecords
    committees: CommitteeNames
    return_calls: ReturnCalls
    open311: Open311

    @classmethod
    def build(
        cls,
        engine: Engine,
        send: Send | None,
        catalogue: CatalogueInForce | None = None,
        calendar: CalendarService | None = None,
        login_policy: LoginPolicy | None = None,
        partner_limit: PartnerLimit | None = None,
    ) -> Services:
        """The services over ``engine``; without providers given, their own over the same database."""
        catalogue = catalogue or CatalogueInForce(CatalogueStore(engine))
        calendar = calendar or CalendarService(engine)
        due_dates = DueDates(calendar, catalogue.item)

        def departments() -> dict[str, str]:
            return {d.code: d.name for d in catalogue.current().departments}

        throttle = LoginThrottle(login_policy)  # one tally of failed credentials: passwords and partner keys
        return cls(
            catalogue=catalogue,
            calendar=calendar,
            due_dates=due_dates,
            users=Users(engine, departments, throttle),
            sessions=SessionTable(engine),
            workflow=Workflow(engine, due_dates, departments, send, notices=Notices(catalogue.item).enqueue),
            cases=CaseQueries(engine, catalogue.current, calendar, catalogue.item),
            audit=AuditTrail(engine),
            reports=Reporter(engine, catalogue.current),
            intake=IngestRecords(engine),
            committees=CommitteeNames(engine),
            return_calls=ReturnCalls(engine),
            open311=Open311(
                engine,
                catalogue.current,
                Partners(engine, throttle=throttle),
                PartnerCases(engine, CatalogueRouter(catalogue.current), due_dates.promise, limit=partner_limit),
            ),
        )

    @classmethod
    def from_runtime(cls, runtime: HubRuntime) -> Services:
        """Services over the runtime's engine and providers; events go out through its event delivery."""
        return cls.build(
            runtime.engine,
            runtime.delivery.send,
            runtime.catalogue.in_force,
            runtime.calendar,
            LoginPolicy.from_settings(runtime.settings.web),
            PartnerLimit.from_settings(runtime.settings.open311),
        )


@dataclass(frozen=True, slots=True)
class Health:
    """What ``/healthz`` and ``/metrics`` report: the broker link and the Prometheus figures."""

    broker_connected: Callable[[], bool]
    registry: CollectorRegistry
    broker_cert_expires: Callable[[], datetime | None] = lambda: None  # the broker's TLS certificate


@dataclass(frozen=True, slots=True)
class Operations:
    """The operators' services, which only a running hub has: fleet health, catalogue publishing, health,
    residents' calls for staff (answered through the broker)."""

    fleet: FleetBoard
    publishing: CataloguePublishing
    health: Health
    help: HelpDesk

    @classmethod
    def from_runtime(cls, runtime: HubRuntime) -> Operations:
        fleet = runtime.fleet
        return cls(
            fleet=FleetBoard(runtime.engine, lambda: fleet.settings, fleet.desired),
            publishing=runtime.catalogue,
            health=Health(
                runtime.worker.connected.is_set, runtime.metrics.registry, lambda: runtime.worker.broker_cert_expires
            ),
            help=runtime.help,
        )


def _provide(value: T) -> Provide:
    def provide() -> T:
        return value

    return Provide(provide, use_cache=True, sync_to_thread=False)


def portal_of(runtime: HubRuntime, services: Services) -> Portal:
    """The resident portal's services over the runtime's engine, catalogue in force and token key."""
    return Portal.build(
        runtime.engine,
        services.catalogue.current,
        services.catalogue.item,
        runtime.tokens,
        runtime.settings.portal,
        services.calendar.published,
    )


def dependencies(
    services: Services, operations: Operations, config: WebSettings, portal: Portal | None = None
) -> dict[str, Provide]:
    """Each service under the name handlers ask for it by (``cases``, ``workflow``, ``fleet`` …), the
    web options as ``web_config``, and the resident portal's services as ``portal``."""
    provided: dict[str, object] = {
        "catalogue": services.catalogue,
        "calendar": services.calendar,
        "users": services.users,
        "workflow": services.workflow,
        "cases": services.cases,
        "audit": services.audit,
        "reports": services.reports,
        "intake": services.intake,
        "committees": services.committees,
        "return_calls": services.return_calls,
        "open311": services.open311,
        "fleet": operations.fleet,
        "publishing": operations.publishing,
        "health": operations.health,
        "help_desk": operations.help,
        "web_config": config,
    }
    if portal is not None:
        provided["portal"] = portal
    return {name: _provide(value) for name, value in provided.items()}
