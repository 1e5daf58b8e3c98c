"""The hub's parts wired together: engine, the catalogue and calendar in force, routing and due dates,
handler, MQTT ingest worker and its event delivery.

One provider of the catalogue in force (:class:`~hub.catalogue.in_force.CatalogueInForce`) and one of
the calendar (:class:`~hub.calendar.service.CalendarService`) per process, passed to ingest's routing
and due dates, the web services and the fleet: a published version or a calendar edit takes effect
without a restart, also when another process made it (within ``in_force_check_s``).
"""

from __future__ import annotations

from pathlib import Path

from hub import casekey
from hub.audit.chain import bind_key_file
from hub.audit.keyed import key_path
from hub.calendar.duedates import DueDates
from hub.calendar.publish import CalendarPublisher
from hub.calendar.service import CalendarService
from hub.cases.returncalls import RETURN_CALL_DAYS
from hub.cases.routing import CatalogueRouter, Routes
from hub.catalogue.in_force import CatalogueInForce
from hub.catalogue.publishing import CataloguePublishing
from hub.catalogue.store import CatalogueStore
from hub.db.engine import open_engine
from hub.fleet.help import HelpDesk
from hub.fleet.service import FleetService
from hub.ingest.deadletters import PurgeOld
from hub.ingest.handler import Handler
from hub.ingest.metrics import IngestMetrics
from hub.ingest.worker import IngestWorker
from hub.leader import Leadership
from hub.night.anchor import AnchorPublisher
from hub.night.hooks import attach as attach_night
from hub.night.lane import NightLane
from hub.night.results import MissedNightWatch
from hub.notices.gateway import HttpGateway
from hub.notices.outbox import NoticeSender
from hub.portal.token import TokenSeal
from hub.settings import HubSettings

__all__ = ["HubRuntime"]


class HubRuntime:
    def __init__(self, settings: HubSettings, router: Routes | None = None) -> None:
        """``router``: fixed routes instead of the catalogue's (tests and benchmarks)."""
        self.settings = settings
        case_key = casekey.load(Path(settings.case_key_file))  # first: without it no case can be opened
        self.tokens = TokenSeal(case_key)  # the portal's signed tokens, keyed from it as terminals' lookup keys are
        self.engine = open_engine(settings.database_url)
        bind_key_file(self.engine, key_path(settings))  # every entry sealed as it is appended
        self.metrics = IngestMetrics()
        store = CatalogueStore(self.engine)
        in_force = CatalogueInForce(store, settings.in_force_check_s)
        self.calendar = CalendarService(self.engine, settings.in_force_check_s)
        self.due_dates = DueDates(self.calendar, in_force.item, in_force.item_as_promised)  # days promised, holidays
        self.handler = Handler(
            self.engine,
            router or CatalogueRouter(in_force.current),
            self.metrics,
            settings.fleet.clock_alert_s,
            self.due_dates.promise,
            case_key=case_key,
            dead_letter_prefix_bytes=settings.dead_letter_prefix_bytes,
            dead_letters_per_terminal=settings.dead_letters_per_terminal,
            return_call_due=lambda at: self.due_dates.after_working_days(at, RETURN_CALL_DAYS),
            open_processes=settings.open_processes,
            calendar=self.calendar,
        )
        attach_night(self.handler)  # terminals' reconciliations and nightly results
        self.worker = IngestWorker(settings, self.handler)
        # The night's reconciliation reads in a lane of their own, behind the day's ingest (hub.night.lane).
        self.night_lane = NightLane(
            self.engine, self.worker.client, self.worker.enqueue, lambda: self.worker.backlog, self.handler.event_tags
        )
        self.worker.divert = self.night_lane.offer
        self.delivery = self.worker.delivery  # case events to terminals, from ingest and the back office alike
        self.catalogue = CataloguePublishing(store, in_force, self.handler, self.worker)
        self.fleet = FleetService(
            self.engine, self.handler, self.metrics.registry, settings.fleet, self.catalogue.in_force
        )
        self.fleet.on_tick.append(self.catalogue.tick)
        # Residents' calls for staff: answered in the pages, the answer sent to the terminal until it stops calling.
        self.help = HelpDesk(self.engine, lambda topic, payload: self.worker.client.publish(topic, payload, qos=1))
        self.fleet.on_tick.append(self.help.resend_due)
        self.fleet.on_tick.append(PurgeOld(self.engine, settings.dead_letters_keep_days))
        self.fleet.on_tick.append(AnchorPublisher(self.engine, self.worker.client))  # the night's signed anchor
        # The holiday calendar, for the kiosks' promised dates (hub.calendar.publish).
        calendar_publisher = CalendarPublisher(self.calendar, self.worker.client, self.worker.connected.is_set)
        self.fleet.on_tick.append(calendar_publisher)
        # SMS notices go out from the leader's periodic work too; without a gateway they wait in the outbox.
        self.notices: NoticeSender | None = None
        if settings.sms.url:
            gateway = HttpGateway(settings.sms.url, settings.sms.token, settings.sms.timeout_s)
            self.notices = NoticeSender(self.engine, gateway, settings.sms)
            self.fleet.on_tick.append(self.notices.tick)
        self.fleet.on_tick.append(MissedNightWatch(self.engine, settings.night_missed_after_h, settings.night_check_s))
        # Every process ingests; one of them (per database) runs the periodic work.
        self.leadership = Leadership(self.engine, settings.instance, settings.leader_check_s)
        self.fleet.registry.leading = self.delivery.leading = lambda: self.leadership.is_leader
        self.catalogue.announcer.leading = lambda: self.leadership.is_leader
        self.leadership.on_change.append(calendar_publisher.leading_changed)

    def start(self) -> None:
        self.handler.opener.start()  # the opening processes start beside the rest, not at the first batch
        self.leadership.start()
        self.night_lane.start()
        self.worker.start()
        self.fleet.start()

    def close(self) -> None:
        self.fleet.stop()
        self.night_lane.stop()  # what it holds unanswered is not acknowledged: the broker gives it again
        self.worker.stop()
        self.handler.close()
        self.leadership.stop()
        self.engine.dispose()

    def __enter__(self) -> HubRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
