"""Backups and the restore drill, on real files, a real Mosquitto and the hub on SQLite and PostgreSQL.

The hub is backed up (SQLite's backup API, or pg_dump), takes more cases, is stopped and restored from
the older backup: the cases since are gone at the hub. The terminal's next night sends them again from its
sealed copies, and the hub holds every case once. The terminal's own backup is checked, rotated and
restored with one command; a damaged copy is refused. What the retention purge takes from the terminal's
database leaves its backups too, unless a backup is not of this database's history.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import socket
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nacl.bindings as ss
import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.public import PrivateKey, SealedBox
from nacl.signing import SigningKey
from sqlalchemy import text

from edge.console.store import ConsoleStore
from edge.control import ControlServer, socket_path
from edge.night.backup import BackupBroken, Backups, backup_name
from edge.night.steps import Night
from edge.night.steps import run_night as edge_night
from edge.runtime import EdgeRuntime
from edge.settings import EdgeSettings
from edge.store import audit
from edge.store.cases import NewCase
from edge.store.db import set_counter
from edge.store.retention import RECONCILED
from hub.audit.keyed import AuditKey, key_path
from hub.cases.states import Action
from hub.night.backup import BackupFailed, HubBackups
from hub.night.steps import backups as hub_backups
from hub.people.roles import Principal, Role
from hub.web.services import Services
from protocol import topics
from protocol.cases import CaseEvent, CaseStatus
from protocol.envelope import utcnow
from protocol.ratings import RatingLevel
from protocol.state import HubState, HubStateBody
from shegong import cli
from tests.support import applicant, assert_exactly_once, hub_count, wait_for


def _keys(folder: Path, capsys: pytest.CaptureFixture[str]) -> tuple[str, Path]:
    """A backup key pair made as an operator makes it: the public half printed, the private half in a file."""
    key_file = folder / "offline" / "backup.key"
    assert cli.main(["hub", "keys", "backup-init", "--out", str(key_file)]) == 0
    public = capsys.readouterr().out.strip()
    assert key_file.stat().st_mode & 0o777 == 0o600
    private = PrivateKey(base64.urlsafe_b64decode(key_file.read_text()))
    assert base64.urlsafe_b64decode(public) == bytes(private.public_key), "the public half of the file's key"
    assert cli.main(["hub", "keys", "backup-init", "--out", str(key_file)]) == 2, "never overwritten"
    assert key_file.read_text() == base64.urlsafe_b64encode(bytes(private)).decode() + "\n"
    return public, key_file


def _decrypt(sealed: bytes, key_file: Path, audit_key_file: Path) -> tuple[bytes, int]:
    """The clear backup and its number of chunks, opened as docs/night.md describes the format, with PyNaCl
    and `cryptography` alone: a magic line, the signer's public key, the file key in a sealed box, then
    libsodium's secretstream in 64 KiB chunks, then the Ed25519 signature of all before it. The signer is
    the hub's audit key's backup key, derived here as HMAC-SHA256(secret, "shegong/audit/backup")."""
    magic = b"shegong-backup2\n"
    assert sealed.startswith(magic)
    at = len(magic)
    seed = hmac.new(AuditKey.load(audit_key_file).secret, b"shegong/audit/backup", hashlib.sha256).digest()
    signer = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    assert sealed[at : at + 32] == signer.public_bytes_raw(), "signed by this hub's backup key"
    body, signature = sealed[:-64], sealed[-64:]
    signer.verify(signature, b"shegong/backup2\n" + hashlib.sha256(body).digest())  # raises if it does not hold
    at += 32
    file_key = SealedBox(PrivateKey(base64.urlsafe_b64decode(Path(key_file).read_text()))).decrypt(sealed[at : at + 80])
    at += 80
    state = ss.crypto_secretstream_xchacha20poly1305_state()
    ss.crypto_secretstream_xchacha20poly1305_init_pull(state, sealed[at : at + 24], file_key)
    at += 24
    clear, chunks, tag = b"", 0, None
    while tag != ss.crypto_secretstream_xchacha20poly1305_TAG_FINAL:
        block = body[at : at + 65536 + 17]
        part, tag = ss.crypto_secretstream_xchacha20poly1305_pull(state, block)
        clear, at, chunks = clear + part, at + len(block), chunks + 1
        assert len(part) == 65536 or tag == ss.crypto_secretstream_xchacha20poly1305_TAG_FINAL
    assert at == len(body), "nothing between the final chunk and the signature"
    return clear, chunks


def test_restore_drill_an_older_hub_backup_then_reconcile_loses_nothing(
    hub_factory, edge_factory, tmp_path: Path, capsys
):
    """The backup is encrypted to the backup key: no resident's name or ID number in its bytes, and PyNaCl
    with the private half opens it. A restore with no key, the wrong one, or a changed or cut file is
    refused and leaves the database as it was; with the key, it takes the hub back."""
    public, key_file = _keys(tmp_path, capsys)
    hub = hub_factory(backup_dir=str(tmp_path / "hub-backups"), backup_public_key=public)
    edge = edge_factory()
    edge.start_sync()
    before = [str(edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(n))).case_id) for n in range(3)]
    wait_for(lambda: edge.outbox.stats().depth == 0, what="first cases acked")
    taken = hub_backups(hub.settings).take(utcnow())
    assert taken["kept"] == 1 and taken["bytes"] > 0 and taken["encrypted"] == 1
    [sealed] = hub_backups(hub.settings).kept()
    assert sealed.name.endswith(".sealed") and sealed.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in sealed.parent.iterdir()) == [".lock", sealed.name], "no clear copy left"
    raw = sealed.read_bytes()
    residents = [applicant(n) for n in range(3)]
    for person in residents:
        assert person.id_number.encode() not in raw and person.name.encode() not in raw
    clear, chunks = _decrypt(raw, key_file, key_path(hub.settings))
    if hub.engine.dialect.name == "sqlite":
        assert chunks > 1, "a database of several chunks"
        opened = tmp_path / "opened.db"
        opened.write_bytes(clear)
        rows = _rows(opened, "SELECT id_number, applicant_name FROM cases ORDER BY id_number")
        assert rows == [(p.id_number, p.name) for p in residents]
    else:
        assert clear.startswith(b"PGDMP"), "pg_dump's custom format"
    after = [str(edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(n))).case_id) for n in range(3, 6)]
    wait_for(lambda: edge.outbox.stats().depth == 0, what="later cases acked")

    hub.close()  # the drill: stop the hub, restore the older backup, start it again
    backups = hub_backups(hub.settings)
    wrong = tmp_path / "wrong.key"
    wrong.write_text(base64.urlsafe_b64encode(bytes(PrivateKey.generate())).decode())
    wrong.chmod(0o600)
    changed = tmp_path / "changed.sealed"
    changed.write_bytes(raw[: len(raw) // 2] + bytes([raw[len(raw) // 2] ^ 1]) + raw[len(raw) // 2 + 1 :])
    cut_in_a_chunk, cut_after_a_chunk = tmp_path / "cut1.sealed", tmp_path / "cut2.sealed"
    cut_in_a_chunk.write_bytes(raw[:-1])
    # the last 64 bytes read as a signature: the file ends, to the reader, where the first chunk does
    cut_after_a_chunk.write_bytes(raw[: 16 + 32 + 80 + 24 + 65536 + 17 + 64])
    longer = tmp_path / "longer.sealed"
    longer.write_bytes(raw + b"\0")
    forged = tmp_path / "forged.sealed"  # one byte of the signature changed
    forged.write_bytes(raw[:-1] + bytes([raw[-1] ^ 1]))
    planted = tmp_path / "planted.sealed"  # sealed to this backup key (it is public), signed by another
    other_hub = HubBackups(hub.settings.database_url, tmp_path / "elsewhere", 1, public, SigningKey.generate())
    other_hub.take(utcnow())
    [made_elsewhere] = other_hub.kept()
    made_elsewhere.rename(planted)
    old_format = tmp_path / "before-signatures.sealed"  # the same backup as made before backups were signed
    old_format.write_bytes(b"shegong-backup1\n" + raw[16 + 32 : -64])
    refused = [
        (sealed, None, "is encrypted: give the backup private key"),
        (sealed, wrong, "cannot be opened with this key"),
        (changed, key_file, "fails its authentication"),
        (cut_in_a_chunk, key_file, "fails its authentication"),
        # a byte more: read with a last chunk shorter than 64 KiB, it fails it; after a whole one, it is extra
        (longer, key_file, "has bytes after its last part" if len(clear) % 65536 == 0 else "fails its authentication"),
        (forged, key_file, "its signature does not hold"),
        (planted, key_file, "signed by another key than this hub's"),
        (old_format, key_file, "made before backups were signed: nothing shows this hub made it"),
    ]
    if chunks > 1:  # cut where a chunk ends: each chunk whole, the final one missing
        refused.append((cut_after_a_chunk, key_file, "is cut short"))
    for source, key, says in refused:
        with pytest.raises(BackupFailed, match=says):
            backups.restore(source, key)
        assert hub_count(hub.engine, "SELECT count(*) FROM cases") == 6, f"{source.name}: the database untouched"
    hub.engine.dispose()
    assert [p.name for p in sealed.parent.iterdir() if p.name.endswith(".partial")] == [], "no clear copy left"
    backups.restore(old_format, key_file, unsigned=True)  # asked for: the unsigned format still opens
    assert hub_count(hub.engine, "SELECT count(*) FROM cases") == 3
    hub.engine.dispose()
    backups.restore(sealed, key_file)
    hub = hub_factory(backup_dir=str(tmp_path / "hub-backups"), backup_public_key=public)
    assert hub_count(hub.engine, "SELECT count(*) FROM cases") == 3, "the restore took the hub back"

    night = edge_night(edge)
    assert night.ok, night.as_json()
    assert {s.name: s.counts for s in night.steps}["reconcile"]["resent_cases"] == 3
    wait_for(lambda: hub_count(hub.engine, "SELECT count(*) FROM cases") == 6, what="cases back at the hub")
    assert_exactly_once(hub.engine, before + after)


def test_the_terminal_backup_is_checked_rotated_and_restored_with_one_command(tmp_path: Path, monkeypatch, capsys):
    data = tmp_path / "edge"
    monkeypatch.setenv("SHEGONG_DATA_DIR", str(data))
    settings = EdgeSettings(terminal_id="T1", committee_code="JW001", data_dir=data, night_backups=2)
    with EdgeRuntime(settings) as rt:
        rt.cases.set_lookup_key(bytes(range(32)))
        kept = rt.cases.submit(NewCase(item_code="JB-001", applicant=applicant(1)))
        backups = Backups(settings)
        for hour in range(3):
            backups.take(utcnow().replace(hour=hour))
        assert len(backups.kept()) == 2, "the oldest generation is removed"
        assert all(p.stat().st_mode & 0o777 == 0o600 for p in backups.kept())
        later = rt.cases.submit(NewCase(item_code="JB-001", applicant=applicant(2)))
        server = ControlServer(rt, socket_path(settings.runtime_dir)).start()  # the service, running
        try:
            capsys.readouterr()
            assert cli.main(["edge", "restore"]) == 2, "not under the running service"
            assert "the terminal's service is running: stop it first" in capsys.readouterr().err
        finally:
            server.close()
        assert rt.cases.get(str(later.case_id)) is not None, "nothing written over"

    with sqlite3.connect(settings.db_path) as db:
        chain = db.execute("SELECT id, hash FROM audit_entries ORDER BY id").fetchall()  # what the hub may hold
    # A console backup a full disk cut short left an empty file, newest of all: it passes SQLite's integrity
    # check, and a restore moved it over the database and failed after (a storage review: every case gone).
    empty = settings.backup_dir / "edge-29991231T235959.db"
    empty.touch(mode=0o600)
    capsys.readouterr()
    assert cli.main(["edge", "restore"]) == 2
    assert "holds no terminal database" in capsys.readouterr().err
    assert settings.db_path.stat().st_size > 0
    empty.unlink()

    capsys.readouterr()
    assert cli.main(["edge", "restore"]) == 0
    said = capsys.readouterr().out
    assert "audit entries made since the backup carried over" in said
    assert "1 case(s) accepted since the backup carried over" in said
    with EdgeRuntime(settings) as rt:
        assert rt.cases.get(str(kept.case_id)) is not None
        # `later` came after the backup and may never have reached the hub: the replaced database was its
        # only copy, and it is carried over, queued (a storage review lost fifty such cases to a restore).
        assert rt.cases.get(str(later.case_id)) is not None
        assert str(later.case_id) in {i.item_id for i in rt.outbox.pending("cases", 0, 10)}
        # The chain is append-only and went up to the hub: the entries made since the backup (later's
        # submission, the refused restore) are carried over, so new ones follow them instead of taking their
        # ids with other contents, which the hub would refuse every night from then on.
        with rt.engine.connect() as conn:
            assert audit.verify(conn) == (len(chain), None)
            assert [tuple(r) for r in conn.execute(text("SELECT id, hash FROM audit_entries ORDER BY id"))] == chain
        # `later` (…-0002) may be at the hub already: the next resident gets …-0003, not its number again
        assert kept.receipt_no.endswith("-0001") and later.receipt_no.endswith("-0002")
        after = rt.cases.submit(NewCase(item_code="JB-001", applicant=applicant(3)))
        assert after.receipt_no == later.receipt_no[:-4] + "0003"

    # The SD card's database broken past opening, a stale WAL beside it: the restore still takes it back.
    settings.db_path.write_bytes(b"\0not a database" * 256)
    Path(f"{settings.db_path}-wal").write_bytes(b"\0stale" * 64)
    capsys.readouterr()
    assert cli.main(["edge", "restore"]) == 0
    assert "today's receipt numbers continue 5000 above the backup's" in capsys.readouterr().out
    assert not Path(f"{settings.db_path}-wal").exists()
    assert oct(settings.db_path.stat().st_mode & 0o777) == "0o600"
    with EdgeRuntime(settings) as rt:
        assert rt.cases.get(str(kept.case_id)) is not None, "restored over the broken file"
        # what the broken file had numbered is unknown: the backup's 0001, then 5000 further on
        fresh = rt.cases.submit(NewCase(item_code="JB-001", applicant=applicant(4)))
        assert fresh.receipt_no == kept.receipt_no[:-4] + "5002"

    damaged = Backups(settings).kept()[-1]
    raw = bytearray(damaged.read_bytes())
    raw[4096 : 4096 + 64] = b"\xff" * 64  # the second page, where a table's rows are
    damaged.write_bytes(bytes(raw))
    with pytest.raises(BackupBroken):
        Backups(settings).restore(damaged)


def test_edge_nightly_prints_one_entry_per_step_and_fails_without_a_hub(tmp_path: Path, monkeypatch, capsys, broker):
    """No hub answers: the steps that need it fail, the others run, and the exit code says so."""
    monkeypatch.setenv("SHEGONG_DATA_DIR", str(tmp_path / "edge"))
    monkeypatch.setenv("SHEGONG_BROKER_PORT", str(broker.port))
    monkeypatch.setenv("SHEGONG_NIGHT_REPLY_TIMEOUT_S", "2")
    assert cli.main(["edge", "nightly"]) == 1
    summary = json.loads(capsys.readouterr().out)
    steps = {s["name"]: s for s in summary["steps"]}
    assert list(steps) == ["backup", "catalogue", "reconcile", "clock", "audit", "retention", "report"]
    assert steps["backup"]["ok"] and steps["retention"]["ok"] and steps["catalogue"]["ok"]
    assert not steps["reconcile"]["ok"] and "did not answer" in steps["reconcile"]["error"]
    assert summary["ok"] is False and all(isinstance(s["seconds"], float | int) for s in summary["steps"])


def _night_alone(tmp_path: Path, monkeypatch, capsys, port: int) -> dict[str, dict[str, Any]]:
    monkeypatch.setenv("SHEGONG_DATA_DIR", str(tmp_path / "edge"))
    monkeypatch.setenv("SHEGONG_BROKER_PORT", str(port))
    monkeypatch.setenv("SHEGONG_NIGHT_REPLY_TIMEOUT_S", "4")
    assert cli.main(["edge", "nightly"]) == 1
    return {s["name"]: s for s in json.loads(capsys.readouterr().out)["steps"]}


def test_a_night_without_a_link_waits_once_not_once_per_step(tmp_path: Path, monkeypatch, capsys):
    """The broker does not answer at all (the VPN is down): the first step that needs it waits the timeout,
    the later ones fail at once with the same reason (each waited a timeout before: 4 minutes a night)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here
    steps = _night_alone(tmp_path, monkeypatch, capsys, port)
    assert steps["backup"]["ok"] and steps["retention"]["ok"]
    assert steps["catalogue"]["seconds"] >= 4 and "no link to the broker" in steps["catalogue"]["error"]
    for name in ("reconcile", "audit", "report"):
        assert not steps[name]["ok"] and "no link to the broker" in steps[name]["error"], name
        assert steps[name]["seconds"] < 2, (name, steps[name]["seconds"])


