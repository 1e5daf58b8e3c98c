"""The hub's night on its real database (SQLite and PostgreSQL): a terminal's nightly result on its fleet
page, an alert for a terminal that missed its night, and retention — old closed cases archived whole,
then blanked in place; dead letters and expired sessions bounded.

Messages come in through the real ingest handler, as a terminal's would.
"""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from hub.audit.keyed import AuditKey
from hub.night.backup import BackupFailed, HubBackups, make_backup_key
from hub.night.results import NIGHT_MISSED, missed_nights
from hub.night.retention import purge
from hub.settings import HubSettings
from protocol import topics
from protocol.envelope import utcnow
from protocol.reconcile import NightReport, NightReportBody, NightStep
from protocol.state import Birth, BirthBody
from tests.support import register_terminal
from tests.unit.hub.helpers import PASSWORDS


def _report(hub, terminal: str, ok: bool = True) -> None:
    steps = [
        NightStep(name="backup", ok=True, seconds=0.2, counts={"bytes": 4096}),
        NightStep(name="reconcile", ok=ok, seconds=1.5, counts={"resent_cases": 3}, error="" if ok else "no answer"),
    ]
    body = NightReportBody(started_at=utcnow() - timedelta(seconds=2), seconds=1.7, ok=ok, steps=steps)
    hub.handler.handle(topics.up(terminal, topics.Up.RECONCILE), NightReport(terminal=terminal, body=body).encode())


def _sign_in(client, username: str) -> None:
    token = client.get("/login").text.split('name="_csrf_token" value="')[1].split('"')[0]
    form = {"username": username, "password": PASSWORDS[username], "next": "/fleet/", "_csrf_token": token}
    assert client.post("/login", data=form, follow_redirects=False).status_code == 303


def test_the_nightly_result_shows_on_the_fleet_page_and_a_missed_night_raises_an_alert(hub, client, people):
    for terminal in ("T1", "T2"):
        register_terminal(hub.engine, terminal)
        birth = Birth(terminal=terminal, body=BirthBody(bd_seq=1))
        hub.handler.handle(topics.state(terminal), birth.encode())
    with hub.engine.begin() as conn:  # registered two days ago, as provisioning left them
        conn.execute(text("UPDATE terminal_register SET registered_at = :t"), {"t": utcnow() - timedelta(days=2)})
    _report(hub, "T1", ok=False)

    _sign_in(client, "operator")
    page = client.get("/fleet/terminals/T1")
    assert page.status_code == 200, page.text
    night = page.text.split('id="night"', 1)[1].split("</table>", 1)[0]
    assert "对账" in night and "失败：与中心的对账未完成" in night and "补发案件 3" in night
    assert "终端报告：no answer" in night, "the terminal's own words, for whoever goes on site"

    assert missed_nights(hub.engine, utcnow(), allowed_h=36) == (1, 0)
    assert missed_nights(hub.engine, utcnow(), allowed_h=36) == (0, 0), "raised once"
    with hub.engine.connect() as conn:
        active = conn.execute(
            text("SELECT terminal_id FROM fleet_alerts WHERE kind = :k AND cleared_at IS NULL"), {"k": NIGHT_MISSED}
        ).all()
    assert [r[0] for r in active] == ["T2"]
    hub.fleet.registry.evaluate_all()  # the fleet's own evaluation leaves the night's alert alone
    assert "夜间作业未完成" in client.get("/fleet/alerts").text

    _report(hub, "T2")
    assert missed_nights(hub.engine, utcnow(), allowed_h=36) == (0, 1)


CASE = "00000000-0000-7000-8000-00000000000{n}"
ID_NUMBER, NAME, PHONE = "310101195503120028", "张三", "13957246813"
NOTE = f"已为{NAME}登记，联系电话{PHONE}"  # a clerk's note naming the resident
REASON = f"我是{NAME}，电话{PHONE}，窗口让我跑了三趟"  # a rating's words, copied into its return call


