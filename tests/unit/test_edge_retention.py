"""Retention on a real SQLite file: resident data leaves the terminal only once the hub has it, the case
is closed and the window has passed.

Cases are made the way a terminal makes them — accepted at the kiosk, acked by the hub, moved by hub
events — at chosen times around a 30-day window; then the purge runs (in the store, from the runtime's
thread, and as ``shegong edge purge``). Acked, closed and old goes; unacked, queued, open or recent
stays. What stays still shows at the kiosk, and each purge leaves one audit entry with counts only.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from edge.runtime import EdgeRuntime
from edge.settings import EdgeSettings
from edge.store import audit
from edge.store.cases import NewCase
from edge.store.db import set_counter
from edge.store.retention import RECONCILED, PurgeCounts
from protocol.cases import CaseEvent, CaseStatus
from protocol.envelope import utcnow
from protocol.ratings import RatingLevel
from shegong import cli
from tests.support import applicant, wait_for

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=31)
RECENT = NOW - timedelta(days=29)
_event_ids = iter(range(1, 1_000_000))


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EdgeSettings:
    monkeypatch.setenv("SHEGONG_DATA_DIR", str(tmp_path / "edge"))  # for the CLI, which reads its own settings
    return EdgeSettings(terminal_id="T1", committee_code="JW001", data_dir=tmp_path / "edge", retention_days=30)


@pytest.fixture
def edge(settings: EdgeSettings):
    rt = EdgeRuntime(settings)
    rt.cases.set_lookup_key(bytes(range(32)))  # as the hub gives it on connect (protocol.lookup)
    yield rt
    rt.close()


@dataclass(frozen=True)
class Story:
    """One case's life at this terminal: when the hub acked it (None: never) and its last state."""

    acked_at: datetime | None
    status: CaseStatus | None
    status_at: datetime = OLD
    queued_again: bool = False  # an outbox row of it still there (say, parked) though the hub acked it
    reconciled: bool = True  # a night's reconciliation confirmed the hub holds it


def _confirm(engine, table: str = "cases", column: str = "case_id", ids: list[str] | None = None) -> None:
    """What a nightly reconciliation does once the hub says it holds these (all of ``table``: None)."""
    where = f" WHERE {column} IN ({','.join(repr(i) for i in ids)})" if ids is not None else ""
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE {table} SET reconciled_at = :t{where}"), {"t": NOW.replace(tzinfo=None)})
    _night_succeeded(engine, NOW)


def _night_succeeded(engine, at: datetime) -> None:
    """What the end of a night's successful reconciliation leaves (edge.night.ledger.Ledger.record)."""
    with engine.begin() as conn:
        set_counter(conn, RECONCILED, int(at.timestamp()))


def _live(edge: EdgeRuntime, story: Story, n: int = 1) -> str:
    case = edge.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(n)), now=OLD - timedelta(days=1))
    case_id = str(case.case_id)
    if story.acked_at is not None:
        edge.outbox.acked([case_id], at=story.acked_at)
        if story.reconciled:
            _confirm(edge.engine, ids=[case_id])
    if story.status is not None:
        event = CaseEvent(
            event_id=next(_event_ids), case_id=case.case_id, version=1, status=story.status, at=story.status_at
        )
        edge.cases.apply_events([event])
    if story.queued_again:
        with edge.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO outbox(item_id, channel, payload, created_at, attempts, parked_at)"
                    " VALUES (:c, 'cases', '{}', :t, 1, :t)"
                ),
                {"c": case_id, "t": OLD.replace(tzinfo=None)},
            )
    return case_id


def _exists(edge: EdgeRuntime, table: str, column: str, value: str) -> bool:
    with edge.engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table} WHERE {column} = :v"), {"v": value}).scalar() > 0


