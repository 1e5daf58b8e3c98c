"""The parts failing under the sync: the broker restarts, the hub is SIGKILLed mid-batch, the terminal
is SIGKILLed while writing, the hub is away while the broker forgets everything.

The hub runs in-process or as a real ``shegong hub run`` subprocess; the terminal writes with the real
store. Each test ends by checking that every case the terminal accepted is at the hub exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edge.store.cases import NewCase
from hub.db.engine import open_engine
from protocol import topics
from protocol.cases import CaseEvent, CaseEvents, CaseEventsBody, CaseStatus
from protocol.envelope import utcnow
from tests.support import applicant, assert_exactly_once, hub_count, id_number, wait_for


def _submit(edge, n: int, start: int = 0) -> list[str]:
    return [
        str(edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(start + i))).case_id) for i in range(n)
    ]


@pytest.mark.parametrize("persistence", [True, False], ids=["persistence-on", "persistence-off"])
def test_cases_survive_a_broker_restart(hub_factory, edge_factory, broker, persistence):
    broker.stop()
    broker.persistence = persistence
    broker.start()
    hub = hub_factory()
    edge = edge_factory(batch_size=20)
    edge.start_sync()
    wait_for(edge.agent.connected_event.is_set, what="terminal online")
    accepted = _submit(edge, 100)
    broker.restart()  # mid-drain, whatever was in flight
    accepted += _submit(edge, 100, start=100)
    wait_for(lambda: edge.outbox.stats().depth == 0, timeout=30, what="outbox drained after the restart")
    assert_exactly_once(hub.engine, accepted)


def test_cases_survive_the_hub_being_away_while_a_broker_without_persistence_restarts(
    hub_factory, edge_factory, broker
):
    broker.stop()
    broker.persistence = False
    broker.start()
    hub = hub_factory()
    edge = edge_factory()
    edge.start_sync()
    wait_for(edge.agent.connected_event.is_set, what="terminal online")
    hub.worker.stop()  # the hub goes away; the broker queues for its session…
    accepted = _submit(edge, 30)
    time.sleep(0.5)
    broker.restart()  # …and forgets the queue
    hub2 = hub_factory()  # the hub comes back: terminals resend what it never acked
    wait_for(lambda: edge.outbox.stats().depth == 0, timeout=30, what="outbox drained")
    assert_exactly_once(hub2.engine, accepted)


def _hub_process(db_url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SHEGONG_HUB_DATABASE_URL": db_url,
        "SHEGONG_HUB_BROKER_PORT": str(port),
        "SHEGONG_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "shegong.cli", "hub", "run", "--no-web"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def test_cases_survive_a_hub_sigkill_in_the_middle_of_a_batch(hub_db_url, broker, edge_factory, tmp_path):
    open_engine(hub_db_url).dispose()  # schema first, so counting below never races the migration
    edge = edge_factory(batch_size=20, inflight_window=2)  # small steps, so the kill lands mid-drain
    accepted = _submit(edge, 1500)
    hub = _hub_process(hub_db_url, broker.port, tmp_path / "hub.log")
    engine = open_engine(hub_db_url, upgrade=False)
    try:
        edge.start_sync()
        wait_for(lambda: hub_count(engine, "SELECT count(*) FROM cases") > 100, what="hub ingesting", every=0.01)
        hub.send_signal(signal.SIGKILL)
        hub.wait(10)
        killed_at = hub_count(engine, "SELECT count(*) FROM cases")
        assert 0 < killed_at < 1500, "the kill should land mid-drain"
        hub = _hub_process(hub_db_url, broker.port, tmp_path / "hub.log")
        wait_for(lambda: edge.outbox.stats().depth == 0, timeout=60, what="outbox drained after the hub restarted")
        assert_exactly_once(engine, accepted)
    finally:
        hub.terminate()
        hub.wait(10)
        engine.dispose()


def test_every_case_committed_before_an_edge_sigkill_is_intact_and_delivered(
    hub_factory, edge_factory, tmp_path, broker
):
    data_dir = tmp_path / "edge-T1"
    env = {
        **os.environ,
        "SHEGONG_DATA_DIR": str(data_dir),
        "SHEGONG_TERMINAL_ID": "T1",
        "SHEGONG_COMMITTEE_CODE": "JW001",
        "SHEGONG_LOG_LEVEL": "WARNING",
    }
    writer = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shegong.cli",
            "edge",
            "submit",
            "--item",
            "JB-001",
            "--id-number",
            id_number(),
            "--name",
            "张三",
            "--count",
            "1000000",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    printed: list[str] = []
    deadline = time.monotonic() + 20
    while len(printed) < 200 and time.monotonic() < deadline:
        line = writer.stdout.readline()
        if line:
            printed.append(json.loads(line)["case_id"])
    writer.send_signal(signal.SIGKILL)  # in the middle of its write loop
    writer.wait(10)
    printed += [json.loads(line)["case_id"] for line in writer.stdout.read().splitlines() if line.strip()]

    with sqlite3.connect(data_dir / "edge.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        committed = [r[0] for r in db.execute("SELECT case_id FROM cases")]
        queued = {r[0] for r in db.execute("SELECT item_id FROM outbox")}
    assert set(printed) <= set(committed), "a receipt was printed for a case that is not in the database"
    assert queued == set(committed), "every committed case has its outbox row, and no row is without its case"

    hub = hub_factory()
    edge = edge_factory()
    edge.start_sync()
    wait_for(lambda: edge.outbox.stats().depth == 0, timeout=60, what="outbox drained after the restart")
    assert_exactly_once(hub.engine, committed)


def test_the_sync_agent_outlives_a_failing_step_and_a_heartbeat_without_a_link(hub_factory, edge_factory):
    """A CI run once lost the link inside a send and the heartbeat that followed found no client: the
    agent's thread died and the terminal never synced again. Any step may fail; the agent reconnects."""
    hub = hub_factory()
    edge = edge_factory(heartbeat_s=0.2)
    agent = edge.agent
    agent._heartbeat(time.monotonic())  # no link yet: nothing to do, and no error
    real, failures = agent._resend_late, []

    def failing_once(now: float) -> None:
        if not failures:
            failures.append(now)
            raise RuntimeError("a step that fails")
        real(now)

    agent._resend_late = failing_once
    edge.start_sync()
    accepted = _submit(edge, 30)
    wait_for(lambda: failures, what="the failing step")
    wait_for(lambda: edge.outbox.stats().depth == 0, timeout=30, what="outbox drained after the failure")
    assert agent._thread is not None and agent._thread.is_alive()
    assert agent.stats["link_losses"] >= 1
    assert_exactly_once(hub.engine, accepted)