def test_a_night_with_the_hubs_last_will_standing_waits_once(tmp_path: Path, monkeypatch, capsys, broker):
    """The broker answers but the hub's retained state says it is offline: the first question waits for it to
    come back, the next fails at once; the report (no answer needed) still goes out."""
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    gone = HubState(terminal="hub", body=HubStateBody(online=False, instance="hub-1")).encode()
    c.publish(topics.hub_state(), gone, qos=1, retain=True).wait_for_publish(5)
    c.loop_stop()
    c.disconnect()
    steps = _night_alone(tmp_path, monkeypatch, capsys, broker.port)
    assert steps["catalogue"]["ok"] and steps["report"]["ok"]
    assert steps["reconcile"]["seconds"] >= 4 and "the hub is offline" in steps["reconcile"]["error"]
    assert not steps["audit"]["ok"] and "the hub is offline" in steps["audit"]["error"]
    assert steps["audit"]["seconds"] < 2


CLERK = Principal(
    user_id=1, username="clerk", display_name="李经办", role=Role.CLERK, departments=frozenset({"minzheng"})
)


def test_events_the_restored_hub_lost_come_back_from_the_terminal(hub_factory, edge_factory, tmp_path: Path):
    """The hub restored from an older backup lost events it had made and sent: the terminal holds a case at
    version 3, the hub at 1. The night's reconciliation finds the terminal ahead; the terminal sends the
    events back; the hub stores them and moves the case on; the next night agrees."""
    hub = hub_factory(backup_dir=str(tmp_path / "hub-backups"))
    edge = edge_factory()
    edge.start_sync()
    case_id = str(edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(1))).case_id)
    wait_for(lambda: edge.outbox.stats().depth == 0, what="case acked")
    hub_backups(hub.settings).take(utcnow())
    workflow = Services.from_runtime(hub).workflow
    workflow.act(CLERK, case_id, Action.ACCEPT, 1)
    workflow.act(CLERK, case_id, Action.REVIEW, 2)
    wait_for(lambda: edge.cases.get(case_id)["version"] == 3, what="both events at the terminal")

    hub.close()
    backups = hub_backups(hub.settings)
    backups.restore(backups.kept()[-1], unsigned=True)  # in clear: this hub has no backup key
    hub = hub_factory(backup_dir=str(tmp_path / "hub-backups"))
    assert hub_count(hub.engine, "SELECT max(version) FROM case_events") == 1, "the restore took the hub back"

    night = edge_night(edge)
    assert night.ok, night.as_json()
    rec = {s.name: s.counts for s in night.steps}["reconcile"]
    assert rec["days_differ"] == 1 and rec["events_resent"] == 2
    with hub.engine.connect() as conn:
        assert conn.execute(text("SELECT version, status FROM cases")).one() == (3, "under_review")
        versions = conn.execute(text("SELECT version FROM case_events ORDER BY version")).scalars().all()
        assert versions == [1, 2, 3]
        restored_unpublished = "SELECT count(*) FROM case_events WHERE version > 1 AND published_at IS NULL"
        assert conn.execute(text(restored_unpublished)).scalar() == 0, "the terminal has them: not sent again"
        restored = conn.execute(text("SELECT data FROM audit WHERE action = 'reconcile.events_restored'")).scalars()
        assert [json.loads(d) for d in restored] == [{"events": 2, "cases": 1}]
    assert edge.cases.get(case_id)["version"] == 3, "the terminal kept its own"

    again = edge_night(edge)
    assert again.ok, again.as_json()
    rec = {s.name: s.counts for s in again.steps}["reconcile"]
    assert rec["days_differ"] == 0 and rec["events_resent"] == 0


