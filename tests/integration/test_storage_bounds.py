"""Storage is bounded with an explicit policy: when the outbox or the disk is full, the terminal refuses
new submissions with a clear message and an alarm — never a silent drop — and what it has queued stays
intact and is delivered once the hub is reachable.

The disk is made full for real with SQLite's ``max_page_count``, both with the reserve that lets the
terminal refuse cleanly and with no reserve, where SQLite itself reports the database full mid-write.
"""

from __future__ import annotations

import contextlib
import sqlite3

import pytest

from edge.errors import StorageFull
from edge.store.cases import NewCase
from tests.support import applicant, assert_exactly_once, wait_for


def _fill(edge, limit: int = 10_000) -> list[str]:
    accepted = []
    for i in range(limit):
        try:
            accepted.append(str(edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(i))).case_id))
        except StorageFull as exc:
            assert "存储空间已满" in str(exc)
            return accepted
    raise AssertionError(f"{limit} submissions and no refusal")


def test_a_full_outbox_refuses_new_cases_with_an_alarm_and_keeps_the_queue(hub_factory, edge_factory):
    edge = edge_factory(outbox_limit=5)
    accepted = _fill(edge)
    assert len(accepted) == 5
    assert "storage_full" in edge.alarms.active()
    assert edge.outbox.stats().depth == 5

    hub = hub_factory()
    edge.start_sync()
    wait_for(lambda: edge.outbox.stats().depth == 0, what="queue drained")
    assert_exactly_once(hub.engine, accepted)
    # the alarm clears once there is room again, before any resident's case: at the next heartbeat (it
    # stayed red on the console and the fleet page until a case happened to succeed)
    wait_for(lambda: "storage_full" not in edge.alarms.active(), what="the alarm cleared with room again")
    accepted.append(str(edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(99))).case_id))


@pytest.mark.parametrize("reserve_pages", [16, 0], ids=["refused-before-full", "sqlite-reports-full"])
def test_a_full_disk_refuses_new_cases_and_the_database_stays_intact(hub_factory, edge_factory, reserve_pages):
    edge = edge_factory(db_max_pages=80, reserve_pages=reserve_pages)
    accepted = _fill(edge)
    assert accepted, "some cases fit before the disk was full"
    assert "storage_full" in edge.alarms.active()
    with sqlite3.connect(edge.settings.db_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT count(*) FROM cases").fetchone()[0] == len(accepted)

    hub = hub_factory()
    edge.start_sync()
    wait_for(lambda: edge.outbox.stats().depth == 0, what="queue drained from a full disk")
    assert_exactly_once(hub.engine, accepted)


def test_a_failing_storage_card_refuses_with_an_alarm_and_keeps_nothing_half_written(edge_factory, monkeypatch):
    """A storage review: an I/O error of a failing SD card (not a full disk) showed residents the generic
    fault page and raised no alarm. It is refused as a storage failure — the resident told to call staff —
    with the storage_failed alarm for the operator; nothing of the case is kept; the next good write clears it."""
    from sqlalchemy.exc import OperationalError

    from edge.errors import StorageFailed
    from edge.store import cases as store_cases

    edge = edge_factory()
    record = store_cases.audit.record

    def failing_card(*args, **kwargs):
        raise OperationalError("INSERT INTO audit_entries …", {}, sqlite3.OperationalError("disk I/O error"))

    monkeypatch.setattr(store_cases.audit, "record", failing_card)
    with pytest.raises(StorageFailed, match="存储出现故障"):
        edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(1)))
    assert "storage_failed" in edge.alarms.active()
    assert edge.outbox.stats().depth == 0 and not edge.cases.cases_by_id([])
    with sqlite3.connect(edge.settings.db_path) as db:
        assert db.execute("SELECT count(*) FROM cases").fetchone()[0] == 0
    monkeypatch.setattr(store_cases.audit, "record", record)
    edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(2)))
    assert "storage_failed" not in edge.alarms.active()


def test_a_damaged_page_found_at_start_stops_new_cases_until_the_file_is_sound(edge_factory):
    """A storage review: a page of the database broken by a failing card was met only by the writes that
    touched it, and the kiosk went on accepting cases into the file. The start's quick_check finds it: no
    new case, the storage_failed alarm; a start on a sound file (after a restore) takes cases again."""
    from edge.errors import StorageFailed

    edge = edge_factory("T1")
    for i in range(3):
        edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(i)))
    db = edge.settings.db_path
    edge.close()
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'case_events'").fetchone()
        sound = conn.execute("PRAGMA quick_check").fetchone()[0]
    assert sound == "ok"
    good = db.read_bytes()
    broken = bytearray(good)
    start = (root - 1) * page_size  # pages count from 1
    broken[start : start + page_size] = b"\xa5" * page_size  # what a failing card hands back for a page
    db.write_bytes(bytes(broken))

    edge = edge_factory("T1")
    assert edge.cases.check_storage() != ""
    assert "storage_failed" in edge.alarms.active()
    with pytest.raises(StorageFailed, match="存储出现故障"):
        edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(7)))
    edge.close()

    db.write_bytes(good)  # the file put back sound, as a restore does
    edge = edge_factory("T1")
    assert edge.cases.check_storage() == ""
    assert "storage_failed" not in edge.alarms.active()
    edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(8)))
