"""The tests' own Mosquitto really keeps what it should across a restart (and forgets it without
persistence): the broker-restart invariants depend on it. Started as root, Mosquitto used to drop to its
own user and, unable to write in pytest's private folders, ran without its database, silently."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from harness.broker import Mosquitto

pytestmark = pytest.mark.timeout(60)


def _retained(port: int, topic: str, wait: float = 2.0) -> bytes | None:
    got: list[bytes] = []
    done = threading.Event()
    c = mqtt.Client(CallbackAPIVersion.VERSION2)
    c.on_connect = lambda cl, *_: cl.subscribe(topic, qos=1)
    c.on_message = lambda _c, _u, m: (got.append(m.payload), done.set())
    c.connect("127.0.0.1", port)
    c.loop_start()
    done.wait(wait)
    c.loop_stop()
    c.disconnect()
    return got[0] if got else None


def _publish_retained(port: int, topic: str, payload: bytes) -> None:
    c = mqtt.Client(CallbackAPIVersion.VERSION2)
    c.connect("127.0.0.1", port)
    c.loop_start()
    c.publish(topic, payload, qos=1, retain=True).wait_for_publish(5)
    c.loop_stop()
    c.disconnect()


@pytest.mark.parametrize("persistence", [True, False])
def test_a_restarted_broker_keeps_retained_messages_exactly_when_persistent(tmp_path, persistence):
    broker = Mosquitto(tmp_path / "broker", persistence=persistence).start()
    _publish_retained(broker.port, "shegong/test/retained", b"kept")
    proc = broker.proc
    broker.stop()
    assert proc is not None and proc.wait(10) == 0
    assert (tmp_path / "broker" / "mosquitto.db").exists() is persistence
    assert (tmp_path / "broker" / "mosquitto.log").stat().st_size > 0  # the broker could write its log
    again = Mosquitto(tmp_path / "broker", port=broker.port, persistence=persistence).start()
    try:
        assert _retained(again.port, "shegong/test/retained", wait=2.0 if persistence else 0.5) == (
            b"kept" if persistence else None
        )
    finally:
        again.kill()
