"""Publishing a catalogue version to real terminals (EdgeRuntimes) through a real Mosquitto.

The hub keeps the desired version retained on ``shegong/v1/catalogue``; each terminal asks for what
changed (paired by correlation id), applies it in one transaction and reports the version it runs. One
terminal sits behind a VPN that is cut during the publication and catches up when it returns; an
older announcement never overwrites a newer catalogue; a version the hub cannot serve is reported as a
failure, not retried in a loop. A hub restored from a backup older than its last publication numbers its
next publication above what the terminals run, and says so until then. Runs with the hub on SQLite and on
PostgreSQL.
"""

from __future__ import annotations

import getpass
import json
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from hub.audit.chain import bind_key_file
from hub.audit.keyed import key_path
from hub.cases.partnered import RESTORED_AHEAD
from hub.catalogue.store import MAX_AHEAD, CatalogueStore
from hub.db.engine import open_engine
from hub.fleet import view
from hub.night.steps import backups as hub_backups
from hub.open311.partners import Partners
from hub.web.services import Services
from protocol import topics
from protocol.cases import Applicant
from protocol.catalogue_sync import AnnouncementBody, CatalogueAnnouncement
from protocol.envelope import utcnow
from shegong import cli
from tests.integration.fleet.conftest import alerts, rows
from tests.support import id_number, wait_for


def _publish_one_change(hub, name: str) -> tuple[int, str]:
    store = hub.catalogue.store
    store.start_draft("test")
    code = store.draft().items[3].code
    store.update_item(code, {"name": name}, "test")
    return hub.catalogue.publish("test", "改名").version, code


def _hotline_request(hub, n: int) -> str:
    """A caller's request the 12345 hotline makes through Open311 (its core, as the web handler calls it):
    its request id, the partner receipt number the hub gives."""
    services = Services.build(hub.engine, send=None)
    partners = Partners(hub.engine)
    found = [p for p in partners.list() if p.name == "hotline"]
    partner = found[0] if found else partners.add("hotline")[0]
    caller = Applicant(id_number=id_number("310104", "19480521", f"{n:03d}"), name="周秀英", card_type="manual")
    return services.open311.cases.create(partner.partner_id, partner.name, "MZ-003", caller, {}, []).service_request_id


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

    def error() -> str:
        return str(rows(hub.engine, "SELECT catalogue_error FROM fleet_terminals WHERE terminal_id='T1'")[0][0])

    announce(1)  # a stale retained copy, e.g. from a broker restored from an old backup
    wait_for(lambda: edge.catalogue_sync.stats["ignored"] >= 1, what="older announcement ignored")
    assert edge.catalogue.version == version and edge.catalogue_sync.stats["requests"] == requests
    wait_for(lambda: error().startswith("v1:"), what="the hub shows the older announcement, with other content")
    assert f"older than version {version}" in error()

    announce(version + 5)  # a version the hub never published
    wait_for(lambda: edge.catalogue_sync.stats["failed"] == 1, what="failure reported")
    wait_for(lambda: error().startswith(f"v{version + 5}:"), what="hub records the failure")
    assert "未发布" in error()
    assert edge.catalogue.version == version and edge.catalogue.current().item(code).name == "新名称"

    hub.catalogue.announcer.announce(force=True)  # the hub puts its own announcement back
    assert edge.catalogue.version == version


