"""The domain services the web side calls, built once from the hub runtime."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from hub.calendar.duedates import DueDates
from hub.calendar.service import CalendarService
from hub.cases.queries import CaseQueries
from hub.cases.workflow import Send, Workflow
from hub.people.service import Users
from hub.people.throttle import LoginPolicy, LoginThrottle
from protocol.catalogue import Catalogue, load_seed

__all__ = ["Services"]


@dataclass
class Services:
    engine: Engine
    catalogue: Catalogue
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
        catalogue: Catalogue | None = None,
        login_policy: LoginPolicy | None = None,
    ) -> Services:
        catalogue = catalogue or load_seed()
        calendar = CalendarService(engine)
        due_dates = DueDates(calendar, {i.code: i.promised_days for i in catalogue.items}.get)
        departments = {d.code: d.name for d in catalogue.departments}
        return cls(
            engine=engine,
            catalogue=catalogue,
            calendar=calendar,
            due_dates=due_dates,
            users=Users(engine, departments, LoginThrottle(login_policy)),
            workflow=Workflow(engine, due_dates, departments, send),
            cases=CaseQueries(engine, catalogue, calendar),
        )

    @classmethod
    def from_runtime(cls, runtime: Any) -> Services:
        """Services over the runtime's engine; events go out through its event delivery."""
        policy = LoginPolicy.from_settings(runtime.settings)
        return cls.build(runtime.engine, runtime.delivery.send, login_policy=policy)