@pytest.mark.parametrize(
    ("story", "purged"),
    [
        pytest.param(Story(OLD, CaseStatus.COMPLETED), True, id="acked-completed-old"),
        pytest.param(Story(OLD, CaseStatus.REJECTED), True, id="acked-rejected-old"),
        pytest.param(Story(OLD, CaseStatus.WITHDRAWN), True, id="acked-withdrawn-old"),
        pytest.param(Story(None, None), False, id="never-acked-still-queued"),
        pytest.param(Story(None, CaseStatus.COMPLETED), False, id="completed-but-ack-not-yet-here"),
        pytest.param(Story(OLD, CaseStatus.COMPLETED, queued_again=True), False, id="acked-but-still-in-outbox"),
        pytest.param(Story(OLD, None), False, id="acked-still-submitted"),
        pytest.param(Story(OLD, CaseStatus.ACCEPTED), False, id="acked-open"),
        pytest.param(Story(OLD, CaseStatus.MORE_MATERIALS), False, id="acked-waiting-for-materials"),
        pytest.param(Story(OLD, CaseStatus.COMPLETED, status_at=RECENT), False, id="closed-recently"),
        pytest.param(Story(RECENT, CaseStatus.COMPLETED), False, id="acked-recently"),
        pytest.param(Story(OLD, CaseStatus.COMPLETED, reconciled=False), False, id="acked-closed-old-unreconciled"),
    ],
)
def test_only_acked_closed_and_old_cases_are_purged(edge, story, purged):
    case_id = _live(edge, story)
    dry = edge.retention.purge(now=NOW, dry_run=True)
    assert _exists(edge, "cases", "case_id", case_id), "a dry run removes nothing"
    counts = edge.retention.purge(now=NOW)
    assert counts == dry
    assert _exists(edge, "cases", "case_id", case_id) is not purged
    had_events = story.status is not None
    assert _exists(edge, "case_events", "case_id", case_id) is (had_events and not purged)
    assert counts == (PurgeCounts(cases=1, case_events=int(had_events)) if purged else PurgeCounts())


@pytest.mark.parametrize(
    ("acked", "rated_at", "case", "purged"),
    [
        pytest.param(True, OLD, None, True, id="acked-old-visit"),
        pytest.param(True, OLD, "purged", True, id="acked-old-case-purged"),
        pytest.param(True, OLD, "kept", False, id="acked-old-case-still-here"),
        pytest.param(False, OLD, None, False, id="unacked-old"),
        pytest.param("unreconciled", OLD, None, False, id="acked-old-unreconciled"),  # invariants review
        pytest.param(True, RECENT, None, False, id="acked-recent"),
    ],
)
def test_only_acked_old_ratings_whose_case_is_gone_are_purged(edge, acked, rated_at, case, purged):
    case_id = None
    if case is not None:
        status = CaseStatus.COMPLETED if case == "purged" else CaseStatus.ACCEPTED
        case_id = _live(edge, Story(OLD, status))
    rating = edge.ratings.rate(RatingLevel.SATISFIED, case_id=case_id, now=rated_at)
    rid = str(rating.rating_id)
    if acked:
        edge.outbox.acked([rid])
    if acked is True:  # and a night's reconciliation found it at the hub
        _confirm(edge.engine, "ratings", "rating_id", [rid])
    dry = edge.retention.purge(now=NOW, dry_run=True)
    assert edge.retention.purge(now=NOW) == dry
    assert _exists(edge, "ratings", "rating_id", rid) is not purged


