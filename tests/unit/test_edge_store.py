"""The terminal's store on a real SQLite file: accepting a case, receipts made offline, hub events that
never move a case backwards, and a field upgrade that keeps the queue."""

from __future__ import annotations

import hashlib
import hmac
import re
import sqlite3
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from edge.runtime import EdgeRuntime
from edge.settings import EdgeSettings
from edge.store.cases import InvalidApplicant, NewCase
from edge.store.db import HEAD, current_revision, migrate
from edge.store.models import EdgeModel
from kernel.db import make_engine
from protocol.cases import Applicant, CaseEvent, CaseStatus
from tests.support import applicant, id_number


@pytest.fixture
def edge(tmp_path: Path):
    rt = EdgeRuntime(EdgeSettings(terminal_id="T1", committee_code="JW001", data_dir=tmp_path / "edge"))
    yield rt
    rt.close()


def test_a_case_and_its_outbox_row_are_written_together_with_an_offline_receipt(edge):
    first = edge.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(1)))
    second = edge.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(2)))
    day = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y%m%d")
    assert first.receipt_no == f"JW001-{day}-0001" and second.receipt_no == f"JW001-{day}-0002"
    assert re.fullmatch(r"[2-9A-HJ-NP-Z]{6}", first.query_code)
    assert first.case_id.version == 7, "case ids are UUIDv7: time-ordered, made offline"
    with edge.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM outbox WHERE channel='cases'")).scalar() == 2
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert conn.execute(text("PRAGMA cache_size")).scalar() == -512  # KiB, not SQLite's 2,000 (issue 17)


def test_a_case_whose_outbox_row_cannot_be_written_is_not_kept_either(edge):
    """Invariants review: the case and its outbox row in two transactions passed the kill test (it kills
    between two cases, never between the two writes). With the outbox refusing every row, submitting fails
    and leaves no case: one without an outbox row would never reach the hub, its resident holding a receipt."""
    with edge.engine.begin() as conn:
        conn.execute(text("CREATE TRIGGER no_outbox BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'full'); END"))
    with pytest.raises(IntegrityError, match="full"):
        edge.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(1)))
    with edge.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM cases")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM audit_entries WHERE action = 'case.accepted'")).scalar() == 0


def test_an_invalid_id_number_is_refused_and_nothing_is_written(edge):
    bad = id_number()[:17] + ("0" if id_number()[17] != "0" else "1")
    with pytest.raises(InvalidApplicant, match="校验码"):
        edge.cases.submit(NewCase(item_code="MZ-001", applicant=Applicant(id_number=bad, name="张三")))
    assert edge.outbox.stats().depth == 0


def test_a_holders_cases_are_found_by_keyed_hash_without_storing_the_number_in_the_clear_column(edge):
    key = bytes(range(32))  # the lookup key, as the hub gives it on connect (protocol.lookup)
    edge.cases.set_lookup_key(key)
    mine = edge.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(1)))
    edge.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(2)))
    found = edge.cases.cases_of(applicant(1).id_number)
    assert [c["case_id"] for c in found] == [str(mine.case_id)]
    assert found[0]["holder_key"] == hmac.new(key, applicant(1).id_number.encode(), hashlib.sha256).hexdigest()


def test_a_case_is_its_holders_by_the_keyed_hash_alone(edge):
    """What the rating page asks before it rates a case from 我的办件: the card holder's, by holder key
    (HMAC-SHA256 of the ID number under the lookup key, worked here with hashlib), not anyone's."""
    case = edge.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(1)))
    row = edge.cases.get(str(case.case_id))
    assert not edge.cases.is_holders(row, applicant(1).id_number), "no lookup key yet: nobody's"
    key = bytes(range(32))
    edge.cases.set_lookup_key(key)
    edge.cases.set_holder_keys(
        {str(case.case_id): hmac.new(key, applicant(1).id_number.encode(), hashlib.sha256).hexdigest()}
    )
    row = edge.cases.get(str(case.case_id))
    assert edge.cases.is_holders(row, applicant(1).id_number)
    assert not edge.cases.is_holders(row, applicant(2).id_number)


