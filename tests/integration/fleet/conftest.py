"""Fixtures of the fleet tests: a hub with short fleet thresholds, and simulated terminals.

``SimTerminal`` is a bare paho client speaking the real protocol (birth, death as its Will, heartbeats
with whatever health a test needs, catalogue reports); it plays a terminal whose devices and clocks a
test controls. Catalogue rollouts use real EdgeRuntimes (``edge_factory``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from sqlalchemy import text

from protocol import topics
from protocol.envelope import utcnow
from protocol.health import Heartbeat, HeartbeatBody
from protocol.state import Birth, BirthBody, Death, DeathBody

FAST = {
    "HEARTBEAT_S": "0.5",  # silent after 1.5 s
    "EVALUATE_EVERY_S": "0.2",
    "FLAP_TRANSITIONS": "3",
    "FLAP_WINDOW_S": "60",
    "OFFLINE_ALERT_S": "1",
    "OUTBOX_ALERT_S": "60",
    "CATALOGUE_GRACE_S": "1",
    "CLOCK_ALERT_S": "30",
    "DISK_ALERT_MB": "100",
    "SAMPLE_EVERY_S": "0",
}


@pytest.fixture
def fleet_hub(hub_factory, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """A hub whose fleet thresholds are seconds, not minutes (``SHEGONG_HUB_FLEET_…``)."""

    def make(**fleet: object) -> Any:
        for key, value in {**FAST, **{k.upper(): str(v) for k, v in fleet.items()}}.items():
            monkeypatch.setenv(f"SHEGONG_HUB_FLEET_{key}", value)
        return hub_factory()

    return make


class SimTerminal:
    """A terminal played by a test: it connects with its death as the Will, is born, beats on demand."""

    def __init__(self, port: int, terminal: str, clock_offset_s: float = 0.0) -> None:
        self.port = port
        self.terminal = terminal
        self.clock_offset = timedelta(seconds=clock_offset_s)
        self.bd_seq = 0
        self.catalogue_version = 1  # the hub publishes the seed as version 1; terminals run it
        self.client: mqtt.Client | None = None
        self.received: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return utcnow() + self.clock_offset

    def connect(self) -> SimTerminal:
        self.bd_seq += 1
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.terminal, protocol=MQTTProtocolVersion.MQTTv5)
        death = Death(terminal=self.terminal, sent_at=self.now(), body=DeathBody(bd_seq=self.bd_seq))
        c.will_set(topics.state(self.terminal), death.encode(), qos=1, retain=True)
        c.on_message = lambda _c, _u, m: self.received.append((m.topic, m.payload))
        c.connect("127.0.0.1", self.port, keepalive=2)
        c.loop_start()
        c.subscribe(topics.down(self.terminal, topics.Down.CATALOGUE), qos=1)
        birth = Birth(
            terminal=self.terminal,
            sent_at=self.now(),
            body=BirthBody(bd_seq=self.bd_seq, catalogue_version=self.catalogue_version),
        )
        c.publish(topics.state(self.terminal), birth.encode(), qos=1, retain=True).wait_for_publish(5)
        self.client = c
        return self

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        assert self.client is not None
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def beat(self, **health: Any) -> None:
        """One heartbeat; ``health`` overrides fields of a healthy HeartbeatBody."""
        body: dict[str, Any] = {
            "bd_seq": self.bd_seq,
            "uptime_s": 60.0,
            "outbox_depth": 0,
            "disk_free_mb": 5000.0,
            "app_version": "0.1.0",
            "catalogue_version": self.catalogue_version,
            "reader": "ok",
            "printer": "ok",
        }
        body.update(health)
        hb = Heartbeat(terminal=self.terminal, sent_at=self.now(), body=HeartbeatBody(**body))
        self.publish(topics.up(self.terminal, topics.Up.HEALTH), hb.encode())

    def goodbye(self) -> None:
        """A clean stop: say the death, then disconnect (the Will is discarded)."""
        assert self.client is not None
        death = Death(terminal=self.terminal, sent_at=self.now(), body=DeathBody(bd_seq=self.bd_seq))
        self.publish(topics.state(self.terminal), death.encode(), retain=True)
        self.close()

    def drop(self) -> None:
        """The link dies without a goodbye: the broker publishes the Will."""
        assert self.client is not None
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            sock.close()  # no DISCONNECT: the broker sees the link die and sends the Will
        self.client = None

    def close(self) -> None:
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()
            self.client = None


@pytest.fixture
def sims(broker) -> Iterator[Callable[..., SimTerminal]]:
    made: list[SimTerminal] = []

    def make(terminal: str, **kwargs: Any) -> SimTerminal:
        sim = SimTerminal(broker.port, terminal, **kwargs)
        made.append(sim)
        return sim

    yield make
    for sim in made:
        sim.close()


def rows(engine: Any, sql: str, **params: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text(sql), params).all())


def fleet_state(hub: Any, terminal: str) -> str | None:
    found = rows(hub.engine, "SELECT state FROM fleet_terminals WHERE terminal_id = :t", t=terminal)
    return found[0][0] if found else None


def alerts(hub: Any, terminal: str, kind: str | None = None) -> list[Any]:
    sql = "SELECT kind, raised_at, cleared_at, detail FROM fleet_alerts WHERE terminal_id = :t"
    if kind:
        sql += " AND kind = :k"
    return rows(hub.engine, sql + " ORDER BY id", t=terminal, k=kind)