NOW = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=31)


def _rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute(sql).fetchall()


def test_what_retention_purges_leaves_the_terminals_backups_too(tmp_path: Path):
    """A case closed, acked and confirmed 31 days ago, rated with a reason: the backups taken before the
    purge held it (its sealed payload, timeline and rating); the night's retention step takes it from them
    too, bytes overwritten, and keeps the recent case."""
    settings = EdgeSettings(terminal_id="T1", committee_code="JW001", data_dir=tmp_path / "edge", retention_days=30)
    with EdgeRuntime(settings) as rt:
        rt.cases.set_lookup_key(bytes(range(32)))
        old = rt.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(1)), now=OLD - timedelta(days=1))
        old_id = str(old.case_id)
        rt.cases.apply_events(
            [CaseEvent(event_id=1, case_id=old.case_id, version=1, status=CaseStatus.COMPLETED, at=OLD)]
        )
        rating = rt.ratings.rate(RatingLevel.SATISFIED, reason="王阿姨耐心", case_id=old_id, now=OLD)
        backups = Backups(settings)
        backups.take(OLD)  # the queue still holds the case and the rating's reason
        rt.outbox.acked([old_id, str(rating.rating_id)], at=OLD)
        with rt.engine.begin() as conn:  # what the nights since confirmed: the hub holds both
            conn.execute(text("UPDATE cases SET reconciled_at = :t"), {"t": OLD.replace(tzinfo=None)})
            conn.execute(text("UPDATE ratings SET reconciled_at = :t"), {"t": OLD.replace(tzinfo=None)})
            set_counter(conn, RECONCILED, int(NOW.timestamp()))  # and tonight's reconciliation succeeded
        recent = rt.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(2)), now=NOW - timedelta(days=1))
        backups.take(NOW - timedelta(days=1))
        payload = str(rt.cases.get(old_id)["payload"])  # type: ignore[index]  # its sealed copy, to look for

        counts = Night(rt, clock=lambda: NOW).retention()

    assert counts["cases"] == 1 and counts["backup_cases"] == 2 and counts["backup_ratings"] == 2
    first, second = backups.kept()
    recent_id = str(recent.case_id)
    assert _rows(first, "SELECT case_id FROM cases") + _rows(first, "SELECT item_id FROM outbox") == []
    assert _rows(second, "SELECT case_id FROM cases") + _rows(second, "SELECT item_id FROM outbox") == [
        (recent_id,),
        (recent_id,),
    ]
    for copy in (first, second):
        assert _rows(copy, "PRAGMA integrity_check") == [("ok",)]
        assert _rows(copy, "SELECT count(*) FROM case_events") + _rows(copy, "SELECT count(*) FROM ratings") == [
            (0,),
            (0,),
        ]
        raw = copy.read_bytes()  # overwritten, not only unlinked from the tables
        assert payload[-40:].encode() not in raw and "王阿姨耐心".encode() not in raw, copy.name


