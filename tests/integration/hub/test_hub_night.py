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

from sqlalchemy import text

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


def test_old_closed_cases_are_archived_then_anonymised_and_operational_tables_bounded(hub, tmp_path: Path):
    now = utcnow()
    old, recent = now - timedelta(days=400), now - timedelta(days=10)
    sqlite = hub.engine.dialect.name == "sqlite"

    def ts(t):
        return t.replace(tzinfo=None) if sqlite else t

    with hub.engine.begin() as conn:
        for n, (status, decided) in enumerate(
            [("completed", old), ("rejected", recent), ("accepted", None), ("refused", old)]
        ):
            conn.execute(
                text(
                    "INSERT INTO cases(case_id, terminal_id, committee, receipt_no, query_code, item_code, department,"
                    " status, version, id_number, applicant_name, created_at, sent_at, received_at, updated_at,"
                    " payload) VALUES (:c, 'T1', 'JW001', :r, 'ABCDEF', 'JB-001', 'minzheng', :s, 2,"
                    " '310101195503120028', '张三', :t, :t, :t, :t, '{\"applicant\": \"张三\"}')"
                ),
                {
                    "c": f"00000000-0000-7000-8000-00000000000{n}",
                    "r": f"JW001-20250101-000{n}",
                    "s": status,
                    "t": ts(old),
                },
            )
            conn.execute(
                text(
                    "INSERT INTO case_work(case_id, department, item_code, assignee, paused_days, notices, decided_at,"
                    " outcome) VALUES (:c, 'minzheng', 'JB-001', '', 0, 0, :d, :o)"
                ),
                {"c": f"00000000-0000-7000-8000-00000000000{n}", "d": ts(decided) if decided else None, "o": status},
            )
        conn.execute(
            text(
                "INSERT INTO dead_letters(received_at, topic, terminal_id, reason, detail, size, payload)"
                " VALUES (:t, 'x', 'T1', 'malformed_json', 'x', 1, :p)"
            ),
            {"t": ts(old), "p": b"x"},
        )
    settings = HubSettings(
        database_url=hub.settings.database_url, archive_dir=str(tmp_path / "archive"), case_keep_days=365
    )
    counts = purge(hub.engine, settings, now, history_keep_s=86400)
    assert counts["archived"] == 2 and counts["dead_letters"] == 1  # a refused case is closed too

    with hub.engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT status, id_number FROM cases")).all())
    assert rows == {"completed": "", "rejected": "310101195503120028", "accepted": "310101195503120028", "refused": ""}
    (archive,) = list((tmp_path / "archive").iterdir())
    assert archive.stat().st_mode & 0o777 == 0o600
    with gzip.open(archive, "rt") as f:
        records = [json.loads(line) for line in f]
    assert sorted(r["case"]["status"] for r in records) == ["completed", "refused"]
    assert {r["case"]["id_number"] for r in records} == {"310101195503120028"}
    assert purge(hub.engine, settings, now, history_keep_s=86400)["archived"] == 0, "archived once"


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