def test_a_hub_restored_from_before_its_last_publication_publishes_above_what_terminals_run(
    fleet_hub,
    edge_factory,
    hub_db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
):
    """The drill of docs/night.md with the catalogue: the hub is backed up at version 2, publishes version 3,
    is stopped and restored from the backup. Its newest version is 2 again while the terminals run 3: they
    keep 3 and report the conflict; the hub alerts on each and says in its log what to do. Its next
    publication is version 4, above theirs — numbered 3 again, the terminals would have ignored it — and
    every terminal takes it."""
    monkeypatch.setenv("SHEGONG_HUB_BACKUP_DIR", str(tmp_path / "hub-backups"))
    monkeypatch.setenv("SHEGONG_HUB_DATABASE_URL", hub_db_url)  # for the operator's `shegong hub …`
    key_file = tmp_path / "backup.key"  # the backup key's private half, kept off the hub
    assert cli.main(["hub", "keys", "backup-init", "--out", str(key_file)]) == 0
    monkeypatch.setenv("SHEGONG_HUB_BACKUP_PUBLIC_KEY", capsys.readouterr().out.strip())
    hub = fleet_hub(catalogue_grace_s=600)
    edges = [edge_factory("T1"), edge_factory("T2")]
    for e in edges:
        e.start_sync()
    v2, _ = _publish_one_change(hub, "居住证办理（备份前改名）")
    wait_for(lambda: all(e.catalogue.version == v2 for e in edges), what="terminals at version 2")
    before_backup = _hotline_request(hub, 1)
    assert cli.main(["hub", "backup"]) == 0
    after_backup = _hotline_request(hub, 2)  # lost with the database: the hotline holds its id
    assert [r.rsplit("-", 1)[1] for r in (before_backup, after_backup)] == ["000001", "000002"]
    store = hub.catalogue.store
    store.start_draft("test")
    lost = store.draft().items[9].code
    store.update_item(lost, {"name": "备份后改名（将随恢复丢失）"}, "test")
    v3 = hub.catalogue.publish("test").version
    wait_for(lambda: all(e.catalogue.version == v3 for e in edges), what="terminals at version 3")
    assert v3 == v2 + 1

    [sealed] = hub_backups(hub.settings).kept()
    capsys.readouterr()
    assert cli.main(["hub", "restore", str(sealed), "--key", str(key_file)]) == 2, "not under a running hub"
    assert "a hub process is running on this database (it holds the leader lock)" in capsys.readouterr().err
    assert hub.catalogue.store.latest().version == v3, "nothing written over"
    hub.close()  # the operator's restore: stop the hub, write the older backup over its database, start it
    assert cli.main(["hub", "restore", str(sealed)]) == 2, "encrypted: not restored without the key"
    assert cli.main(["hub", "restore", str(sealed), "--key", str(key_file)]) == 0
    with caplog.at_level(logging.WARNING, logger="hub.catalogue"):
        hub = fleet_hub(catalogue_grace_s=600)
        assert hub.catalogue.store.latest().version == v2, "the restore took the hub back to version 2"
        assert _hotline_request(hub, 3) == after_backup[:-6] + "000003", "the lost request's id is not given again"

        for t in ("T1", "T2"):
            wait_for(lambda t=t: alerts(hub, t, "catalogue_ahead"), what=f"{t}: alert of a version the hub lost")
            assert alerts(hub, t, "catalogue_ahead")[0].detail == f"v{v3} > v{v2}"
        wait_for(
            lambda: all(
                e.startswith(f"v{v2}:") and "older than version 3" in e
                for (e,) in rows(hub.engine, "SELECT catalogue_error FROM fleet_terminals")
            ),
            what="each terminal reported the older announcement as a conflict",
        )
        wait_for(lambda: "terminals run version 3, above this hub's newest published version 2" in caplog.text)
    assert all(e.catalogue.version == v3 for e in edges), "an older announcement never overwrites a newer catalogue"
    assert all(e.catalogue.current().item(lost).name.startswith("备份后改名") for e in edges)

    # The operator checks the catalogue and publishes: the next version passes the terminals' 3.
    v4, renamed_after = _publish_one_change(hub, "居住证办理（恢复后改名）")
    assert v4 == v3 + 1, "numbered above the version the terminals run, not max(own)+1"
    wait_for(lambda: all(e.catalogue.version == v4 for e in edges), what="every terminal takes version 4")
    for e in edges:
        assert e.catalogue.current() == hub.catalogue.store.get(v4), "the hub's catalogue in force, whole"
        assert e.catalogue.current().item(renamed_after).name == "居住证办理（恢复后改名）"
        assert e.catalogue.current().item(lost).name == hub.catalogue.store.get(v2).item(lost).name
    wait_for(
        lambda: not any(a.cleared_at is None for t in ("T1", "T2") for a in alerts(hub, t, "catalogue_ahead")),
        what="the alerts cleared",
    )
    wait_for(
        lambda: [e for (e,) in rows(hub.engine, "SELECT catalogue_error FROM fleet_terminals")] == ["", ""],
        what="the conflicts cleared by the terminals' reports of version 4",
    )
    published = rows(hub.engine, "SELECT data FROM audit WHERE action = 'catalogue.published' ORDER BY id")
    assert json.loads(published[-1][0])["terminals_ran"] == v3