def test_a_backup_of_another_history_is_left_alone(tmp_path: Path):
    """The database was started afresh (lost, or a new install): it lacks every case of the older backups,
    which are then the only copies; nothing is removed from them."""
    settings = EdgeSettings(terminal_id="T1", committee_code="JW001", data_dir=tmp_path / "edge")
    with EdgeRuntime(settings) as rt:
        case = rt.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(1)))
    Backups(settings).take(utcnow())
    [taken] = Backups(settings).kept()
    for extra in ("", "-wal", "-shm"):
        Path(f"{settings.db_path}{extra}").unlink(missing_ok=True)
    with EdgeRuntime(settings) as rt:
        rt.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(2)))
        assert Backups(settings).forget_purged()["unrelated"] == 1
    assert _rows(taken, "SELECT case_id FROM cases") == [(str(case.case_id),)]


def test_a_copy_a_night_cut_short_does_not_stay_behind(tmp_path: Path):
    """The night was killed while it copied the database (power cut, timeout): its ``.partial`` copy holds
    everything the database held, and no rotation or purge ever looked at it. The next backup removes it."""
    settings = EdgeSettings(terminal_id="T1", committee_code="JW001", data_dir=tmp_path / "edge")
    with EdgeRuntime(settings) as rt:
        rt.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(1)))
    settings.backup_dir.mkdir(mode=0o700)
    left = settings.backup_dir / "edge-20260101T020000.partial"
    with sqlite3.connect(settings.db_path) as live, sqlite3.connect(left) as copy:
        live.backup(copy)  # copied, but neither checked nor renamed: the night stopped here
    Backups(settings).take(utcnow())
    assert [p.suffix for p in settings.backup_dir.iterdir()] == [".db"]


