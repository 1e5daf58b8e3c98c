"""A backlog at the hub does not cost it the broker: the hub's ingest is held (its SQLite database
write-locked by the test, as a long checkpoint or a stuck writer would) for longer than 1.5 keepalives
while terminals send heartbeats and cases.

Before the fix paho's network thread blocked in ``on_message`` once ingest's queue was full, sent no
PINGREQ, and the broker dropped the hub ("hub lost the broker"), then redelivered all in flight. Now the
broker hands the hub at most its Receive Maximum of unacknowledged QoS 1 messages, which always fit, and
heartbeats (QoS 0) past a full queue are dropped and counted: the hub stays connected, and once the lock
is released every case arrives exactly once.

A clean stop leaves the hub's retained state saying offline: the hub disconnects asking the broker to
publish its Will, as publishing the state itself failed (ERR_QUEUE_SIZE) after a long backlog.

Real Mosquitto, a real hub in this process (its log and metrics read), real terminals.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edge.store.cases import NewCase
from protocol import topics
from protocol.state import HubState
from tests.support import applicant, assert_exactly_once, hub_case_ids, wait_for

KEEPALIVE_S = 2  # the broker drops a silent client after 1.5 of these
HELD_S = 2.5 * KEEPALIVE_S
TERMINALS = 3
CASES = 12  # per terminal, one per batch: more QoS 1 messages than the queue's reserved room


@pytest.fixture
def hub_db_url(tmp_path: Path) -> str:
    """SQLite only: the test holds ingest with a write lock of its own."""
    return f"sqlite:///{tmp_path / 'hub.db'}"


def test_a_held_ingest_keeps_the_broker_link_and_loses_no_case(hub_factory, edge_factory, hub_db_url, caplog):
    caplog.set_level(logging.WARNING, logger="hub.ingest.worker")
    hub = hub_factory(queue_max=8, keepalive_s=KEEPALIVE_S)  # Receive Maximum 4, room for 4 heartbeats
    assert hub.worker.receive_max == 4
    edges = [edge_factory(f"T{n}", receipt_series=n + 1, heartbeat_s=0.2, batch_size=1) for n in range(TERMINALS)]
    for edge in edges:
        edge.start_sync()
    wait_for(lambda: all(e.agent.connected_event.is_set() for e in edges), what="terminals online")

    lock = sqlite3.connect(hub_db_url.removeprefix("sqlite:///"), isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # every write of the hub now waits (its busy timeout is 30 s)
    try:
        sent = [
            str(e.cases.submit(NewCase(item_code="JB-001", applicant=applicant(100 * n + i))).case_id)
            for n, e in enumerate(edges)
            for i in range(CASES)
        ]
        held_until = time.monotonic() + HELD_S
        while time.monotonic() < held_until:
            assert hub.worker.connected.is_set(), "the hub lost the broker while ingest was held"
            time.sleep(0.05)
        dropped = hub.metrics.registry.get_sample_value("shegong_hub_ingest_dropped_total") or 0
    finally:
        lock.execute("ROLLBACK")
        lock.close()

    assert dropped > 0, "the queue filled with heartbeats: the held ingest was a real backlog"
    wait_for(lambda: len(hub_case_ids(hub.engine)) >= len(sent), timeout=60, what="every case at the hub")
    wait_for(lambda: all(e.outbox.stats().depth == 0 for e in edges), timeout=30, what="every case acked")
    assert_exactly_once(hub.engine, sent)
    assert hub.worker.connected.is_set()
    lines = [r.getMessage() for r in caplog.records]
    assert not [line for line in lines if "lost the broker" in line], lines
    assert [line for line in lines if "QoS 0 message(s) dropped" in line], "an operator is told"


def _retained_hub_state(port: int) -> HubState | None:
    got: list[bytes] = []
    done = threading.Event()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    c.on_connect = lambda cl, *_: cl.subscribe(topics.hub_state(), qos=1)
    c.on_message = lambda _c, _u, m: (got.append(m.payload), done.set())
    c.connect("127.0.0.1", port)
    c.loop_start()
    done.wait(2)
    c.loop_stop()
    c.disconnect()
    return HubState.model_validate_json(got[0]) if got else None


def test_a_clean_stop_leaves_the_retained_state_offline(hub_factory, broker):
    hub = hub_factory(instance="stopping")
    before = _retained_hub_state(broker.port)
    assert before is not None and before.body.online
    hub.worker.stop()
    after = _retained_hub_state(broker.port)
    assert after is not None and not after.body.online and after.body.instance == "stopping"