def test_my_cases_still_shows_what_remains_and_one_audit_entry_counts_the_purge(edge):
    gone = _live(edge, Story(OLD, CaseStatus.COMPLETED), n=1)
    open_ = _live(edge, Story(OLD, CaseStatus.UNDER_REVIEW), n=1)
    recent = _live(edge, Story(OLD, CaseStatus.COMPLETED, status_at=RECENT), n=1)
    queued = _live(edge, Story(None, None), n=1)
    _live(edge, Story(OLD, CaseStatus.REJECTED), n=2)
    with edge.engine.connect() as conn:
        before = audit.anchor(conn).entries

    assert edge.retention.purge(now=NOW) == PurgeCounts(cases=2, case_events=2)

    mine = edge.cases.cases_of(applicant(1).id_number)
    assert {c["case_id"] for c in mine} == {open_, recent, queued}
    by_id = {c["case_id"]: c for c in mine}
    assert [e["status"] for e in by_id[open_]["timeline"]] == ["under_review"]
    assert by_id[recent]["status"] == "completed" and by_id[queued]["status"] == "submitted"
    assert edge.cases.cases_of(applicant(2).id_number) == []
    assert edge.cases.get(gone) is None

    with edge.engine.connect() as conn:
        entries = conn.execute(text("SELECT * FROM audit_entries WHERE id > :n"), {"n": before}).mappings().all()
        assert audit.verify(conn) == (before + 1, None)
    (entry,) = entries
    assert (entry["actor"], entry["action"], entry["subject"]) == ("terminal", "retention.purged", "retention")
    assert json.loads(entry["data"]) == {
        "cases": 2,
        "case_events": 2,
        "ratings": 0,
        "open_cases": 0,
        "held": 0,
        "retention_days": 30,
    }

    assert edge.retention.purge(now=NOW) == PurgeCounts()  # nothing left to purge: nothing recorded
    edge.retention.purge(now=NOW, dry_run=True)
    with edge.engine.connect() as conn:
        assert audit.anchor(conn).entries == before + 1


def test_events_the_hub_sends_again_for_a_purged_case_are_purged_too(edge):
    case_id = _live(edge, Story(OLD, CaseStatus.COMPLETED))
    edge.retention.purge(now=NOW)
    late = CaseEvent(
        event_id=next(_event_ids), case_id=uuid.UUID(case_id), version=1, status=CaseStatus.COMPLETED, at=OLD
    )
    edge.cases.apply_events([late])  # a resync after the purge
    assert edge.cases.get(case_id) is None
    assert edge.retention.purge(now=NOW) == PurgeCounts(case_events=1)


def test_a_database_made_with_incremental_auto_vacuum_gives_freed_pages_back(tmp_path: Path):
    data = tmp_path / "edge"
    data.mkdir()
    with sqlite3.connect(data / "edge.db") as conn:  # as an installer might have made it; we never set it
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        conn.execute("CREATE TABLE made_by_installer(x)")
    settings = EdgeSettings(terminal_id="T1", committee_code="JW001", data_dir=data)
    with EdgeRuntime(settings) as rt:
        big = {"note": "x" * 3000}
        ids = [
            str(rt.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(n), form=big), now=OLD).case_id)
            for n in range(40)
        ]
        rt.outbox.acked(ids, at=OLD)
        _confirm(rt.engine)
        for i, case_id in enumerate(ids):
            rt.cases.apply_events(
                [CaseEvent(event_id=i + 1, case_id=uuid.UUID(case_id), version=1, status=CaseStatus.COMPLETED, at=OLD)]
            )
        with rt.engine.connect() as conn:
            pages = conn.execute(text("PRAGMA page_count")).scalar()
        assert rt.retention.purge(now=NOW).cases == 40
        with rt.engine.connect() as conn:
            assert conn.execute(text("PRAGMA freelist_count")).scalar() == 0
            assert conn.execute(text("PRAGMA page_count")).scalar() < pages - 20


def test_the_runtime_purges_on_its_own(edge):
    case_id = _live(
        edge, Story(utcnow() - timedelta(days=40), CaseStatus.COMPLETED, status_at=utcnow() - timedelta(days=40))
    )
    _night_succeeded(edge.engine, utcnow())
    edge.start_housekeeping(every_s=0.05)
    wait_for(lambda: edge.cases.get(case_id) is None, timeout=10, what="the runtime's hourly purge")