def test_a_night_with_no_room_for_its_backup_says_so_and_leaves_nothing_behind(tmp_path: Path, monkeypatch):
    """A storage review: with 4 MB free the copy failed half-way ("message withheld"), stayed, and used up the
    room the kiosk keeps for residents' cases: refused all the next day, and the next night did it again."""
    from edge.night import backup as night_backup

    settings = EdgeSettings(terminal_id="T1", committee_code="JW001", data_dir=tmp_path / "edge", min_free_disk_mb=1)
    with EdgeRuntime(settings):
        pass
    backups = Backups(settings)
    backups.take(utcnow().replace(hour=1))
    monkeypatch.setattr(night_backup, "disk_free_mb", lambda folder: 1.0)  # under the floor once copied
    with pytest.raises(BackupBroken, match="no room for the night's backup"):
        backups.take(utcnow().replace(hour=2))
    assert [p.name for p in settings.backup_dir.iterdir()] == [backups.kept()[0].name], "nothing else left"

    def failing(source, target, wal=False):  # the disk filled while copying
        Path(target).write_bytes(b"half a copy")
        Path(f"{target}-journal").write_bytes(b"its journal")
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(night_backup, "disk_free_mb", lambda folder: 10_000.0)
    monkeypatch.setattr(night_backup, "sqlite_copy", failing)
    with pytest.raises(BackupBroken, match="could not be written: database or disk is full"):
        backups.take(utcnow().replace(hour=3))
    assert [p.name for p in settings.backup_dir.iterdir()] == [backups.kept()[0].name], "no partial copy stays"