def _old_and_recent_cases(hub, old, recent) -> None:
    """Four cases (completed and refused long ago, rejected lately, one still open), each with a step noted,
    a rating with words and its return call; a visit's rating long ago; a dead letter; SMS notices."""
    sqlite = hub.engine.dialect.name == "sqlite"

    def ts(t):
        return t.replace(tzinfo=None) if sqlite and t is not None else t

    with hub.engine.begin() as conn:
        for n, (status, decided) in enumerate(
            [("completed", old), ("rejected", recent), ("accepted", None), ("refused", old)]
        ):
            values = {"c": CASE.format(n=n), "r": f"JW001-20250101-000{n}", "s": status, "t": ts(old)}
            conn.execute(
                text(
                    "INSERT INTO cases(case_id, terminal_id, committee, receipt_no, query_code, item_code, department,"
                    " status, version, id_number, applicant_name, created_at, sent_at, received_at, updated_at,"
                    " payload) VALUES (:c, 'T1', 'JW001', :r, 'ABCDEF', 'JB-001', 'minzheng', :s, 2,"
                    f" '{ID_NUMBER}', '{NAME}', :t, :t, :t, :t, '{{\"phone\": \"{PHONE}\"}}')"
                ),
                values,
            )
            conn.execute(
                text(
                    "INSERT INTO case_work(case_id, department, item_code, assignee, paused_days, notices, decided_at,"
                    " outcome) VALUES (:c, 'minzheng', 'JB-001', '', 0, 0, :d, :o)"
                ),
                {"c": values["c"], "d": ts(decided), "o": status},
            )
            conn.execute(
                text(
                    "INSERT INTO case_events(case_id, terminal_id, version, status, at, actor, note, department)"
                    " VALUES (:c, 'T1', 2, :s, :t, 'user:clerk_mz', :note, 'minzheng')"
                ),
                {**values, "note": NOTE},
            )
        for n, case in ((0, CASE.format(n=0)), (1, CASE.format(n=1)), (9, None)):  # the last: a visit's rating
            rating = {"id": f"00000000-0000-7000-9000-00000000000{n}", "c": case, "t": ts(old), "why": REASON}
            conn.execute(
                text(
                    "INSERT INTO ratings(rating_id, case_id, terminal_id, committee, receipt_no, item_code, department,"
                    " level, reason, rated_at, received_at) VALUES (:id, :c, 'T1', 'JW001', '', 'JB-001', 'minzheng',"
                    " 1, :why, :t, :t)"
                ),
                rating,
            )
            conn.execute(
                text(
                    "INSERT INTO return_calls(rating_id, case_id, receipt_no, item_code, department, committee,"
                    " level, reason, opened_at, due_date, done_by, outcome) VALUES (:id, :c, '', 'JB-001',"
                    " 'minzheng', 'JW001', 1, :why, :t, '2025-01-10', '', :out)"
                ),
                {**rating, "out": f"已回访{NAME}，{PHONE}"},
            )
        conn.execute(
            text(
                "INSERT INTO dead_letters(received_at, topic, terminal_id, reason, detail, size, payload)"
                " VALUES (:t, 'x', 'T1', 'malformed_json', 'x', 1, :p)"
            ),
            {"t": ts(old), "p": b"x"},
        )
        for n, sent in enumerate((old, None)):  # sent long ago; never sent (no gateway configured)
            conn.execute(
                text(
                    "INSERT INTO sms_outbox(case_id, version, kind, phone, text, created_at, attempts, next_at,"
                    " last_error, sent_at) VALUES (:c, :v, 'accepted', :phone, '您的申请已受理', :t, 0, :t, '', :sent)"
                ),
                {"c": CASE.format(n=2), "v": 2 + n, "phone": PHONE, "t": ts(old), "sent": ts(sent)},
            )


def _column_values(hub, sql: str) -> list:
    with hub.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql)).all()]


def test_old_closed_cases_are_archived_sealed_then_anonymised_and_operational_tables_bounded(hub, tmp_path: Path):
    """A personal-data review found the archive in clear gzip for good, and the clerks' notes, a return call's
    copy of the rating's words and its outcome, and never-sent SMS notices' phone numbers left in the
    database after retention. The archive is now sealed to the backup key, signed like a backup, and read
    back here only with the private key; everything free-text about an archived resident is blanked."""
    now = utcnow()
    old, recent = now - timedelta(days=400), now - timedelta(days=10)
    _old_and_recent_cases(hub, old, recent)
    folder = tmp_path / "archive"
    settings = HubSettings(database_url=hub.settings.database_url, archive_dir=str(folder), case_keep_days=365)
    audit_key = AuditKey.init(tmp_path / "audit.key")
    public = make_backup_key(tmp_path / "backup.key")
    backups = HubBackups(hub.settings.database_url, tmp_path / "backups", 3, public, audit_key.backup_signing_key)

    counts = purge(hub.engine, settings, now, history_keep_s=86400, seal=backups.seal_file)
    assert counts["archived"] == 2 and counts["dead_letters"] == 1  # a refused case is closed too
    assert counts["sms_notices"] == 2, "the one never sent goes with its phone number too"
    rows = dict(_column_values(hub, "SELECT status, id_number FROM cases"))
    assert rows == {"completed": "", "rejected": ID_NUMBER, "accepted": ID_NUMBER, "refused": ""}
    assert sorted(_column_values(hub, "SELECT case_id, note FROM case_events")) == [
        (CASE.format(n=0), ""),
        (CASE.format(n=1), NOTE),
        (CASE.format(n=2), NOTE),
        (CASE.format(n=3), ""),
    ]
    by_rating = {r[0][-1]: r[1:] for r in _column_values(hub, "SELECT rating_id, reason FROM ratings")}
    assert by_rating == {"0": ("",), "1": (REASON,), "9": ("",)}, "the recent case's rating keeps its words"
    calls = {r[0][-1]: r[1:] for r in _column_values(hub, "SELECT rating_id, reason, outcome FROM return_calls")}
    assert calls["0"] == ("", "") and calls["9"] == ("", "") and calls["1"][0] == REASON

    archives = sorted(folder.iterdir())  # a file per batch: the cases, then the visits' ratings
    assert len(archives) == 2
    for archive in archives:
        assert archive.name.endswith(".jsonl.gz.sealed") and archive.stat().st_mode & 0o777 == 0o600
        raw = archive.read_bytes()
        assert ID_NUMBER.encode() not in raw and not raw.startswith(b"\x1f\x8b"), "sealed, not gzip in clear"
    make_backup_key(tmp_path / "other.key")
    with pytest.raises(BackupFailed):  # another pair's key opens nothing, and leaves nothing
        backups.open_file(archives[0], tmp_path / "other.key", tmp_path / "x")
    assert not (tmp_path / "x").exists()
    records = []
    for n, archive in enumerate(archives):
        opened = tmp_path / f"opened-{n}.jsonl.gz"
        backups.open_file(archive, tmp_path / "backup.key", opened)
        assert opened.stat().st_mode & 0o777 == 0o600
        with gzip.open(opened, "rt") as f:
            records += [json.loads(line) for line in f]
    cases = [r for r in records if "case" in r]
    assert sorted(r["case"]["status"] for r in cases) == ["completed", "refused"]
    assert {r["case"]["id_number"] for r in cases} == {ID_NUMBER}
    assert {r["events"][0]["note"] for r in cases} == {NOTE}, "what the blanking took is in the archive"
    completed = next(r for r in cases if r["case"]["status"] == "completed")
    assert completed["rating"]["reason"] == REASON and completed["return_call"]["reason"] == REASON
    (visit,) = [r for r in records if "case" not in r]
    assert visit["rating"]["reason"] == REASON and visit["return_call"]["outcome"].startswith("已回访")
    assert purge(hub.engine, settings, now, history_keep_s=86400, seal=backups.seal_file)["archived"] == 0