def test_the_cli_counts_then_purges(edge, capsys):
    _live(edge, Story(utcnow() - timedelta(days=40), CaseStatus.WITHDRAWN, status_at=utcnow() - timedelta(days=40)))
    _night_succeeded(edge.engine, utcnow() - timedelta(days=3))  # and none since: the hub may have been restored
    assert cli.main(["edge", "purge", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "dry_run": True,
        "retention_days": 30,
        "cases": 0,
        "case_events": 0,
        "ratings": 0,
        "held": 1,
    }
    _night_succeeded(edge.engine, utcnow())
    assert cli.main(["edge", "purge", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "dry_run": True,
        "retention_days": 30,
        "cases": 1,
        "case_events": 1,
        "ratings": 0,
        "held": 0,
    }
    assert cli.main(["edge", "purge"]) == 0
    assert json.loads(capsys.readouterr().out)["cases"] == 1
    assert cli.main(["edge", "purge"]) == 0
    assert json.loads(capsys.readouterr().out)["cases"] == 0


def test_the_retention_window_is_a_setting(monkeypatch):
    monkeypatch.setenv("SHEGONG_RETENTION_DAYS", "90")
    assert EdgeSettings().retention_days == 90
    monkeypatch.setenv("SHEGONG_RETENTION_DAYS", "0")
    with pytest.raises(ValueError):
        EdgeSettings()


def _in_files(folder: Path, text_: str) -> list[str]:
    """Files under ``folder`` whose bytes hold ``text_`` (UTF-8): the database, its -wal and -shm, any other."""
    marker = text_.encode()
    return [p.name for p in folder.rglob("*") if p.is_file() and marker in p.read_bytes()]


def test_what_goes_is_gone_from_the_files_not_only_from_the_tables(edge, settings):
    """A rating's free-text reason is never in the files in clear: sealed to the hub's key, it stays only in
    its outbox item, which the hub's ack deletes; a purged case's notes go with it. Deleted content is
    overwritten and the write-ahead log cut at each purge, so a thief reading the files finds neither (one
    page-sized reason, so it would fill a page of its own)."""
    reason = "邻居王阿姨帮我填的表，她的电话是一三九零零零零零零零零" * 3
    note = "请补交户口簿复印件：户主李某某" * 3
    case_id = _live(edge, Story(OLD, None))
    event = CaseEvent(
        event_id=next(_event_ids),
        case_id=uuid.UUID(case_id),
        version=1,
        status=CaseStatus.COMPLETED,
        at=OLD,
        note=note,
    )
    edge.cases.apply_events([event])
    rating = edge.ratings.rate(RatingLevel.DISSATISFIED, reason=reason, case_id=case_id, now=OLD)
    with edge.engine.connect() as conn:
        columns = {r[1] for r in conn.execute(text("PRAGMA table_info(ratings)"))}
    assert "reason" not in columns, "a rating's reason is not kept beside its level"
    assert _in_files(settings.data_dir, reason) == [], "a reason is sealed before it is stored"
    sealed = rating.sealed_reason
    assert _in_files(settings.data_dir, sealed), "until the hub has it, the sealed reason waits in the outbox"

    edge.outbox.acked([str(rating.rating_id)])  # the hub's ack, as the sync agent applies it
    _confirm(edge.engine, "ratings")
    assert edge.retention.purge(now=NOW) == PurgeCounts(cases=1, case_events=1, ratings=1)
    assert _in_files(settings.data_dir, sealed) == []
    assert _in_files(settings.data_dir, note) == []


def test_a_case_never_closed_goes_after_the_open_case_limit_and_is_counted(tmp_path: Path):
    """The centre forgot a case: acked and reconciled, it still leaves the terminal after the limit; one no
    night has found at the hub stays (invariants review: nothing failed when the limit ignored that)."""
    settings = EdgeSettings(
        terminal_id="T1", committee_code="JW001", data_dir=tmp_path / "e", retention_days=30, open_case_limit_days=60
    )
    with EdgeRuntime(settings) as rt:
        rt.cases.set_lookup_key(bytes(range(32)))
        long_ago = NOW - timedelta(days=61)
        forgotten = rt.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(1)), now=long_ago)
        younger = rt.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(2)), now=OLD)
        unconfirmed = rt.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(3)), now=long_ago)
        for case in (forgotten, younger, unconfirmed):
            rt.outbox.acked([str(case.case_id)], at=case.created_at)
        _confirm(rt.engine, ids=[str(forgotten.case_id), str(younger.case_id)])
        with rt.engine.begin() as conn:
            conn.execute(
                text("UPDATE cases SET status = 'accepted', status_at = created_at")
            )  # opened by the centre, never closed
        assert rt.retention.purge(now=NOW) == PurgeCounts(cases=1, open_cases=1)
        assert rt.cases.get(str(forgotten.case_id)) is None
        assert rt.cases.get(str(younger.case_id)) is not None
        assert rt.cases.get(str(unconfirmed.case_id)) is not None


