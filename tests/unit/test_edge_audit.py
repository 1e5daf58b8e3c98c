"""The terminal's audit chain on a real SQLite file.

A terminal accepts cases (one by a resident, one by staff on a resident's behalf), the hub acks them,
refuses one, sends events; a resident rates; an alarm is raised and cleared. Each change appends its
entry in its own transaction, and no entry holds an ID number or a name. Then the chain is tampered
with the way someone with the database file and ``sqlite3`` would — an entry edited, one deleted, two
swapped, the newest cut off (with and without the anchor rewritten) — and ``verify`` and
``shegong edge audit verify`` name the first entry that no longer holds.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from edge.runtime import EdgeRuntime
from edge.settings import EdgeSettings
from edge.store import audit
from edge.store.cases import NewCase
from protocol.auditchain import Anchor
from protocol.cases import CaseEvent, CaseStatus
from protocol.ratings import RatingLevel
from shegong import cli
from tests.support import applicant

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EdgeSettings:
    monkeypatch.setenv("SHEGONG_DATA_DIR", str(tmp_path / "edge"))  # for the CLI, which reads its own settings
    monkeypatch.setenv("SHEGONG_TERMINAL_ID", "T1")
    monkeypatch.setenv("SHEGONG_COMMITTEE_CODE", "JW001")
    return EdgeSettings(terminal_id="T1", committee_code="JW001", data_dir=tmp_path / "edge")


@pytest.fixture
def edge(settings: EdgeSettings):
    rt = EdgeRuntime(settings)
    yield rt
    rt.close()


def _entries(edge: EdgeRuntime) -> list[dict]:
    with edge.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM audit_entries ORDER BY id")).mappings().all()
    return [{**r, "data": json.loads(r["data"])} for r in rows]


def _verify(edge: EdgeRuntime, expected: Anchor | None = None):
    with edge.engine.connect() as conn:
        return audit.verify(conn, batch=3, expected=expected)


def _sql(edge: EdgeRuntime, sql: str, **params) -> None:
    with edge.engine.begin() as conn:
        conn.execute(text(sql), params)


@pytest.fixture
def busy(edge: EdgeRuntime) -> EdgeRuntime:
    """A terminal with a day's worth of changes: ten entries, ids 1..10."""
    own = edge.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(1)), now=T0)  # 1
    staff = edge.cases.submit(NewCase(item_code="MZ-002", applicant=applicant(2), agent="S007"), now=T0)  # 2
    refused = edge.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(3)), now=T0)  # 3
    edge.outbox.acked([str(own.case_id), str(staff.case_id)], at=T0 + timedelta(minutes=1))  # 4
    edge.outbox.park([str(refused.case_id)], "schema: bad form")  # 5
    event = CaseEvent(event_id=1, case_id=own.case_id, version=1, status=CaseStatus.ACCEPTED, at=T0)
    edge.cases.apply_events([event], now=T0 + timedelta(minutes=2))  # 6
    edge.cases.apply_events([event], now=T0 + timedelta(minutes=3))  # a redelivery: no entry
    edge.ratings.rate(RatingLevel.SATISFIED, reason="张三很耐心", case_id=str(own.case_id), now=T0)  # 7
    edge.alarms.raise_("help_requested", "居民在自助终端呼叫工作人员", at=T0)  # 8
    edge.alarms.clear("help_requested")  # 9
    edge.outbox.unpark()  # 10
    return edge


def test_each_change_appends_one_entry_in_its_own_transaction_without_personal_data(busy):
    entries = _entries(busy)
    assert [e["action"] for e in entries] == [
        "case.accepted",
        "case.accepted",
        "case.accepted",
        "outbox.acked",
        "outbox.parked",
        "case.events",
        "rating.recorded",
        "alarm.raised",
        "alarm.cleared",
        "outbox.unparked",
    ]
    own, staff = entries[0], entries[1]
    assert own["actor"] == "resident" and own["data"]["on_behalf"] is False
    assert own["data"]["receipt_no"].startswith("JW001-") and own["data"]["item_code"] == "MZ-001"
    assert staff["actor"] == "staff:S007" and staff["data"]["on_behalf"] is True and staff["data"]["staff"] == "S007"
    assert entries[3]["actor"] == "hub" and entries[3]["data"] == {"cases": [own["subject"], staff["subject"]]}
    assert entries[5]["data"]["events"] == [{"case_id": own["subject"], "version": 1, "status": "accepted"}]
    assert entries[6]["data"] == {"case_id": own["subject"], "level": 4}
    everything = json.dumps(entries, default=str, ensure_ascii=False)
    for n in (1, 2, 3):
        assert applicant(n).id_number not in everything and applicant(n).name not in everything
    assert "张三" not in everything  # a rating's free text stays out too
    assert _verify(busy) == (10, None)
    with busy.engine.connect() as conn:
        a = audit.anchor(conn)
    assert (a.entries, a.last_id, a.head) == (10, 10, entries[-1]["hash"])


def test_a_batch_ack_is_one_entry_listing_its_items(edge):
    ids = [str(edge.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(n))).case_id) for n in range(200)]
    before = len(_entries(edge))
    assert edge.outbox.acked(ids) == 200
    assert edge.outbox.acked(ids) == 0  # the hub's ack came twice: nothing cleared, nothing recorded
    added = _entries(edge)[before:]
    assert [e["action"] for e in added] == ["outbox.acked"] and added[0]["data"] == {"cases": ids}


