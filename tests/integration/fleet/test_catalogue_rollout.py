"""Publishing a catalogue version to real terminals (EdgeRuntimes) through a real Mosquitto.

The hub keeps the desired version retained on ``shegong/v1/catalogue``; each terminal asks for what
changed (paired by correlation id), applies it in one transaction and reports the version it runs. One
terminal sits behind a VPN that is cut during the publication and catches up when it returns; an
older announcement never overwrites a newer catalogue; a version the hub cannot serve is reported as a
failure, not retried in a loop. Runs with the hub on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta

from hub.fleet import view
from protocol import topics
from protocol.catalogue_sync import AnnouncementBody, CatalogueAnnouncement
from protocol.envelope import utcnow
from tests.integration.fleet.conftest import rows
from tests.support import wait_for


def _publish_one_change(hub, name: str) -> tuple[int, str]:
    store = hub.catalogue.store
    store.start_draft("test")
    code = store.draft().items[3].code
    store.update_item(code, {"name": name}, "test")
    return hub.catalogue.publish("test", "改名").version, code


def _views(hub) -> dict[str, view.TerminalView]:
    with hub.engine.connect() as conn:
        return {v.terminal_id: v for v in view.terminals(conn, hub.fleet.settings, utcnow(), hub.fleet.desired())}


def test_a_changed_item_reaches_every_terminal_and_one_cut_off_catches_up(fleet_hub, edge_factory, proxy):
    hub = fleet_hub(catalogue_grace_s=600)
    edges = [edge_factory("T1"), edge_factory("T2"), edge_factory("T3", port=proxy.port)]
    for e in edges:
        e.start_sync()
    wait_for(lambda: all(e.catalogue.version == 1 for e in edges), what="seed confirmed as version 1")
    assert all(e.catalogue_sync.stats["items"] == 0 for e in edges), "the seed is version 1: nothing to fetch"

    proxy.cut()
    wait_for(lambda: not edges[2].agent.connected_event.is_set(), what="T3 notices the cut")
    version, code = _publish_one_change(hub, "居住证办理（测试改名）")
    wait_for(lambda: edges[0].catalogue.version == edges[1].catalogue.version == version, what="T1 and T2 updated")
    for e in edges[:2]:
        assert e.catalogue.current().item(code).name == "居住证办理（测试改名）"
        assert e.catalogue_sync.stats["items"] == 1, "only the changed item travels"
        assert len(e.catalogue.current().items) == 50
    assert edges[2].catalogue.version == 1

    wait_for(lambda: not _views(hub)["T1"].behind and not _views(hub)["T2"].behind, what="reports at the hub")
    views = _views(hub)
    assert not views["T1"].behind and views["T1"].rollout_s is not None and views["T1"].rollout_s < 5
    assert views["T3"].behind and views["T3"].desired_version == version

    proxy.restore()
    wait_for(lambda: edges[2].catalogue.version == version, what="T3 catches up after the VPN returns")
    assert edges[2].catalogue.current().item(code).name == "居住证办理（测试改名）"
    wait_for(
        lambda: {r[0] for r in rows(hub.engine, "SELECT catalogue_version FROM fleet_terminals")} == {version},
        what="every terminal reported the new version",
    )
    rollout = view.rollout(list(_views(hub).values()), hub.fleet.desired(), utcnow())
    assert rollout is not None and rollout.done and rollout.reported == 3

    edges[0].close()  # the version survives a restart of the terminal
    again = edge_factory("T1")
    assert again.catalogue.version == version and again.catalogue.current().item(code).name.endswith("（测试改名）")


def test_an_older_announcement_is_ignored_and_an_unknown_version_is_reported_failed(fleet_hub, edge_factory, sims):
    hub = fleet_hub()
    edge = edge_factory("T1")
    edge.start_sync()
    version, code = _publish_one_change(hub, "新名称")
    wait_for(lambda: edge.catalogue.version == version, what="terminal at the new version")
    requests = edge.catalogue_sync.stats["requests"]

    raw = sims("T-RAW").connect()

    def announce(v: int) -> None:
        body = AnnouncementBody(
            version=v,
            content_hash="sha256:x",
            manifest_hash="sha256:y",
            items=1,
            published_at=utcnow() - timedelta(days=1),
        )
        raw.publish(topics.catalogue(), CatalogueAnnouncement(terminal="hub", body=body).encode(), retain=True)

    announce(1)  # a stale retained copy, e.g. from a broker restored from an old backup
    wait_for(lambda: edge.catalogue_sync.stats["ignored"] >= 1, what="older announcement ignored")
    assert edge.catalogue.version == version and edge.catalogue_sync.stats["requests"] == requests

    announce(version + 5)  # a version the hub never published
    wait_for(lambda: edge.catalogue_sync.stats["failed"] == 1, what="failure reported")
    wait_for(
        lambda: rows(hub.engine, "SELECT catalogue_error FROM fleet_terminals WHERE terminal_id='T1'")[0][0],
        what="hub records the failure",
    )
    error = rows(hub.engine, "SELECT catalogue_error FROM fleet_terminals WHERE terminal_id='T1'")[0][0]
    assert error.startswith(f"v{version + 5}:") and "未发布" in error
    assert edge.catalogue.version == version and edge.catalogue.current().item(code).name == "新名称"

    hub.catalogue.announcer.announce(force=True)  # the hub puts its own announcement back
    assert edge.catalogue.version == version