@pytest.mark.parametrize(
    ("last_night", "held"),
    [
        pytest.param(NOW - timedelta(hours=30), False, id="last-night-missed-one-before-it-ran"),
        pytest.param(NOW - timedelta(days=2, minutes=1), True, id="two-nights-failed"),
        pytest.param(None, True, id="no-night-ever"),
        pytest.param(NOW + timedelta(days=365), True, id="night-stamped-by-a-clock-a-year-ahead"),
    ],
)
def test_nothing_goes_while_nights_fail_to_reconcile_with_the_hub(edge, last_night, held):
    """A confirmation is only as good as the hub that gave it. The hub restored from a backup older than
    the confirmation lost the case; the next night that reaches it finds the case missing and sends it
    again. Nights failing since (the restored hub's broker down, the link cut) used to leave the purge
    to trust the old confirmation and delete the only copy left (a night review). Now a case and a rating
    past the window stay, counted as held, until a night succeeds again."""
    case_id = _live(edge, Story(OLD, CaseStatus.COMPLETED))
    rating = edge.ratings.rate(RatingLevel.SATISFIED, now=OLD)
    edge.outbox.acked([str(rating.rating_id)])
    _confirm(edge.engine, "ratings")
    with edge.engine.begin() as conn:
        conn.execute(text("DELETE FROM meta WHERE key = :k"), {"k": RECONCILED})
    if last_night is not None:
        _night_succeeded(edge.engine, last_night)

    counts = edge.retention.purge(now=NOW)
    assert counts == (PurgeCounts(held=2) if held else PurgeCounts(cases=1, case_events=1, ratings=1))
    assert _exists(edge, "cases", "case_id", case_id) is held
    assert _exists(edge, "ratings", "rating_id", str(rating.rating_id)) is held
    if held:  # the next night that reaches the hub lets them go
        _night_succeeded(edge.engine, NOW)
        assert edge.retention.purge(now=NOW) == PurgeCounts(cases=1, case_events=1, ratings=1)


def test_a_night_run_by_a_clock_far_ahead_lets_nothing_go_early(edge):
    """A terminal whose clock runs a year ahead reconciles that night (the clock step then fails, but
    retention runs on): by its own clock the night is as recent as can be, and every closed case looked a
    year old. The night is kept by the hub's clock, so retention, asked by the terminal's, holds."""
    from edge.night.ledger import Ledger

    _live(edge, Story(OLD, CaseStatus.COMPLETED))
    ahead = NOW + timedelta(days=365)
    Ledger(edge.engine, "JW001").record(ahead, {}, hub_now=NOW)  # the hub's replies said NOW
    assert edge.retention.purge(now=ahead) == PurgeCounts(held=1)
    assert edge.retention.purge(now=NOW) == PurgeCounts(cases=1, case_events=1)  # its clock set right
