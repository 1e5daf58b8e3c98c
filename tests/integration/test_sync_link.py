"""The VPN between a committee and the centre: down for a while, half-open, or losing an ack.

The terminal talks to Mosquitto through a LinkProxy that can cut, blackhole or delay the link; the hub
talks to the broker directly. Each test accepts cases at the terminal and then checks that every
accepted case is at the hub exactly once and that the terminal's outbox is empty.
"""

from __future__ import annotations

import time

from edge.store.cases import NewCase
from protocol import topics
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
    proxy.drop_replies()  # the hub's ack will never reach the terminal over this link…
    accepted = _submit(edge, 3)
    wait_for(lambda: hub_count(hub.engine, "SELECT count(*) FROM cases") == 3, what="hub committed the batch")
    # …once the broker has it from the hub (else the hub's client publishes it again to the next broker):
    ack_topic = topics.down(edge.settings.terminal_id, topics.Down.ACKS).encode()
    wait_for(lambda: ack_topic in proxy.replies_dropped, what="the ack sent on, and dropped")
    time.sleep(0.5)  # the broker's PUBACK to the hub, taken by the hub's client
    proxy.cut()  # …and lost with the link,
    broker.kill()  # and with the broker's copy for the terminal's session: the ack is gone for good
    broker.persistence = False  # (an autosave within its 5 s could have kept the queued ack: not this time)
    broker.start()
    assert edge.outbox.stats().depth == 3, "only the hub's ack may clear the outbox"

    proxy.restore()
    wait_for(lambda: edge.outbox.stats().depth == 0, what="outbox cleared by the second ack")
    assert_exactly_once(hub.engine, accepted)
    assert hub.metrics.duplicates._value.get() >= 3  # the redelivery was seen, and was a no-op


def test_cases_queued_while_the_vpn_is_down_arrive_within_seconds_of_its_return_not_after_the_backoff(
    hub_factory, edge_factory, proxy
):
    """Issue 11: after an outage a terminal waited 33 s to reconnect, its backoff having grown to 37 s. The
    backoff here is long from the first failure (25-30 s); the probe of the broker ends it when the link
    returns."""
    hub = hub_factory()
    edge = edge_factory(port=proxy.port, backoff_min_s=25.0, backoff_max_s=30.0, probe_interval_s=1.0)
    edge.start_sync()
    wait_for(edge.agent.connected_event.is_set, what="terminal online")

    proxy.cut()
    wait_for(lambda: not edge.agent.connected_event.is_set(), what="terminal notices the cut")
    accepted = _submit(edge, 20)
    time.sleep(2.5)  # a few probes find the link still down (the proxy accepts and at once closes)
    assert edge.outbox.stats().depth == 20
    assert edge.agent._next_try - time.monotonic() > 15, "the backoff alone would wait much longer"

    proxy.restore()
    back = time.monotonic()
    wait_for(lambda: edge.outbox.stats().depth == 0, timeout=30, what="outbox drained after the VPN returned")
    took = time.monotonic() - back
    assert took < 10, f"the queued cases took {took:.1f} s after the link returned"  # the backoff: 25-30 s
    assert_exactly_once(hub.engine, accepted)


def test_unacked_cases_go_again_at_once_when_the_hub_announces_it_is_back(hub_factory, edge_factory):
    """The hub's retained online state brings every unacked item at once, not after the ack wait."""
    hub = hub_factory()
    edge = edge_factory(ack_timeout_s=25.0, resend_max_s=30.0)
    edge.start_sync()
    wait_for(edge.agent.connected_event.is_set, what="terminal online")
    hub.worker.stop()  # the hub's consumer goes away (its state: offline)
    wait_for(lambda: edge.agent.hub_online is False, what="terminal sees the hub offline")
    accepted = _submit(edge, 10)
    time.sleep(1.0)
    assert edge.outbox.stats().depth == 10

    back = time.monotonic()
    hub2 = hub_factory()
    wait_for(lambda: edge.outbox.stats().depth == 0, timeout=30, what="outbox drained after the hub returned")
    took = time.monotonic() - back
    assert took < 15, f"the unacked cases took {took:.1f} s after the hub came back"  # the ack wait: 25 s
    assert_exactly_once(hub2.engine, accepted)


def test_a_batch_never_acked_goes_again_read_from_the_outbox_without_what_was_acked_meanwhile(edge_factory, broker):
    """No hub: nothing acks. The agent keeps only which items a batch in flight holds, not their payloads;
    the batch sent again after the ack wait carries the same sealed cases, read again from the outbox, less
    any item the hub acked meanwhile (a late ack of an earlier copy)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from protocol.cases import CaseBatch

    batches: list[CaseBatch] = []
    watcher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="watcher")
    watcher.on_message = lambda _c, _u, m: batches.append(CaseBatch.model_validate_json(m.payload))
    watcher.connect("127.0.0.1", broker.port)
    watcher.subscribe(topics.up("T1", topics.Up.CASES), qos=1)
    watcher.loop_start()
    try:
        edge = edge_factory(ack_timeout_s=1.0)
        accepted = _submit(edge, 3)
        with edge.engine.connect() as conn:
            sealed = dict(conn.exec_driver_sql("SELECT item_id, payload FROM outbox").all())
        edge.start_sync()
        wait_for(lambda: len(batches) >= 1, what="the first batch published")
        assert [str(c.case_id) for c in batches[0].body.cases] == accepted
        assert edge.outbox.acked([accepted[1]]) == 1  # the hub's ack of one of them arrives late

        wait_for(lambda: len(batches) >= 2, timeout=10, what="the batch sent again after its ack wait")
        again = batches[1]
        assert again.id != batches[0].id
        assert [str(c.case_id) for c in again.body.cases] == [accepted[0], accepted[2]]
        assert [c.model_dump_json() for c in again.body.cases] == [sealed[accepted[0]], sealed[accepted[2]]]
        assert edge.agent.stats["resent_batches"] >= 1
    finally:
        watcher.loop_stop()
        watcher.disconnect()