def test_a_technicians_backup_made_after_the_nights_is_the_newest(tmp_path: Path):
    """The console named its backups edge-YYYYMMDD-HHMMSS.db, the night edge-YYYYMMDDTHHMMSS.db: by name, a
    console backup at 03:21 sorted before the night's of 03:15 the same day, so `restore` took the night's
    and the next rotation deleted the technician's first. One name now; old console names read by time."""
    settings = EdgeSettings(terminal_id="T1", committee_code="JW001", data_dir=tmp_path / "edge")
    with EdgeRuntime(settings) as rt:
        rt.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(1)))
    backups = Backups(settings)
    backups.take(datetime(2026, 1, 7, 3, 15, 46, tzinfo=UTC))  # a night before the console's (made now)
    store = ConsoleStore(settings)
    try:
        made = store.backup()
    finally:
        store.close()
    old_style = settings.backup_dir / "edge-20260107-032143.db"  # an older console's, after that night's
    old_style.write_bytes(made.read_bytes())
    old_style.chmod(0o600)
    kept = [p.name for p in backups.kept()]
    assert kept[-1] == made.name and kept.index(old_style.name) > kept.index("edge-20260107T031546.db"), kept


def _small_hub_database(path: Path) -> str:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE cases (id_number TEXT, applicant_name TEXT)")
        db.execute("INSERT INTO cases VALUES (?, ?)", (applicant(1).id_number, applicant(1).name))
    return f"sqlite:///{path}"


