"""One terminal floods the hub with 2,000 payloads it cannot use while another terminal drains its queue.

Terminal A is a bare paho client publishing, as fast as QoS 1 allows, payloads of many kinds: JSON nested
past Python's recursion limit, numbers past its 4,300-digit limit, invalid UTF-8, wrong types, payloads
over the size limit, messages of the wrong type for their topic, another terminal's envelope, an unknown
channel, a sealed case nobody can open. Terminal B is a real EdgeRuntime with cases queued while it was
offline. The hub is a real ``shegong hub run`` process on SQLite and on PostgreSQL.

Before issue 10's fix a payload of the first kind was neither acknowledged nor dead-lettered: ~1,000 of
them filled the broker's in-flight window towards the hub and B's cases never arrived, not even after a
hub restart (the broker brought the same poison back). Now:

- B's cases are all committed within seconds of B coming online, during A's flood;
- the hub is SIGKILLed; A floods again while it is down, B queues more; the restarted hub takes B's
  cases within seconds again;
- every one of A's 4,000 messages is accounted for exactly once (a dead letter with its reason, or set
  aside as ``rate_limited``), and nothing is left unacknowledged: a hub started once more is handed
  nothing old;
- the fleet has an alert naming A.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from sqlalchemy import text

from edge.store.cases import NewCase
from hub.db.engine import open_engine
from hub.settings import HubSettings
from protocol import topics
from protocol.cases import CaseBatch, CaseBatchBody, SealedCase
from protocol.envelope import MAX_PAYLOAD_BYTES
from protocol.health import Heartbeat, HeartbeatBody
from protocol.state import HubState
from tests.support import applicant, assert_exactly_once, hub_count, wait_for

FLOOD = 2000
B_CASES = 400
BAD_BURST = "1000"  # tokens: the bad-payload flood is opened in part, each kind of refusal seen
# "Within seconds": measured 0.1-0.3 s (before issue 10's fix: 12 s, or never once ~1,000 poison wait). Before
# dead letters were written in one statement, the heavy flood's measured 4.5-5.3 s here and 8.5 s on CI's two cores.
WITHIN_S = 8.0


def _bad_payloads(n: int) -> Iterator[tuple[str, bytes]]:
    """``n`` (topic, payload) pairs of terminal A that the hub cannot use, cycling through many kinds."""
    cases, health = topics.up("A", topics.Up.CASES), topics.up("A", topics.Up.HEALTH)
    beat = Heartbeat(terminal="A", body=HeartbeatBody(bd_seq=1, uptime_s=1, outbox_depth=0, disk_free_mb=1))
    good_shape = json.loads(CaseBatch(terminal="A", body=CaseBatchBody(cases=[_unopenable()])).encode())
    unforeseen: list[tuple[str, bytes]] = [  # what decoding did not expect before issue 10's fix
        (cases, b"[" * 5000),  # RecursionError in json.loads
        (cases, b'{"v": 1, "type": "case_batch", "body": ' + b"[" * 3000 + b"]" * 3000 + b"}"),
        (cases, b'{"v": ' + b"9" * 5000 + b"}"),  # past int()'s digit limit
        (cases, b'{"v": 1, "type": "case_batch", "terminal": "A", "seq": ' + b"1" * 4400 + b"}"),
    ]
    foreseen: list[tuple[str, bytes]] = [
        (cases, b'{"v": 1, "type": "case_batch", "terminal": "\xff\xfe"}'),  # invalid UTF-8
        (cases, b"\x00\x01\x02 not json at all"),
        (cases, json.dumps({**good_shape, "seq": "7"}).encode()),  # wrong types
        (cases, json.dumps({**good_shape, "body": [1, 2, 3]}).encode()),
        (cases, json.dumps({**good_shape, "v": 99}).encode()),
        (cases, beat.encode()),  # a heartbeat on the cases topic
        (health, CaseBatch(terminal="A", body=CaseBatchBody(cases=[_unopenable()])).encode()),  # and vice versa
        (cases, CaseBatch(terminal="B", body=CaseBatchBody(cases=[_unopenable()])).encode()),  # B's envelope
        (topics.up("A", topics.Up.CASES) + "-nope", b"{}"),  # no such channel
        (cases, CaseBatch(terminal="A", body=CaseBatchBody(cases=[_unopenable()])).encode()),  # sealed_invalid
        (cases, b" " * (MAX_PAYLOAD_BYTES + 1)),  # oversized
    ]
    for i in range(n):  # two in three unforeseen: more than the broker's window of 1,000 towards the hub
        yield unforeseen[i % len(unforeseen)] if i % 3 else foreseen[i // 3 % len(foreseen)]


def _unopenable() -> SealedCase:
    return SealedCase(case_id=uuid.uuid4(), sealed="A" * 120)


class Flooder:
    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="A", protocol=MQTTProtocolVersion.MQTTv5)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.hub_online_at = 0.0  # when the hub last said it is online (its retained state)
        self.client.on_message = self._on_hub_state
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(topics.hub_state(), qos=1)
        self.client.loop_start()

    def _on_hub_state(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        if msg.payload and HubState.model_validate_json(msg.payload).body.online:
            self.hub_online_at = time.monotonic()

    def wait_for_hub(self, since: float) -> None:
        wait_for(lambda: self.hub_online_at > since, what="the hub listening")

    def flood(self, n: int) -> None:
        infos = [self.client.publish(topic, payload, qos=1) for topic, payload in _bad_payloads(n)]
        for info in infos:
            info.wait_for_publish(60)  # the broker has every one of them

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _hub(db_url: str, port: int, log: Path, **settings: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **{f"SHEGONG_HUB_{k.upper()}": v for k, v in settings.items()},
        "SHEGONG_HUB_DATABASE_URL": db_url,
        "SHEGONG_HUB_BROKER_PORT": str(port),
        "SHEGONG_HUB_FLEET_EVALUATE_EVERY_S": "0.5",
        "SHEGONG_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "shegong.cli", "hub", "run", "--no-web"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def _accounted(engine) -> int:
    return hub_count(engine, "SELECT coalesce(sum(count), 0) FROM dead_letter_counts WHERE terminal_id = 'A'")


def _queue_b(edge, n: int, start: int) -> list[str]:
    return [
        str(edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(start + i))).case_id) for i in range(n)
    ]


def _b_at_hub(engine, ids: list[str]) -> int:
    with engine.connect() as conn:
        return len(set(conn.execute(text("SELECT case_id FROM cases")).scalars()) & set(ids))


def test_one_terminal_flooding_bad_payloads_does_not_stop_another_before_or_after_a_hub_restart(
    hub_db_url, broker, edge_factory, tmp_path
):
    open_engine(hub_db_url).dispose()  # schema first
    engine = open_engine(hub_db_url, upgrade=False)
    b = edge_factory("B", committee_code="JW002", batch_size=50)  # registered to JW002 at the hub (conftest)
    queued = _queue_b(b, B_CASES, 0)  # accepted while the link was down
    log = tmp_path / "hub.log"
    flooder = Flooder(broker.port)
    # A burst above the shipped one, so that many of each kind are opened and refused, and still some set aside.
    hub = _hub(hub_db_url, broker.port, log, terminal_burst=BAD_BURST)
    try:
        flooder.wait_for_hub(0.0)
        flooder.flood(FLOOD)
        b.start_sync()
        started = time.monotonic()
        wait_for(lambda: _b_at_hub(engine, queued) == B_CASES, timeout=60, what="B's cases during the flood", every=0.1)
        took = time.monotonic() - started
        print(f"B's {B_CASES} cases committed {took:.1f} s after B came online, during A's flood")
        assert took < WITHIN_S
        wait_for(lambda: _accounted(engine) >= FLOOD, timeout=60, what="every flood message accounted for")
        assert _accounted(engine) == FLOOD
        wait_for(
            lambda: hub_count(
                engine,
                "SELECT count(*) FROM fleet_alerts WHERE terminal_id = 'A' "
                "AND kind IN ('rate_limited', 'dead_letters') AND cleared_at IS NULL",
            ),
            what="a fleet alert naming A",
        )

        time.sleep(1.0)  # the last PUBACKs are on the wire: what the hub has taken is not brought back
        hub.send_signal(signal.SIGKILL)
        hub.wait(10)
        flooder.flood(FLOOD)  # the broker keeps it all for the hub's session
        more = _queue_b(b, B_CASES, B_CASES)
        time.sleep(1.0)  # B has published them too, behind A's flood
        restarted = time.monotonic()
        hub = _hub(hub_db_url, broker.port, log, terminal_burst=BAD_BURST)
        flooder.wait_for_hub(restarted)
        started = time.monotonic()
        print(f"the hub process was listening again {started - restarted:.1f} s after it was started")
        wait_for(lambda: _b_at_hub(engine, more) == B_CASES, timeout=60, what="B's cases after the restart", every=0.1)
        took = time.monotonic() - started
        print(f"B's next {B_CASES} cases committed {took:.1f} s after the restarted hub listened, behind A's flood")
        assert took < WITHIN_S
        wait_for(lambda: _accounted(engine) >= 2 * FLOOD, timeout=60, what="the second flood accounted for")
        assert _accounted(engine) == 2 * FLOOD, "each message is one dead letter, none counted twice"
        wait_for(lambda: b.outbox.stats().depth == 0, what="B's outbox empty")

        # Nothing left unacknowledged: a hub started once more is handed nothing old, and nothing is counted twice.
        time.sleep(1.0)
        hub.send_signal(signal.SIGKILL)
        hub.wait(10)
        restarted = time.monotonic()
        hub = _hub(hub_db_url, broker.port, log, terminal_burst=BAD_BURST)
        flooder.wait_for_hub(restarted)
        time.sleep(3.0)  # anything the broker still held for the hub's session would be here by now
        assert _accounted(engine) == 2 * FLOOD
        with engine.connect() as conn:
            kept = conn.execute(text("SELECT count(*) FROM dead_letters WHERE terminal_id = 'A'")).scalar_one()
            reasons = dict(
                conn.execute(text("SELECT reason, count FROM dead_letter_counts WHERE terminal_id = 'A'")).all()
            )
            largest = conn.execute(text("SELECT max(length(payload)) FROM dead_letters")).scalar_one()
        assert kept <= 1000, "dead letters per terminal are bounded"
        assert largest <= 4096, "a dead letter keeps a few KiB at most"
        assert {"malformed_json", "schema_invalid", "unexpected_type", "terminal_mismatch", "oversized"} <= set(reasons)
        print(f"A's messages: {reasons}")
        assert hub_count(engine, "SELECT count(*) FROM cases") == 2 * B_CASES
    finally:
        flooder.close()
        hub.send_signal(signal.SIGTERM)
        hub.wait(15)
        engine.dispose()


def _big_batch(n: int) -> bytes:
    return CaseBatch(terminal="A", body=CaseBatchBody(cases=[_unopenable() for _ in range(n)])).encode()


def test_a_terminal_sending_heavy_batches_within_its_message_rate_does_not_slow_another(
    hub_db_url, broker, edge_factory, tmp_path
):
    """Security review, stop 33: with one terminal's login, 50 batches a second of 1,000 unopenable sealed cases
    (each a key agreement and a dead letter for the hub) stayed within the rate of 50 *messages* a second, and
    another terminal's case waited 35–39 s. A message now takes tokens by its size (one per started 4 KiB), and
    what is over the rate is dropped as it arrives. A batch's thousand refusals are written in one statement, and
    no more of them than a terminal keeps (they were a statement each, most removed again by the bound: B then
    waited 4.5-8.5 s behind A's opened batches). B's cases are committed within seconds; the hub opened no
    more of A's batches than A's tokens allow (worked by hand below); every one of A's messages is counted."""
    open_engine(hub_db_url).dispose()
    engine = open_engine(hub_db_url, upgrade=False)
    b = edge_factory("B", committee_code="JW002", batch_size=50)
    queued = _queue_b(b, B_CASES, 0)
    flooder = Flooder(broker.port)
    hub = _hub(hub_db_url, broker.port, tmp_path / "hub.log")
    heavy, sent = _big_batch(1000), 600  # 12 s at 50 a second
    try:
        flooder.wait_for_hub(0.0)
        began = time.monotonic()
        infos: list[mqtt.MQTTMessageInfo] = []

        def flood() -> None:  # 50 a second, as the reviewer sent them
            for i in range(sent):
                infos.append(flooder.client.publish(topics.up("A", topics.Up.CASES), heavy, qos=1))
                time.sleep(max(0.0, began + (i + 1) / 50 - time.monotonic()))

        flooding = threading.Thread(target=flood)
        flooding.start()
        time.sleep(1.0)
        b.start_sync()  # B comes online a second into the flood
        b_online = time.monotonic()
        wait_for(lambda: _b_at_hub(engine, queued) == B_CASES, timeout=60, what="B's cases during the flood", every=0.1)
        took = time.monotonic() - b_online
        print(f"B's {B_CASES} cases committed {took:.1f} s after B came online, during A's heavy flood")
        assert flooding.is_alive(), "A still floods while B's cases are all in"
        flooding.join()
        for info in infos:
            info.wait_for_publish(60)
        flooded_s = time.monotonic() - began
        assert took < WITHIN_S

        def counts() -> dict[str, int]:
            with engine.connect() as conn:
                rows = conn.execute(text("SELECT reason, count FROM dead_letter_counts WHERE terminal_id = 'A'"))
                return dict(rows.all())

        # Each batch opened gives 1,000 sealed_invalid dead letters; each batch dropped is one rate_limited count.
        wait_for(
            lambda: counts().get("rate_limited", 0) + counts().get("sealed_invalid", 0) // 1000 >= sent,
            timeout=60,
            what="every one of A's batches accounted for",
        )
        got = counts()
        opened = got.get("sealed_invalid", 0) // 1000
        assert opened + got["rate_limited"] == sent, got
        # By hand: a batch is len(heavy) bytes, ceil(len/4096) tokens (44 here); the bucket holds the shipped
        # burst (500) and gains the shipped rate (50) a second, so at most (burst + rate * flooded_s) / 44 + 1
        # batches could be opened over the flood.
        tokens = -(-len(heavy) // 4096)
        assert 40 <= tokens <= 50, len(heavy)
        burst, rate = 500, 50  # the shipped burst and rate as docs/hub.md states them, not read from the code
        shipped = HubSettings.model_fields
        assert (shipped["terminal_burst"].default, shipped["terminal_rate_per_s"].default) == (burst, rate)
        assert opened <= (burst + rate * flooded_s) / tokens + 1, (opened, flooded_s)
        dropped = got["rate_limited"]
        print(f"A's {sent} heavy batches in {flooded_s:.1f} s: {opened} opened, {dropped} dropped over the rate")
    finally:
        flooder.close()
        hub.send_signal(signal.SIGTERM)
        hub.wait(15)
        engine.dispose()


def test_a_terminal_over_its_rate_paces_itself_instead_of_waiting_out_each_ack(
    hub_db_url, broker, edge_factory, tmp_path
):
    """The hub answers one of a terminal's set-aside batches a second and drops the others unanswered: a
    terminal that resent each only when its ack wait ended (5 s, doubling to 30 s) drained a backlog beyond
    its burst at tens of cases a second (bench sync with the hub's limit on: 55 a second). Told once, it now
    sends every batch in flight again after a pause, half as many at a time: 1,000 cases over a rate of 20
    tokens a second drain in 15-25 s here, where the terminal before this waited out its acks past 90 s.
    (The rate itself would allow them in about 3 s: the pacing is not yet close to it.)"""
    open_engine(hub_db_url).dispose()
    engine = open_engine(hub_db_url, upgrade=False)
    b = edge_factory("B", committee_code="JW002", batch_size=50)
    queued = _queue_b(b, 1000, 0)  # 20 batches of ~4 tokens each: five times the burst below
    hub = _hub(hub_db_url, broker.port, tmp_path / "hub.log", terminal_rate_per_s="20", terminal_burst="16")
    try:
        time.sleep(1.0)
        started = time.monotonic()
        b.start_sync()
        wait_for(lambda: _b_at_hub(engine, queued) == 1000, timeout=90, what="B's backlog at the hub", every=0.2)
        print(f"1,000 cases over a rate of 20 tokens a second drained in {time.monotonic() - started:.1f} s")
        assert b.agent.stats["rate_limited"] >= 1, "the hub did limit B"
        assert_exactly_once(engine, queued)
    finally:
        hub.send_signal(signal.SIGTERM)
        hub.wait(15)
        engine.dispose()
