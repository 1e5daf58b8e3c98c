"""The hub's event delivery against a real Mosquitto and a real database.

Cases arrive through the real ingest handler, so their SUBMITTED events sit in ``case_events`` with no
``published_at``. The delivery publishes events QoS 1 on the terminal's ``down/events`` topic, cut into
messages of at most 500 events that each stay within the payload limit; ``mark`` records the broker's
PUBACKs as ``published_at``; ``resend`` sends again, per terminal and by id, the events older than the
grace period that the broker never acknowledged and that are not on their way. The migration that adds
the column counts the events already there as published.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import CollectorRegistry
from sqlalchemy import text

from hub.cases.delivery import EventDelivery, stored_events
from hub.cases.eventtag import EventTags
from hub.db.engine import migrate, open_engine
from hub.db.models import CaseEventRow, table
from protocol import sealed, topics
from protocol.cases import CaseEvent, CaseEvents, CaseStatus
from protocol.codec import decode_for_topic
from protocol.envelope import MAX_PAYLOAD_BYTES, utcnow
from tests.support import CASE_KEY, wait_for
from tests.unit.hub.helpers import ingest

_events = table(CaseEventRow)
TAGS = EventTags(sealed.private_key(CASE_KEY))


@pytest.fixture
def engine(hub_db_url: str) -> Iterator[Any]:
    e = open_engine(hub_db_url)
    yield e
    e.dispose()


@pytest.fixture
def client(broker: Any) -> Iterator[mqtt.Client]:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="hub-under-test")
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    wait_for(c.is_connected, what="connected")
    yield c
    c.disconnect()
    c.loop_stop()


class Terminal:
    """A subscriber on one terminal's down/events topic: what it received, message by message."""

    def __init__(self, port: int, terminal: str) -> None:
        self.messages: list[tuple[int, CaseEvents]] = []
        self._subscribed = threading.Event()
        self.topic = topics.down(terminal, topics.Down.EVENTS)
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sub-{terminal}")
        self.c.on_connect = lambda c, *_: c.subscribe(self.topic, qos=1)
        self.c.on_subscribe = lambda *_: self._subscribed.set()
        self.c.on_message = self._on_message
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        assert self._subscribed.wait(10)

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        decoded = decode_for_topic(msg.topic, msg.payload)
        assert isinstance(decoded, CaseEvents)
        self.messages.append((len(msg.payload), decoded))

    @property
    def ids(self) -> list[int]:
        return [e.event_id for _, m in self.messages for e in m.body.events]

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


@pytest.fixture
def t1(broker: Any) -> Iterator[Terminal]:
    t = Terminal(broker.port, "T1")
    yield t
    t.close()


def _unpublished(engine: Any) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT id FROM case_events WHERE published_at IS NULL ORDER BY id")).scalars())


def _stored(engine: Any) -> list[CaseEvent]:
    with engine.connect() as conn:
        return [e for _t, e in stored_events(conn, _events.c.terminal_id == "T1")]


def test_events_the_broker_acknowledged_are_marked_published(engine, client, t1):
    ingest(engine, ["MZ-001"] * 3)
    events = _stored(engine)
    assert _unpublished(engine) == [e.event_id for e in events]
    delivery = EventDelivery(engine, client, grace_s=60, tags=TAGS)
    assert delivery.send("T1", events)
    assert delivery.pending() == {e.event_id for e in events}
    wait_for(lambda: t1.ids == [e.event_id for e in events], what="the events at the terminal")
    wait_for(lambda: delivery.mark() >= 0 and not _unpublished(engine), what="the PUBACK marked")
    assert _unpublished(engine) == []
    assert delivery.pending() == set()


def test_large_sends_are_cut_by_count_and_by_size(client, engine, t1):
    delivery = EventDelivery(engine, client, tags=TAGS)
    now = utcnow()

    def event(i: int, note: str = "") -> CaseEvent:
        return CaseEvent(event_id=i, case_id=uuid.uuid4(), version=1, status=CaseStatus.SUBMITTED, at=now, note=note)

    plain = [event(i) for i in range(1200, 0, -1)]  # given out of order
    assert delivery.send("T1", plain)
    wait_for(lambda: len(t1.ids) == 1200, what="1200 events")
    assert [len(m.body.events) for _, m in t1.messages] == [500, 500, 200]
    assert t1.ids == list(range(1, 1201)), "by id"

    t1.messages.clear()
    wordy = [event(2000 + i, "材料" * 1000) for i in range(200)]  # 6 KB each: 200 of them do not fit in one
    assert delivery.send("T1", wordy)
    wait_for(lambda: len(t1.ids) == 200, what="200 long events")
    assert len(t1.messages) > 1
    assert all(size <= MAX_PAYLOAD_BYTES for size, _ in t1.messages)
    assert t1.ids == [e.event_id for e in wordy]


def test_resend_sends_old_unacknowledged_events_not_already_on_their_way(engine, client, t1):
    an_hour_ago = utcnow() - timedelta(hours=1)
    ingest(engine, ["MZ-001"] * 2, at=an_hour_ago)
    ingest(engine, ["MZ-001"], start=2)  # just now: within the grace period
    old_a, old_b, fresh = _stored(engine)
    registry = CollectorRegistry()
    delivery = EventDelivery(engine, client, grace_s=60, registry=registry, tags=TAGS)
    delivery.send("T1", [old_a])  # on its way: its PUBACK is not marked yet

    assert delivery.resend() == 1
    wait_for(lambda: sorted(t1.ids) == [old_a.event_id, old_b.event_id], what="the old events")
    assert registry.get_sample_value("shegong_hub_events_resent_total") == 1
    assert registry.get_sample_value("shegong_hub_events_unpublished") == 3

    wait_for(lambda: delivery.mark() >= 0 and _unpublished(engine) == [fresh.event_id], what="both marked")
    assert delivery.resend() == 0, "nothing older than the grace period is left"
    assert registry.get_sample_value("shegong_hub_events_unpublished") == 1


def test_without_a_connection_nothing_is_handed_over_and_the_sweep_waits(engine):
    ingest(engine, ["MZ-001"], at=utcnow() - timedelta(hours=1))
    offline = mqtt.Client(CallbackAPIVersion.VERSION2)  # never connected
    delivery = EventDelivery(engine, offline, grace_s=1, tags=TAGS)
    assert not delivery.send("T1", _stored(engine))
    assert delivery.pending() == set()
    assert delivery.resend() == 0
    assert len(_unpublished(engine)) == 1


@pytest.mark.empty_db
def test_events_already_there_count_as_published_after_the_upgrade(hub_db_url):
    engine = open_engine(hub_db_url, upgrade=False)
    try:
        migrate(engine, "h0010")
        at = utcnow().replace(microsecond=0)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO case_events (case_id, terminal_id, version, status, at, actor, note, department) "
                    "VALUES (:c, 'T1', 1, 'submitted', :at, 'hub', '', 'MZ')"
                ),
                {"c": str(uuid.uuid4()), "at": at if engine.dialect.name != "sqlite" else at.replace(tzinfo=None)},
            )
        migrate(engine)
        assert _unpublished(engine) == []
        with engine.connect() as conn:
            published, when = conn.execute(text("SELECT published_at, at FROM case_events")).one()
        assert published == when
    finally:
        engine.dispose()