def test_a_message_whose_handling_fails_does_not_end_the_terminals_sync(hub_factory, edge_factory, broker):
    """Invariants review: nothing failed when the agent stopped catching what a handler raises beyond a
    protocol error, though the exception would end its thread and the terminal would send nothing again.
    Applying the hub's events fails here (a disk error, say); the agent lives on, the event is not acked
    and comes again until it is stored, and the next case goes."""
    hub = hub_factory()
    edge = edge_factory()
    edge.start_sync()
    wait_for(edge.agent.connected_event.is_set, what="terminal online")
    calls: list[int] = []

    def failing(events, now=None):
        calls.append(len(events))
        raise OSError("disk I/O error while applying events")

    applying = edge.cases.apply_events
    edge.cases.apply_events = failing
    event = CaseEvent(event_id=1, case_id=uuid.uuid4(), version=1, status=CaseStatus.SUBMITTED, at=utcnow())
    hubish = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="hubish", protocol=MQTTProtocolVersion.MQTTv5)
    hubish.connect("127.0.0.1", broker.port)
    hubish.loop_start()
    try:
        message = CaseEvents(terminal="T1", body=CaseEventsBody(events=[event]))
        hubish.publish(topics.down("T1", topics.Down.EVENTS), message.encode(), qos=1).wait_for_publish(5)
        wait_for(lambda: calls, what="the failing handler called")
    finally:
        hubish.loop_stop()
        hubish.disconnect()
    # Not acked to the broker: it comes again at the reconnect, and is stored once the disk takes it (a chaos
    # review: paho acked it as the callback returned, and it was missing until the night).
    wait_for(lambda: len(calls) >= 2, timeout=30, what="the event sent again after the link was dropped")
    stored: list[int] = []
    edge.cases.apply_events = lambda events, now=None: stored.append(applying(events, now)) or stored[-1]
    wait_for(lambda: stored, timeout=60, what="the event stored once the disk takes it")
    later = _submit(edge, 1)
    wait_for(lambda: edge.outbox.stats().depth == 0, what="the next case sent and acked")
    assert edge.agent._thread is not None and edge.agent._thread.is_alive()
    assert_exactly_once(hub.engine, later)


def test_a_full_disk_when_connecting_does_not_end_the_terminals_sync(hub_factory, edge_factory):
    """A chaos review: the connection's number is stored before each connect, and a full disk there raised
    out of the agent's loop: its thread ended for good while the process ran on, and the 30 cases queued
    stayed queued after the space came back. Now it waits and tries again."""
    import sqlite3

    hub = hub_factory()
    edge = edge_factory()
    bump, refused = edge.outbox.bump, []

    def full_then_room(name, by=1):
        if name == "bd_seq" and len(refused) < 2:
            refused.append(name)
            raise sqlite3.OperationalError("database or disk is full")
        return bump(name, by)

    edge.outbox.bump = full_then_room
    queued = _submit(edge, 3)
    edge.start_sync()
    wait_for(edge.agent.connected_event.is_set, timeout=30, what="terminal online once there is room")
    assert len(refused) == 2 and edge.agent._thread is not None and edge.agent._thread.is_alive()
    wait_for(lambda: edge.outbox.stats().depth == 0, what="the queued cases sent and acked")
    assert_exactly_once(hub.engine, queued)