def test_an_archive_batch_a_crash_left_in_clear_is_sealed_by_the_next_night(hub, tmp_path: Path):
    folder = tmp_path / "archive"
    folder.mkdir(mode=0o700)
    left = folder / "cases-20261206T013000-0001.jsonl.gz.partial"
    left.write_bytes(gzip.compress(json.dumps({"case": {"id_number": ID_NUMBER}}).encode()))
    settings = HubSettings(database_url=hub.settings.database_url, archive_dir=str(folder), case_keep_days=365)
    audit_key = AuditKey.init(tmp_path / "audit.key")
    public = make_backup_key(tmp_path / "backup.key")
    backups = HubBackups(hub.settings.database_url, tmp_path / "backups", 3, public, audit_key.backup_signing_key)
    purge(hub.engine, settings, utcnow(), history_keep_s=86400, seal=backups.seal_file)
    assert [p.name for p in folder.iterdir()] == ["cases-20261206T013000-0001.jsonl.gz.sealed"]


def test_every_count_of_the_terminals_night_has_words_on_the_fleet_page():
    """The counts the terminal's night reports, as docs/night.md lists them, are named in Chinese (the page
    said ``resent_cases 3``, ``offset_ms 120``)."""
    import json
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    doc = (root / "docs" / "night.md").read_text("utf-8").split("## The terminal's night", 1)[1].split("\n\n", 2)[1]
    counts = {c for line in doc.splitlines()[2:] for c in re.findall(r"`(\w+)`", line.rsplit("|", 2)[1])}
    assert {"bytes", "resent_cases", "offset_ms", "backup_ratings"} <= counts, counts
    named = json.loads((root / "hub" / "messages" / "fleet.zh.json").read_text("utf-8"))["night"]["counts"]
    assert counts <= set(named), counts - set(named)


def test_a_missed_night_raised_by_two_at_once_is_raised_once_and_fails_neither(pg_url):
    """Concurrency review: the hub night's `nights` step and the leader's tick both raising a terminal's
    missed night: the second's insert met the first's on the index of active alerts and its whole
    transaction failed (the night reported a failed step). Here another transaction raises the alert,
    uncommitted, while missed_nights runs: it waits, then raises nothing and does not fail."""
    import threading

    from hub.db.engine import open_engine

    engine = open_engine(pg_url)
    try:
        register_terminal(engine, "T1")
        with engine.begin() as conn:
            conn.execute(text("UPDATE terminal_register SET registered_at = :t"), {"t": utcnow() - timedelta(days=2)})
        other = engine.connect()
        tick = other.begin()
        other.execute(
            text("INSERT INTO fleet_alerts (terminal_id, kind, detail, raised_at) VALUES ('T1', :k, 'tick', :t)"),
            {"k": NIGHT_MISSED, "t": utcnow()},
        )
        got: list[object] = []
        night = threading.Thread(target=lambda: got.append(missed_nights(engine, utcnow(), allowed_h=36)))
        night.start()
        night.join(1.0)  # it waits on the uncommitted alert
        tick.commit()
        other.close()
        night.join(30)
        assert got == [(0, 0)]
        with engine.connect() as conn:
            active = conn.execute(text("SELECT count(*) FROM fleet_alerts WHERE cleared_at IS NULL")).scalar()
        assert active == 1
    finally:
        engine.dispose()
