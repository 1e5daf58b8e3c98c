"""Fleet figures for Prometheus, read from the database at each scrape (a custom collector)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from hub.fleet import view
from hub.fleet.assess import AlertKind, Desired, State
from hub.settings import FleetSettings
from kernel.db import read_only
from protocol.envelope import utcnow

__all__ = ["FleetCollector"]

log = logging.getLogger(__name__)


class FleetCollector(Collector):
    def __init__(
        self,
        engine: Engine,
        settings: Callable[[], FleetSettings],
        desired: Callable[[], Desired | None],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.desired = desired
        self.clock = clock

    def describe(self) -> list[GaugeMetricFamily]:
        return []  # read at scrape time; nothing to check at registration

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now, desired = self.clock(), self.desired()
        try:
            with read_only(self.engine).connect() as conn:
                views = view.terminals(conn, self.settings(), now, desired)
                active = view.alerts(conn, active_only=True, limit=100_000)
        except Exception:
            log.exception("fleet figures could not be read")
            return
        states = GaugeMetricFamily("shegong_fleet_terminals", "terminals by assessed state", labels=["state"])
        for state in State:
            states.add_metric([state.value], sum(v.state is state for v in views))
        yield states
        by_kind = GaugeMetricFamily("shegong_fleet_alerts_active", "active alerts by kind", labels=["kind"])
        for kind in AlertKind:
            by_kind.add_metric([kind.value], sum(a["kind"] == kind.value for a in active))
        yield by_kind
        yield GaugeMetricFamily(
            "shegong_fleet_outbox_depth_max",
            "largest outbox of any terminal",
            value=max((v.outbox_depth for v in views), default=0),
        )
        yield GaugeMetricFamily(
            "shegong_fleet_oldest_unsent_age_seconds",
            "age of the oldest case not yet sent by any terminal",
            value=max((v.oldest_unsent_age_s or 0.0 for v in views), default=0.0),
        )
        yield GaugeMetricFamily(
            "shegong_fleet_last_seen_age_seconds_max",
            "longest time since any online terminal was heard (dashboard staleness)",
            value=max((v.seen_age_s or 0.0 for v in views if v.state is State.ONLINE), default=0.0),
        )
        yield GaugeMetricFamily(
            "shegong_fleet_catalogue_desired_version",
            "catalogue version published",
            value=desired.version if desired else 0,
        )
        yield GaugeMetricFamily(
            "shegong_fleet_catalogue_behind", "terminals running an older catalogue", value=sum(v.behind for v in views)
        )
