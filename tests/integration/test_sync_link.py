"""The VPN between a committee and the centre: down for a while, half-open, or losing an ack.

The terminal talks to Mosquitto through a LinkProxy that can cut, blackhole or delay the link; the hub
talks to the broker directly. Each test accepts cases at the terminal and then checks that every
accepted case is at the hub exactly once and that the terminal's outbox is empty.
"""

from __future__ import annotations

import time

from edge.store.cases import NewCase
from tests.support import applicant, assert_exactly_once, hub_count, wait_for


def _submit(edge, n: int, start: int = 0) -> list[str]:
    return [
        str(edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(start + i))).case_id) for i in range(n)
    ]


def test_cases_accepted_while_vpn_is_down_reach_the_hub_once_when_it_returns(hub_factory, edge_factory, proxy):
    hub = hub_factory()
    edge = edge_factory(port=proxy.port)
    edge.start_sync()
    wait_for(edge.agent.connected_event.is_set, what="terminal online")
    accepted = _submit(edge, 5)
    wait_for(lambda: edge.outbox.stats().depth == 0, what="first cases acked")

    proxy.cut()
    wait_for(lambda: not edge.agent.connected_event.is_set(), what="terminal notices the cut")
    accepted += _submit(edge, 40, start=100)  # the kiosk keeps accepting while the VPN is down
    time.sleep(1.5)
    assert edge.outbox.stats().depth == 40
    assert hub_count(hub.engine, "SELECT count(*) FROM cases") == 5

    proxy.restore()
    wait_for(lambda: edge.outbox.stats().depth == 0, what="outbox drained after the VPN returned")
    assert_exactly_once(hub.engine, accepted)


def test_half_open_link_is_noticed_within_one_and_a_half_keepalives_and_recovers(hub_factory, edge_factory, proxy):
    hub = hub_factory()
    edge = edge_factory(port=proxy.port, keepalive_s=4)
    edge.start_sync()
    wait_for(edge.agent.connected_event.is_set, what="terminal online")
    losses = edge.agent.stats["link_losses"]

    proxy.blackhole()  # no FIN, no RST: bytes just stop arriving
    started = time.monotonic()
    accepted = _submit(edge, 10)
    wait_for(
        lambda: edge.agent.stats["link_losses"] > losses,
        timeout=15,
        what="half-open link detected",
        every=0.02,
    )
    detected = time.monotonic() - started
    assert detected <= 1.5 * 4, f"half-open link noticed after {detected:.1f} s"

    proxy.restore()
    wait_for(lambda: edge.outbox.stats().depth == 0, what="outbox drained after recovery")
    assert_exactly_once(hub.engine, accepted)


def test_lost_ack_means_the_batch_is_sent_again_and_stays_one_row(hub_factory, edge_factory, proxy, broker):
    hub = hub_factory()
    edge = edge_factory(port=proxy.port)
    edge.start_sync()
    wait_for(edge.agent.connected_event.is_set, what="terminal online")
    proxy.delay(1.0)  # acks now take a second to come back…
    accepted = _submit(edge, 3)
    wait_for(lambda: hub_count(hub.engine, "SELECT count(*) FROM cases") == 3, what="hub committed the batch")
    proxy.cut()  # …and are lost with the link before they arrive,
    broker.kill()  # and with the broker's copy for the terminal's session: the ack is gone for good
    broker.start()
    assert edge.outbox.stats().depth == 3, "only the hub's ack may clear the outbox"

    proxy.restore()
    wait_for(lambda: edge.outbox.stats().depth == 0, what="outbox cleared by the second ack")
    assert_exactly_once(hub.engine, accepted)
    assert hub.metrics.duplicates._value.get() >= 3  # the redelivery was seen, and was a no-op
