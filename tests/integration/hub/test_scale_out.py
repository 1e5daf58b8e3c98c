"""Several hub processes on one database and one shared subscription: every one ingests, exactly one
runs the periodic work (fleet evaluation, event resends, catalogue announcements), and another takes
it over when the leader stops; after a broker restart only the leader announces the catalogue again. On
SQLite and PostgreSQL."""

from __future__ import annotations

import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import text

from edge.store.cases import NewCase
from protocol import topics
from protocol.catalogue_sync import CatalogueAnnouncement
from protocol.codec import decode
from tests.support import applicant, assert_exactly_once, wait_for


def test_two_workers_share_intake_and_exactly_one_leads(hub_factory: Any, edge_factory: Any) -> None:
    hubs = [
        hub_factory(router=None, instance=f"w{n}", share_group="ingest", leader_check_s=0.2, keepalive_s=5)
        for n in range(2)
    ]
    ticks = {h.settings.instance: 0 for h in hubs}
    for h in hubs:
        h.fleet.registry.settings.evaluate_every_s = 0.1  # type: ignore[misc]

        def count(name: str = h.settings.instance) -> None:
            ticks[name] += 1

        h.fleet.on_tick.append(count)
    wait_for(lambda: sum(h.leadership.is_leader for h in hubs) == 1, what="one leader")
    leader = next(h for h in hubs if h.leadership.is_leader)
    follower = next(h for h in hubs if h is not leader)
    wait_for(lambda: ticks[leader.settings.instance] >= 5, what="the leader's periodic work")
    assert ticks[follower.settings.instance] == 0  # the follower ingests only

    edges = [edge_factory(f"T{n}", committee_code=f"JW{n:03d}") for n in range(4)]
    for e in edges:
        e.start_sync()
    accepted = [
        str(e.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(n))).case_id) for n, e in enumerate(edges)
    ]
    for n, e in enumerate(edges):
        for k in range(5):
            accepted.append(
                str(e.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(10 + 5 * n + k))).case_id)
            )
    wait_for(lambda: all(e.outbox.stats().depth == 0 for e in edges), timeout=30, what="every case acked")
    assert_exactly_once(leader.engine, accepted)
    ingested = [h.metrics.registry.get_sample_value("shegong_hub_cases_ingested_total") or 0 for h in hubs]
    assert sum(ingested) == len(accepted) and all(n > 0 for n in ingested), ingested  # both took a share

    leader.close()  # the leader goes: the other takes the periodic work over within seconds
    wait_for(lambda: follower.leadership.is_leader, timeout=10, what="the follower leading")
    before = ticks[follower.settings.instance]
    wait_for(lambda: ticks[follower.settings.instance] > before + 3, what="the new leader's periodic work")


def test_every_process_follows_the_leaders_catalogue_and_only_the_leader_announces_it(
    hub_factory: Any, edge_factory: Any, broker: Any
) -> None:
    """The leader publishes a version; the follower had read the one of its own start. It assessed the
    heartbeats it took against that one (a terminal running the new version was "ahead" of it), and, when
    the broker restarted and every process reconnected, announced it: an older version became the retained
    announcement, terminals reconnecting got it, and the leader, having announced the newer one already,
    never put it back."""
    hubs = [
        hub_factory(router=None, instance=f"w{n}", share_group="ingest", leader_check_s=0.2, keepalive_s=5)
        for n in range(2)
    ]
    wait_for(lambda: sum(h.leadership.is_leader for h in hubs) == 1, what="one leader")
    leader = next(h for h in hubs if h.leadership.is_leader)
    follower = next(h for h in hubs if h is not leader)
    edge = edge_factory("T1")
    edge.start_sync()
    wait_for(lambda: edge.catalogue.version == 1, what="the seed confirmed")
    store = leader.catalogue.store
    store.start_draft("test")
    store.update_item(store.draft().items[0].code, {"name": "领导者发布的新名称"}, "test")
    published = leader.catalogue.publish("test").version
    wait_for(lambda: edge.catalogue.version == published, what="the terminal at the new version")
    wait_for(lambda: follower.fleet.desired() is not None and follower.fleet.desired().version == published)
    time.sleep(4 * edge.settings.heartbeat_s)  # heartbeats, shared out to both processes
    with leader.engine.connect() as conn:
        kinds = conn.execute(text("SELECT kind FROM fleet_alerts WHERE terminal_id = 'T1'")).scalars().all()
    assert "catalogue_ahead" not in kinds, "assessed against the version in force, in every process"

    heard: list[int] = []
    watcher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="watcher", protocol=MQTTProtocolVersion.MQTTv5)

    def on_message(_c: Any, _u: Any, m: Any) -> None:
        message = decode(m.payload)
        assert isinstance(message, CatalogueAnnouncement)
        heard.append(message.body.version)

    watcher.on_message = on_message
    session = Properties(PacketTypes.CONNECT)
    session.SessionExpiryInterval = 300  # its subscription and what arrives meanwhile outlive the restart
    watcher.connect("127.0.0.1", broker.port, clean_start=False, properties=session)
    watcher.loop_start()
    try:
        watcher.subscribe(topics.catalogue(), qos=1)
        wait_for(lambda: heard == [published], what="the retained announcement")
        broker.restart()
        wait_for(lambda: all(h.worker.connected.is_set() for h in hubs), what="both hubs back on the broker")
        wait_for(lambda: len(heard) > 1, what="the leader announces again")
        leader.catalogue.announcer.announce(force=True)  # a marker: what any process said at connect came first
        wait_for(lambda: len(heard) > 2, what="the marker")
        time.sleep(0.5)  # a follower's announcement at its connect would have arrived by now
        assert set(heard) == {published}, f"announced after the restart: {heard[1:]}"
    finally:
        watcher.loop_stop()
        watcher.disconnect()
