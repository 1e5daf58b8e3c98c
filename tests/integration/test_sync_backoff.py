"""How long a terminal waits, and what ends the wait early.

Reconnects and resends back off exponentially, never past about 30 s (issue 11: a terminal whose backoff
had grown to 37 s took 33 s to come back after an outage). While the link is down after a network
failure, a TCP probe of the broker ends the wait as soon as a connection opens and holds: a real
Mosquitto is reachable, a closed port is not, nor a link that accepts and closes at once (the link
proxy while cut).
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from edge.runtime import EdgeRuntime
from edge.settings import EdgeSettings
from edge.sync.agent import backoff_ceiling, broker_reachable
from harness.broker import free_port
from tests.support import wait_for


def test_the_wait_doubles_from_the_first_and_stops_at_the_cap():
    # by hand: 0.5, 1, 2, 4, 8, 16, then 30 (not 32), and 30 for ever
    assert [backoff_ceiling(n, 0.5, 30) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert backoff_ceiling(10_000, 0.5, 30) == 30
    # the wait for an ack: 10, 20, 30, 30 …
    assert [backoff_ceiling(n, 10, 30) for n in range(1, 5)] == [10, 20, 30, 30]


@pytest.mark.parametrize("field", ["backoff_max_s", "resend_max_s"])
def test_a_terminal_cannot_be_set_to_wait_longer_than_30_seconds(tmp_path: Path, field: str):
    with pytest.raises(ValidationError):
        EdgeSettings(data_dir=tmp_path, **{field: 60})


def test_after_many_failures_the_next_try_is_at_most_30_seconds_away(tmp_path: Path):
    rt = EdgeRuntime(EdgeSettings(terminal_id="T1", data_dir=tmp_path / "edge"))  # the shipped defaults
    try:
        waits = []
        for _ in range(60):
            rt.agent._schedule_retry("test", network=True)
            waits.append(rt.agent._next_try - time.monotonic())
        assert max(waits) <= 30.0
        assert min(waits) >= rt.settings.backoff_min_s - 0.1  # full jitter, never an immediate retry
    finally:
        rt.close()


def test_the_probe_finds_a_running_broker(broker):
    assert broker_reachable("127.0.0.1", broker.port)


def test_the_probe_finds_nothing_on_a_closed_port():
    assert not broker_reachable("127.0.0.1", free_port())


def test_the_probe_is_not_fooled_by_a_link_that_accepts_and_closes(proxy):
    assert broker_reachable("127.0.0.1", proxy.port)
    proxy.cut()
    assert not broker_reachable("127.0.0.1", proxy.port)
    proxy.restore()
    assert broker_reachable("127.0.0.1", proxy.port)


def test_a_broker_that_takes_connections_but_never_answers_gets_the_backoff_not_a_retry_per_probe(tmp_path: Path):
    """The probe ends the wait only for a broker found unreachable and then reachable: one that is there but
    overloaded (TCP open, no CONNACK) is not tried again every few seconds by every terminal."""
    accepted: list[socket.socket] = []
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    port = server.getsockname()[1]
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])  # held open, never a byte back
            except TimeoutError:
                continue
            except OSError:  # closed at the end of the test
                return

    threading.Thread(target=accept, daemon=True).start()
    settings = EdgeSettings(
        terminal_id="T1",
        data_dir=tmp_path / "edge",
        broker_port=port,
        keepalive_s=2,
        backoff_min_s=8.0,
        backoff_max_s=10.0,
        probe_interval_s=0.5,
    )
    rt = EdgeRuntime(settings)
    try:
        rt.start_sync()
        wait_for(lambda: rt.agent.stats["link_losses"] >= 1, timeout=10, what="no CONNACK in time")
        time.sleep(4)  # eight probes find it reachable
        assert rt.agent.stats["link_losses"] == 1, "no early reconnect"
        assert len(accepted) >= 1 + 4, "the agent's one connection, then the probes"
    finally:
        rt.close()
        stop.set()
        time.sleep(0.3)
        server.close()
        for sock in accepted:
            sock.close()
