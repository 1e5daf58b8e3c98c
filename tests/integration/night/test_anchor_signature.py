"""A forged hub anchor cannot take a day from the hub's own (issue 15), over a real Mosquitto.

The hub signs each day's anchor of its audit chain with its audit key and publishes it retained on
``shegong/v1/hub/anchor``; a terminal keeps the first anchor of each day and refuses a later, different
one. Here something other than the hub gets to publish on that topic first (a broker user with a
misconfigured ACL): an anchor signed with another key, then the hub's own anchor with a field altered.
The terminal, given the public half of the hub's audit key, keeps neither, says why in its log and raises
its ``anchor_refused`` alarm; the hub's genuine anchor of the same day is then kept and the alarm cleared.
A terminal not given the key (an edge.toml written before it existed) keeps anchors unchecked, warning
once; given the key later, it lets the hub's own anchor take the place of one kept unchecked that is not.

The hub's key here is the test's own, and the signatures are made with the ``cryptography`` package's
Ed25519 over the signed text as the protocol describes it, written out here — not by the code under test.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from protocol.witness import AnchorBody, HubAnchor
from tests.support import wait_for

TOPIC = "shegong/v1/hub/anchor"
DAY = date(2026, 3, 2)
AT = datetime(2026, 3, 2, 18, 30, 5, tzinfo=UTC)
HEAD = "3f" * 32


def _public_hex(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def _anchor(key: Ed25519PrivateKey, day: date = DAY, entries: int = 41, head: str = HEAD) -> AnchorBody:
    """An anchor of ``day`` signed with ``key`` over the protocol's text: its version tag, then day, entry
    count, last id, head hash and time, separated by ``|``."""
    text = f"shegong/audit-anchor/v1|{day.isoformat()}|{entries}|{entries + 2}|{head}|2026-03-02T18:30:05+00:00"
    signature = key.sign(text.encode()).hex()
    return AnchorBody(day=day, entries=entries, last_id=entries + 2, head=head, at=AT, signature=signature)


class Publisher:
    """A broker user publishing on the hub's anchor topic, retained, as the hub does (or anyone it lets)."""

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="anchors", protocol=MQTTProtocolVersion.MQTTv5)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, a: AnchorBody) -> None:
        self.client.publish(TOPIC, HubAnchor(terminal="hub", body=a).encode(), qos=1, retain=True).wait_for_publish(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def publisher(broker):
    p = Publisher(broker.port)
    yield p
    p.close()


def _refusals(caplog: pytest.LogCaptureFixture) -> int:
    return sum("refused a hub anchor" in r.getMessage() for r in caplog.records)


def test_a_forged_anchor_does_not_take_the_day_from_the_hubs_own(edge_factory, publisher, caplog):
    caplog.set_level(logging.INFO)
    hub_key = Ed25519PrivateKey.generate()
    genuine = _anchor(hub_key)
    forged = _anchor(Ed25519PrivateKey.generate())  # same day, same fields, another key
    altered = genuine.model_copy(update={"entries": 40})  # the hub's signature, a field changed after it

    publisher.publish(forged)  # first on the topic: the terminal gets it retained as it subscribes
    edge = edge_factory(hub_audit_public_key=_public_hex(hub_key))
    edge.start_sync()
    wait_for(lambda: "anchor_refused" in edge.alarms.active(), what="the forged anchor refused with an alarm")
    assert edge.witness.anchors() == []
    assert DAY.isoformat() in edge.alarms.active()["anchor_refused"]
    publisher.publish(altered)
    wait_for(lambda: _refusals(caplog) == 2, what="the altered anchor refused")
    assert edge.witness.anchors() == []
    assert "hub_audit_public_key" in caplog.text and forged.signature not in caplog.text

    publisher.publish(genuine)
    wait_for(lambda: edge.witness.anchors() == [genuine], what="the hub's own anchor of the day kept")
    wait_for(lambda: "anchor_refused" not in edge.alarms.active(), what="the alarm cleared")

    def recorded() -> list[str]:  # the refusal stays on record in the terminal's own audit chain
        with edge.engine.connect() as conn:
            sql = "SELECT action FROM audit_entries WHERE subject = 'anchor_refused' ORDER BY id"
            return [r[0] for r in conn.exec_driver_sql(sql)]

    wait_for(lambda: recorded() == ["alarm.raised", "alarm.cleared"], what="the alarm raised and cleared, audited")


def test_a_terminal_without_the_key_keeps_anchors_unchecked_until_it_is_given_it(edge_factory, publisher, caplog):
    caplog.set_level(logging.INFO)
    hub_key = Ed25519PrivateKey.generate()
    forged = _anchor(Ed25519PrivateKey.generate())
    old = edge_factory(hub_audit_public_key="")  # provisioned before terminals were given the key
    old.start_sync()
    publisher.publish(_anchor(Ed25519PrivateKey.generate(), day=date(2026, 3, 1)))
    wait_for(lambda: len(old.witness.anchors()) == 1, what="an unchecked anchor kept")
    publisher.publish(forged)
    wait_for(lambda: len(old.witness.anchors()) == 2, what="another unchecked anchor kept")
    assert sum("kept without checking" in r.getMessage() for r in caplog.records) == 1, "warned once"
    assert old.alarms.active() == {}
    old.close()

    edge = edge_factory(hub_audit_public_key=_public_hex(hub_key))  # the same terminal, its key set
    edge.start_sync()
    wait_for(lambda: _refusals(caplog) == 1, what="the retained forged anchor refused now")
    genuine = _anchor(hub_key)
    publisher.publish(genuine)
    wait_for(lambda: edge.witness.anchors()[-1] == genuine, what="the hub's own anchor in the place of the forged")
    assert [a.day for a in edge.witness.anchors()] == [date(2026, 3, 1), DAY]