def test_a_terminal_never_shows_a_case_state_older_than_one_it_has_shown(edge):
    case = edge.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(1)))
    at = datetime.now(UTC)

    def ev(eid: int, version: int, status: CaseStatus) -> CaseEvent:
        return CaseEvent(
            event_id=eid, case_id=case.case_id, version=version, status=status, at=at + timedelta(seconds=version)
        )

    assert edge.cases.apply_events([ev(3, 3, CaseStatus.MORE_MATERIALS)]) == 1
    # Older events arriving late (another hub worker, a resync) change nothing that is shown…
    assert edge.cases.apply_events([ev(1, 1, CaseStatus.SUBMITTED), ev(2, 2, CaseStatus.ACCEPTED)]) == 0
    state = edge.cases.get(str(case.case_id))
    assert (state["status"], state["version"]) == ("more_materials", 3)
    # …but they do fill the timeline, and redelivery of any of them is harmless.
    assert edge.cases.apply_events([ev(2, 2, CaseStatus.ACCEPTED)]) == 0
    timeline = edge.cases.cases_by_id([str(case.case_id)])[0]["timeline"]
    assert [e["version"] for e in timeline] == [1, 2, 3]
    assert edge.outbox.counter("events_watermark") == 3


def test_a_case_keeps_its_receipts_date_until_the_centre_moves_it(edge):
    """我的办件 showed no date after the receipt (a review of what each channel tells): the case keeps the
    receipt's date, and each newer event of the centre's that carries one (a 补正 pause moves it) replaces it;
    an event without a date, or an older one, leaves it."""
    receipt_date = date(2026, 12, 17)
    case = edge.cases.submit(NewCase(item_code="GA-003", applicant=applicant(1), due_date=receipt_date))
    at = datetime.now(UTC)

    def ev(version: int, status: CaseStatus, due: date | None = None) -> CaseEvent:
        return CaseEvent(event_id=version, case_id=case.case_id, version=version, status=status, at=at, due_date=due)

    assert edge.cases.get(str(case.case_id))["due_date"] == receipt_date
    edge.cases.apply_events([ev(1, CaseStatus.SUBMITTED)])
    assert edge.cases.get(str(case.case_id))["due_date"] == receipt_date, "no date in the event: kept"
    edge.cases.apply_events([ev(3, CaseStatus.ACCEPTED, date(2026, 12, 22))])
    edge.cases.apply_events([ev(2, CaseStatus.MORE_MATERIALS, date(2026, 12, 18))])  # older, late
    assert edge.cases.get(str(case.case_id))["due_date"] == date(2026, 12, 22)
    # The same event again with the date a holiday entered at the centre moved: the date alone changes.
    edge.cases.apply_events([ev(3, CaseStatus.ACCEPTED, date(2026, 12, 23))])
    assert edge.cases.get(str(case.case_id))["due_date"] == date(2026, 12, 23)


def test_a_device_at_the_first_schema_upgrades_in_place_with_its_queue_intact(tmp_path: Path):
    db = tmp_path / "edge.db"
    engine = make_engine(f"sqlite:///{db}")
    migrate(engine, "e0001")
    case_id = str(uuid.uuid4())
    with engine.begin() as conn:  # what a device in the field wrote with the first release
        payload = f'{{"case_id": "{case_id}"}}'
        conn.execute(
            text(
                "INSERT INTO cases(case_id, receipt_no, query_code, item_code, holder_key, created_at, status,"
                " version, status_at, payload) VALUES (:c, 'JW001-20260101-0001', 'ABCDEF', 'MZ-001', 'k',"
                " '2026-01-01 08:00:00', 'submitted', 0, '2026-01-01 08:00:00', :p)"
            ),
            {"c": case_id, "p": payload},
        )
        conn.execute(
            text(
                "INSERT INTO outbox(item_id, channel, payload, created_at, attempts)"
                " VALUES (:c, 'cases', :p, '2026-01-01 08:00:00', 0)"
            ),
            {"c": case_id, "p": payload},
        )
    engine.dispose()

    rt = EdgeRuntime(EdgeSettings(terminal_id="T1", committee_code="JW001", data_dir=tmp_path))  # migrates to head
    try:
        with rt.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD
        pending = rt.outbox.pending("cases", 0, 10)
        assert [p.item_id for p in pending] == [case_id]
        assert rt.cases.get(case_id)["status_note"] == ""
        assert rt.outbox.stats().oldest_unsent_at == datetime(2026, 1, 1, 8, tzinfo=UTC)
    finally:
        rt.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_the_edge_migrations_build_exactly_the_models(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'e.db'}")
    migrate(engine)
    assert current_revision(engine) == HEAD, "edge.store.db.HEAD must name the newest revision"
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), EdgeModel.metadata)
    assert diff == [], f"models and migrations differ: write a revision for {diff}"
