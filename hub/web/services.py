"""The domain services the web side calls, built once from the hub runtime.

They share the runtime's providers of the catalogue and the calendar in force, so what the pages list
and what a clerk's step counts is what ingest routes and promises by — a published version or a
calendar edit included, without a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from hub.calendar.duedates import DueDates
from hub.calendar.service import CalendarService
from hub.cases.queries import CaseQueries
from hub.cases.workflow import Send, Workflow
from hub.catalogue.in_force import CatalogueInForce
from hub.catalogue.store import CatalogueStore
from hub.people.service import Users
from hub.people.throttle import LoginPolicy, LoginThrottle

__all__ = ["Services"]


@dataclass
class Services:
    engine: Engine
    catalogue: CatalogueInForce
    calendar: CalendarService
    due_dates: DueDates
    users: Users
    workflow: Workflow
    cases: CaseQueries

    @classmethod
    def build(
        cls,
        engine: Engine,
        send: Send | None,
        catalogue: CatalogueInForce | None = None,
        calendar: CalendarService | None = None,
        login_policy: LoginPolicy | None = None,
    ) -> Services:
        """The services over ``engine``; without providers given, their own over the same database."""
        catalogue = catalogue or CatalogueInForce(CatalogueStore(engine))
        calendar = calendar or CalendarService(engine)
        due_dates = DueDates(calendar, catalogue.current)

        def departments() -> dict[str, str]:
            return {d.code: d.name for d in catalogue.current().departments}

        return cls(
            engine=engine,
            catalogue=catalogue,
            calendar=calendar,
            due_dates=due_dates,
            users=Users(engine, departments, LoginThrottle(login_policy)),
            workflow=Workflow(engine, due_dates, departments, send),
            cases=CaseQueries(engine, catalogue.current, calendar),
        )

    @classmethod
    def from_runtime(cls, runtime: Any) -> Services:
        """Services over the runtime's engine and providers; events go out through its event delivery."""
        return cls.build(
            runtime.engine,
            runtime.delivery.send,
            runtime.catalogue.in_force,
            runtime.calendar,
            LoginPolicy.from_settings(runtime.settings),
        )