def test_what_a_hub_backup_cut_short_left_in_clear_is_removed_by_the_next(tmp_path: Path):
    """A night (or a restore) killed mid-way left its clear copies in the backup folder — the database
    copied but not yet encrypted, a half-encrypted one, a restore's decrypted one — under another night's
    name: nothing rotates them. The next backup removes them all and leaves its encrypted one alone."""
    folder = tmp_path / "hub-backups"
    folder.mkdir(mode=0o700)
    url = _small_hub_database(tmp_path / "hub.db")
    left = [
        "hub-20260101T013000.db.partial",
        "hub-20260101T013000.db.partial-wal",
        "hub-20260101T013000.db.sealed.partial",
        "hub-restore-x1y2.partial",
    ]
    for name in left:
        (folder / name).write_bytes((tmp_path / "hub.db").read_bytes())
    public = base64.urlsafe_b64encode(bytes(PrivateKey.generate().public_key)).decode()
    signer = SigningKey.generate()
    taken = HubBackups(url, folder, keep=2, public_key=public, signer=signer).take(
        datetime(2026, 1, 2, 1, 30, tzinfo=UTC)
    )
    assert taken["encrypted"] == 1
    assert sorted(p.name for p in folder.iterdir()) == [".lock", "hub-20260102T013000.db.sealed"]


def test_without_a_backup_key_the_hub_backs_up_in_clear_and_says_so_each_night(tmp_path: Path, caplog):
    """A hub upgraded from before backup keys has none: its nights still back up (a night without a backup
    loses more than a clear one exposes), each with a warning in the log and ``encrypted 0`` in its counts."""
    url = _small_hub_database(tmp_path / "hub.db")
    backups = HubBackups(url, tmp_path / "hub-backups", keep=2)
    with caplog.at_level(logging.WARNING, logger="hub.night.backup"):
        for night in (1, 2):
            assert backups.take(datetime(2026, 1, night, 1, 30, tzinfo=UTC))["encrypted"] == 0
    assert [r.getMessage().count("is NOT encrypted") for r in caplog.records] == [1, 1]
    assert _rows(backups.kept()[-1], "SELECT applicant_name FROM cases") == [(applicant(1).name,)]
    with pytest.raises(BackupFailed, match="is in clear, made without backups were signed"):
        backups.restore(backups.kept()[0])  # nothing shows who made it
    backups.restore(backups.kept()[0], unsigned=True)  # no key needed for a clear backup, as before