def test_a_failed_change_leaves_no_entry(edge):
    case = edge.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(1)))
    edge.ratings.rate(RatingLevel.SATISFIED, case_id=str(case.case_id))
    with pytest.raises(Exception, match="评价过"):
        edge.ratings.rate(RatingLevel.SATISFIED, case_id=str(case.case_id))
    assert [e["action"] for e in _entries(edge)] == ["case.accepted", "rating.recorded"]


def test_an_edited_entry_is_named(busy):
    _sql(busy, "UPDATE audit_entries SET actor = 'staff:S999' WHERE id = 2")
    checked, broken = _verify(busy)
    assert checked == 1 and broken.entry_id == 2 and "edited" in broken.problem


def test_a_deleted_entry_is_named_by_the_one_after_it(busy):
    _sql(busy, "DELETE FROM audit_entries WHERE id = 5")
    checked, broken = _verify(busy)
    assert checked == 4 and broken.entry_id == 6 and "removed or reordered" in broken.problem


def test_two_swapped_entries_are_caught_at_the_first(busy):
    cols = ("at", "actor", "action", "subject", "data", "prev_hash", "hash")
    with busy.engine.begin() as conn:
        a = conn.execute(text(f"SELECT {', '.join(cols)} FROM audit_entries WHERE id = 4")).mappings().one()
        b = conn.execute(text(f"SELECT {', '.join(cols)} FROM audit_entries WHERE id = 7")).mappings().one()
        sets = ", ".join(f"{c} = :{c}" for c in cols)
        conn.execute(text(f"UPDATE audit_entries SET {sets} WHERE id = 4"), dict(b))
        conn.execute(text(f"UPDATE audit_entries SET {sets} WHERE id = 7"), dict(a))
    checked, broken = _verify(busy)
    assert checked == 3 and broken.entry_id == 4


def test_a_cut_tail_is_caught_by_the_anchor(busy):
    _sql(busy, "DELETE FROM audit_entries WHERE id >= 8")
    checked, broken = _verify(busy)
    assert checked == 7 and broken.entry_id == 10 and "newest entries were removed" in broken.problem


def test_an_entry_appended_after_a_cut_tail_does_not_hide_it(busy):
    _sql(busy, "DELETE FROM audit_entries WHERE id >= 8")
    busy.alarms.raise_("storage_full", "磁盘剩余空间不足")
    checked, broken = _verify(busy)
    assert checked == 7 and broken is not None


def test_a_cut_tail_with_its_anchor_rewritten_is_caught_by_an_anchor_kept_off_the_device(busy):
    with busy.engine.connect() as conn:
        kept = audit.anchor(conn)
    with busy.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_entries WHERE id >= 8"))
        head = conn.execute(text("SELECT hash FROM audit_entries WHERE id = 7")).scalar_one()
        conn.execute(text("UPDATE audit_anchor SET entries = 7, last_id = 7, head_hash = :h"), {"h": head})
    assert _verify(busy) == (7, None)  # consistent on its own…
    checked, broken = _verify(busy, expected=kept)
    assert broken is not None and broken.entry_id == 10  # …but not with the anchor kept elsewhere


def test_an_old_device_starts_its_chain_at_the_upgrade(tmp_path: Path):
    settings = EdgeSettings(terminal_id="T1", committee_code="JW001", data_dir=tmp_path)
    with EdgeRuntime(settings) as rt, rt.engine.connect() as conn:
        assert audit.anchor(conn) == Anchor(0, 0, "0" * 64)
        assert audit.verify(conn) == (0, None)


@pytest.mark.parametrize(
    ("sql", "entry"),
    [
        ("UPDATE audit_entries SET data = '{}' WHERE id = 3", 3),
        ("DELETE FROM audit_entries WHERE id = 6", 7),
        ("DELETE FROM audit_entries WHERE id = 10", 10),
    ],
)
def test_the_cli_says_ok_or_names_the_first_broken_entry(busy, capsys, sql, entry):
    assert cli.main(["edge", "audit", "verify"]) == 0
    assert "audit chain ok: 10 entries" in capsys.readouterr().out
    assert cli.main(["edge", "audit", "anchor"]) == 0
    kept = json.loads(capsys.readouterr().out)
    assert kept["entries"] == 10 and kept["last_id"] == 10 and len(kept["head"]) == 64
    _sql(busy, sql)
    assert cli.main(["edge", "audit", "verify", "--anchor", json.dumps(kept)]) == 2
    assert f"audit chain broken at entry {entry}:" in capsys.readouterr().err


def test_the_cli_refuses_a_malformed_anchor(busy, capsys):
    assert cli.main(["edge", "audit", "verify", "--anchor", "nonsense"]) == 2
    assert "not an audit anchor" in capsys.readouterr().err


def test_event_ids_unknown_here_are_still_recorded_as_they_come(edge):
    # Events for a case this terminal no longer has (purged) change nothing but are stored and recorded.
    gone = uuid.uuid4()
    ev = CaseEvent(event_id=9, case_id=gone, version=3, status=CaseStatus.COMPLETED, at=T0)
    assert edge.cases.apply_events([ev]) == 0
    (entry,) = _entries(edge)
    assert entry["data"] == {"events": [{"case_id": str(gone), "version": 3, "status": "completed"}], "changed": 0}
