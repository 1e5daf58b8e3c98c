"""Reports over the hub's database named by the catalogue in force: what the report page, its CSV and the
API build."""

from __future__ import annotations

from collections.abc import Callable, Collection

from sqlalchemy import Engine

from hub.reports.service import Period, Report, build
from protocol.catalogue import Catalogue

__all__ = ["Reporter"]


class Reporter:
    def __init__(self, engine: Engine, catalogue: Callable[[], Catalogue]) -> None:
        self.engine = engine
        self.catalogue = catalogue

    def report(self, period: Period, departments: Collection[str] | None = None) -> Report:
        """The report of ``period``, of ``departments`` only when given."""
        return build(self.engine, period, departments, self.catalogue())