def test_a_restore_gives_back_no_access_taken_away_after_the_backup(
    hub_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """After the backup a clerk is disabled, another changes her password, a partner's key is revoked, a user
    and a partner are added, someone signed in at the backup signs out. Restored over the readable database,
    the backup's users and partners keep what was taken away since; the one whose password changed is
    disabled until an administrator sets one (neither password is to be trusted); those added since are
    named to make again; every sign-in ends.
    Restored over one that cannot be read (SQLite: a file that is no database), nothing can be carried: the
    command says what to check."""
    from hub.audit.chain import bind_key_file
    from hub.db.engine import open_engine
    from hub.open311.partners import Partners
    from hub.people.service import BadCredentials, Users
    from hub.people.sessions import SessionTable
    from hub.settings import load as load_settings

    monkeypatch.setenv("SHEGONG_HUB_DATABASE_URL", hub_db_url)
    monkeypatch.setenv("SHEGONG_HUB_BACKUP_DIR", str(tmp_path / "hub-backups"))
    public, key_file = _keys(tmp_path, capsys)
    monkeypatch.setenv("SHEGONG_HUB_BACKUP_PUBLIC_KEY", public)

    def opened() -> Any:
        engine = open_engine(hub_db_url)
        bind_key_file(engine, key_path(load_settings()))
        return engine

    engine = opened()
    users, partners = Users(engine, lambda: {"MZ": "民政"}), Partners(engine)
    users.add("wang.li", "first-password-1", "clerk", ["MZ"])
    users.add("zhao.min", "first-password-2", "clerk", ["MZ"])
    _, hotline_key = partners.add("hotline")
    SessionTable(engine).put("a-session-key", b"{}", 3600)  # signed in at the backup, signed out after it
    capsys.readouterr()
    assert cli.main(["hub", "backup"]) == 0
    [backup] = hub_backups(load_settings()).kept()
    assert json.loads(capsys.readouterr().out)["folder"] == str(backup.parent.resolve()), "it says where"

    users.disable("wang.li")
    users.set_password("zhao.min", "changed-password-3")
    partners.revoke("hotline")
    users.add("sun.yu", "later-password-4", "clerk", ["MZ"])
    partners.add("city-app")
    SessionTable(engine).delete("a-session-key")
    engine.dispose()
    capsys.readouterr()

    assert cli.main(["hub", "restore", str(backup), "--key", str(key_file)]) == 0
    said = capsys.readouterr().out
    assert "1 sign-in(s) ended" in said
    assert "disabled again: wang.li" in said
    assert "password changed after the backup, so disabled: `shegong hub user passwd NAME`" in said
    assert said.rstrip().count("zhao.min") == 1
    assert "partner key revoked again: hotline" in said
    assert "user made after the backup, lost: make again: sun.yu" in said
    assert "partner added after the backup, lost: add again: city-app" in said
    engine = opened()
    users, partners = Users(engine, lambda: {"MZ": "民政"}), Partners(engine)
    try:
        tries = [("wang.li", "first-password-1"), ("zhao.min", "first-password-2"), ("zhao.min", "changed-password-3")]
        for n, (name, password) in enumerate(tries):  # zhao.min: neither password trusted, disabled until set
            with pytest.raises(BadCredentials):
                users.authenticate(name, password, client=f"10.0.0.{n}")  # each its own: no login throttle
        users.set_password("zhao.min", "set-again-password-5")
        users.enable("zhao.min")
        assert users.authenticate("zhao.min", "set-again-password-5").username == "zhao.min"
        assert [u.username for u in users.all()] == ["wang.li", "zhao.min"]
        assert partners.authenticate(hotline_key) is None, "revoked after the backup: revoked again"
        assert [p.name for p in partners.list()] == ["hotline"]
        assert SessionTable(engine).get("a-session-key") is None
        with engine.connect() as conn:
            [entry] = conn.execute(text("SELECT data FROM audit WHERE action = 'hub.restored'")).scalars()
        assert json.loads(entry)["access"] == {
            "users_disabled": ["wang.li"],
            "passwords": ["zhao.min"],
            "partners_revoked": ["hotline"],
            "users_lost": ["sun.yu"],
            "partners_lost": ["city-app"],
        }
    finally:
        engine.dispose()

    if hub_db_url.startswith("sqlite"):
        Path(hub_db_url.removeprefix("sqlite:///")).write_bytes(b"\0not a database" * 256)
        assert cli.main(["hub", "restore", str(backup), "--key", str(key_file)]) == 0
        assert "users could not be read" in capsys.readouterr().out


def test_a_night_with_the_clock_days_ahead_does_not_make_its_copy_the_newest(tmp_path: Path):
    """Night review: a copy taken with the clock three days ahead was named the newest for three days; the
    nights after rotated truly recent copies out before it, and a restore took it, losing every case since.
    The copy being taken is the newest whatever the clock named the others: they are renamed to just before
    it. 1 case in the stale copy, 3 in each night's after it."""
    settings = EdgeSettings(terminal_id="T1", committee_code="JW001", data_dir=tmp_path / "edge", night_backups=3)
    backups, now = Backups(settings), utcnow()
    with EdgeRuntime(settings) as rt:
        rt.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(1)))
    backups.take(now + timedelta(days=3))  # one night, the clock ahead
    [ahead] = backups.kept()
    with EdgeRuntime(settings) as rt:
        for n in (2, 3):
            rt.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(n)))
    backups.take(now + timedelta(hours=1))  # the clock set right again
    assert [_rows(p, "SELECT count(*) FROM cases") for p in backups.kept()] == [[(1,)], [(3,)]], "renamed before it"
    for night in (2, 3):
        backups.take(now + timedelta(hours=night))
    kept = backups.kept()
    assert not ahead.exists(), "renamed to before the next night's, then rotated out as the oldest"
    assert [_rows(p, "SELECT count(*) FROM cases") for p in kept] == [[(3,)]] * 3
    assert backups.restore().backup == kept[-1]


def test_a_copy_of_a_store_started_afresh_is_kept_and_the_newest(tmp_path: Path):
    """Review of the fix above, as first made: ordered by the audit chain, tonight's copy of a store started
    afresh (a shorter chain) sorted oldest among the old store's copies and the rotation deleted it at once."""
    settings = EdgeSettings(terminal_id="T1", committee_code="JW001", data_dir=tmp_path / "edge", night_backups=2)
    backups, now = Backups(settings), utcnow()
    with EdgeRuntime(settings) as rt:
        for n in range(3):
            rt.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(n)))
    backups.take(now - timedelta(days=1))
    settings.db_path.unlink()  # a new card: the store starts afresh
    with EdgeRuntime(settings) as rt:
        rt.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(9)))
    backups.take(now)
    newest = backups.kept()[-1]
    assert newest.name == backup_name(now) and _rows(newest, "SELECT count(*) FROM cases") == [(1,)]