def test_a_hub_restored_over_a_broken_database_and_published_before_it_starts_gives_a_new_number(
    fleet_hub, edge_factory, hub_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The database is broken (SQLite: a file that is no database; PostgreSQL: a server set up again, its
    schema empty), so nothing says how many versions were published after the backup, and the operator
    publishes on the restored database before starting the hub, which has heard no terminal (the restored
    fleet rows say version 2). The restore recorded that versions continue MAX_AHEAD above the backup's
    newest: the publication is version 2 + MAX_AHEAD + 1, not 3 again with other content, and the terminal
    at the lost version 3 takes it."""
    monkeypatch.setenv("SHEGONG_HUB_BACKUP_DIR", str(tmp_path / "hub-backups"))
    monkeypatch.setenv("SHEGONG_HUB_DATABASE_URL", hub_db_url)  # for the operator's `shegong hub …`
    hub = fleet_hub()
    edge = edge_factory("T1")
    edge.start_sync()
    v2, _ = _publish_one_change(hub, "居住证办理（备份前改名）")
    wait_for(lambda: rows(hub.engine, "SELECT catalogue_version FROM fleet_terminals") == [(v2,)], what="v2 here")
    before_backup = _hotline_request(hub, 1)
    hub_backups(hub.settings).take(utcnow())
    _hotline_request(hub, 2)  # lost with the broken database, and how far the day's numbers came with it
    _publish_one_change(hub, "居住证办理（备份后改名）")
    wait_for(lambda: edge.catalogue.version == v2 + 1, what="the terminal at version 3")
    settings = hub.settings
    hub.close()
    if hub_db_url.startswith("sqlite"):
        Path(hub_db_url.removeprefix("sqlite:///")).write_bytes(b"\x00not a database" * 256)
    else:
        with open_engine(hub_db_url, upgrade=False).begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    [backup] = hub_backups(settings).kept()
    assert cli.main(["hub", "restore", str(backup), "--unsigned"]) == 0  # in clear: no backup key here

    engine = open_engine(settings.database_url)  # as `shegong hub catalogue import/publish` does
    bind_key_file(engine, key_path(settings))
    try:
        store = CatalogueStore(engine)
        assert store.latest().version == v2, "the backup's catalogue"
        store.start_draft("cli:op")
        store.update_item(store.draft().items[20].code, {"name": "恢复后、中心启动前改名"}, "cli:op")
        again = store.publish("cli:op").version
        restored = rows(engine, "SELECT restored_by, catalogue_above FROM hub_restores")
    finally:
        engine.dispose()
    assert again == v2 + MAX_AHEAD + 1, "above every number the lost publications could have taken"
    assert restored == [(f"cli:{getpass.getuser()}", v2 + MAX_AHEAD)]

    hub = fleet_hub()
    # the day's partner receipts: how far they came was lost too, so they continue RESTORED_AHEAD above
    assert _hotline_request(hub, 3) == before_backup[:-6] + f"{1 + RESTORED_AHEAD + 1:06d}"
    wait_for(lambda: edge.catalogue.version == again, what="the terminal takes the version published after the restore")
    assert edge.catalogue.current() == hub.catalogue.store.get(again)
    assert edge.catalogue_sync.stats["conflicts"] == 0
    wait_for(lambda: rows(hub.engine, "SELECT catalogue_error FROM fleet_terminals") == [("",)], what="no error")
    assert not alerts(hub, "T1", "catalogue_ahead")
