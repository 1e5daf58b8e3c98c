"""``shegong hub audit verify --witnesses`` asks the terminals live, over a real Mosquitto.

Three nights pass (the hub's night signs each day's anchor, the running hub publishes it retained, two
terminals keep every one). Then someone with the hub's database and its audit key file rewrites the chain
wholesale from the second day on — an entry of that day edited, every later hash and seal recomputed, that
day's and the next day's anchors signed again — and deletes the copies of the terminals' anchors stored at
the hub. The command asks both terminals over MQTT (and a third registered one that is switched off), takes
their answers within the timeout, names the second and third days and not the first, and says which
terminals answered and which stayed silent.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from edge.store.cases import NewCase
from hub.audit.keyed import AuditKey, key_path
from hub.night.anchor import anchor_night
from hub.night.cli import AuditDisagrees, verify_keyed
from protocol.auditchain import GENESIS, entry_hash
from protocol.envelope import utcnow
from protocol.reconcile import day_of
from protocol.witness import anchor_text
from shegong import cli
from tests.support import applicant, register_terminal, wait_for


def _utc(value: datetime | str) -> datetime:
    """A timestamp as the raw SQL reads it back (SQLite: naive text in UTC; PostgreSQL: aware)."""
    value = datetime.fromisoformat(value) if isinstance(value, str) else value
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _rewrite_from(engine, key: AuditKey, after_id: int) -> None:
    """Edit the first entry after ``after_id`` and recompute everything after it — hashes, seals, the stored
    anchor and every day anchor past it, signed again with the key file — as an attacker holding both would."""
    with engine.begin() as conn:
        prev = conn.execute(text("SELECT hash FROM audit WHERE id = :i"), {"i": after_id}).scalar() or GENESIS
        rows = conn.execute(
            text("SELECT id, at, actor, action, subject, data FROM audit WHERE id > :i ORDER BY id"), {"i": after_id}
        ).all()
        heads: dict[int, str] = {}
        for n, (entry_id, at, actor, action, subject, data) in enumerate(rows):
            at = _utc(at)
            if n == 0:
                data = data.replace("{", '{"edited":true,', 1) if data != "{}" else '{"edited":true}'
            h = entry_hash(prev, at, actor, action, subject, data)
            conn.execute(
                text("UPDATE audit SET data = :d, prev_hash = :p, hash = :h, mac = :m WHERE id = :i"),
                {"d": data, "p": prev, "h": h, "m": key.mac(h), "i": entry_id},
            )
            heads[entry_id] = prev = h
        conn.execute(text("UPDATE audit_anchor SET head_hash = :h WHERE id = 1"), {"h": prev})
        for day, entries, last_id, at in conn.execute(
            text("SELECT day, entries, last_id, at FROM audit_day_anchors WHERE last_id > :i"), {"i": after_id}
        ).all():
            day = date.fromisoformat(day) if isinstance(day, str) else day
            head = heads[last_id]
            conn.execute(
                text("UPDATE audit_day_anchors SET head_hash = :h, signature = :s WHERE last_id = :l"),
                {"h": head, "s": key.sign(anchor_text(day, entries, last_id, head, _utc(at))), "l": last_id},
            )
        conn.execute(text("DELETE FROM audit_witnesses"))  # the copies stored here go with the rest


def test_live_witnesses_name_the_day_a_wholesale_rewrite_starts(
    hub_factory, edge_factory, broker, tmp_path, monkeypatch, capsys
):
    hub = hub_factory(backup_dir=str(tmp_path / "backups"), archive_dir=str(tmp_path / "archive"))
    key = AuditKey.load(key_path(hub.settings))  # made beside the case key, as `shegong hub keys init` does
    terminals = [edge_factory("T1"), edge_factory("T2", receipt_series=2)]
    register_terminal(hub.engine, "T3", "JW002")  # registered, but switched off: it cannot answer
    for t in terminals:
        t.start_sync()
    now = utcnow()
    days = [now - timedelta(days=2), now - timedelta(days=1), now]
    last_ids = []
    for n, when in enumerate(days):
        for t in terminals:
            t.cases.submit(NewCase(item_code="JB-001", applicant=applicant(10 * n + int(t.settings.terminal_id[1]))))
        for t in terminals:
            wait_for(lambda t=t: t.outbox.stats().depth == 0, what="cases acked")
        anchor_night(hub.engine, key, when)
        day = day_of(when)
        for t in terminals:
            wait_for(lambda t=t, day=day: day in {a.day for a in t.witness.anchors()}, timeout=30, what="anchor kept")
        with hub.engine.connect() as conn:
            last_ids.append(conn.execute(text("SELECT last_id FROM audit_day_anchors ORDER BY day DESC")).scalar())

    assert "witnessed anchors agree; asked 3 terminal(s): answered T1, T2, silent after 2 s: T3" in verify_keyed(
        hub.engine, hub.settings, live_timeout_s=2
    )

    _rewrite_from(hub.engine, key, after_id=last_ids[0])
    with pytest.raises(AuditDisagrees) as caught:
        verify_keyed(hub.engine, hub.settings, live_timeout_s=2)
    message = str(caught.value)
    first, second, third = (day_of(d).isoformat() for d in days)
    assert f"disagrees with its witnesses on {second}, {third}:" in message
    assert f"{first} (" not in message
    assert "terminal T1" in message and "terminal T2" in message
    assert "answered T1, T2, silent after 2 s: T3" in message

    # The command, as an operator runs it.
    monkeypatch.setenv("SHEGONG_HUB_DATABASE_URL", hub.settings.database_url)
    monkeypatch.setenv("SHEGONG_HUB_BROKER_PORT", str(broker.port))
    capsys.readouterr()
    assert cli.main(["hub", "audit", "verify", "--witnesses", "--timeout", "2"]) == 2
    err = capsys.readouterr().err
    assert second in err and third in err and "answered T1, T2" in err


def test_history_a_restore_took_away_is_told_apart_from_a_rewrite(
    hub_factory, edge_factory, hub_db_url, tmp_path, monkeypatch, capsys
):
    """The hub is backed up after the first day's anchor; the second day's anchor, witnessed by the terminal,
    covers entries the restore then takes away, and the restored hub's next entries take their ids. Asked
    live, the terminal's second anchor disagrees with the chain: that is the restore's (the anchor is the
    hub's, covers entries past the backup's last and was made before the sealed ``hub.restored`` entry), so
    the check holds and says so. An entry the backup held, edited afterwards, is still named."""
    monkeypatch.setenv("SHEGONG_HUB_DATABASE_URL", hub_db_url)
    monkeypatch.setenv("SHEGONG_HUB_BACKUP_DIR", str(tmp_path / "backups"))
    hub = hub_factory(backup_dir=str(tmp_path / "backups"))
    key = AuditKey.load(key_path(hub.settings))
    edge = edge_factory("T1")
    edge.start_sync()
    now = utcnow()
    first, second = now - timedelta(days=1), now
    for n, when in enumerate((first, second)):
        edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(n)))
        wait_for(lambda: edge.outbox.stats().depth == 0, what="case acked")
        anchor_night(hub.engine, key, when)
        wait_for(lambda when=when: day_of(when) in {a.day for a in edge.witness.anchors()}, timeout=30, what="kept")
        if n == 0:
            assert cli.main(["hub", "backup"]) == 0
            with hub.engine.connect() as conn:
                backup_last = conn.execute(text("SELECT max(id) FROM audit")).scalar()
    hub.close()
    [backup] = sorted((tmp_path / "backups").glob("hub-*"))
    assert cli.main(["hub", "restore", str(backup), "--unsigned"]) == 0  # in clear: no backup key here
    hub = hub_factory(backup_dir=str(tmp_path / "backups"))
    edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(7)))  # new entries take the lost ids
    wait_for(lambda: edge.outbox.stats().depth == 0, what="case acked by the restored hub")

    said = verify_keyed(hub.engine, hub.settings, live_timeout_s=2)
    assert f"1 witness history a restore took away (days {day_of(second).isoformat()}:" in said
    assert "1 witnessed anchors agree" in said

    _rewrite_from(hub.engine, key, after_id=backup_last - 1)  # the backup's last entry edited
    with pytest.raises(AuditDisagrees, match=f"disagrees with its witnesses on {day_of(first).isoformat()}:"):
        verify_keyed(hub.engine, hub.settings, live_timeout_s=2)
