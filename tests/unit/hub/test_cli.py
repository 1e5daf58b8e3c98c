"""``shegong hub calendar|report|user|audit anchor``: thin commands over the library, errors as messages;
they act on the catalogue in force, and a calendar edit moves the due dates of open cases."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import click
import pytest
from sqlalchemy import text

from harness.broker import free_port
from hub import cli
from hub import settings as hub_settings
from hub.audit.chain import bind_key_file
from hub.audit.keyed import key_path
from hub.catalogue.store import CatalogueStore
from hub.db.engine import open_engine
from protocol.envelope import utcnow
from protocol.localtime import local_date
from tests.unit.hub.helpers import ingest


@pytest.fixture
def db(hub_db_url, monkeypatch):
    monkeypatch.setenv("SHEGONG_HUB_DATABASE_URL", hub_db_url)
    engine = open_engine(hub_db_url)
    bind_key_file(engine, key_path(hub_settings.load()))  # as every hub process: entries sealed as appended
    yield engine
    engine.dispose()


def test_the_calendar_is_kept_from_the_command_line(db, capsys):
    assert cli.main(["calendar", "set", "2090-12-31", "off", "跨年调休"]) == 0  # a day that stays ahead of the clock
    cli.main(["calendar", "list", "2026"])
    cli.main(["calendar", "list", "2090"])
    out, err = capsys.readouterr()
    assert "2026-10-01\toff\t国庆节\tseed" in out and "2090-12-31\toff\t跨年调休\tcli:" in out
    # the years still to enter, as the pages name them: at least this one's next from November (2026 alone is in)
    today = local_date(utcnow())
    missing = {today.year} - {2026} | ({today.year + 1} if today.month >= 11 else set())
    assert {int(line[:4]) for line in err.splitlines() if "arrangement not complete" in line} == missing
    with pytest.raises(cli.HubError):  # nothing entered for it
        cli.main(["calendar", "complete", "2091"])
    assert cli.main(["calendar", "complete", "2090"]) == 0
    cli.main(["calendar", "complete", "2090"])
    assert capsys.readouterr().out.splitlines() == [
        "2090: arrangement complete",
        "2090: arrangement complete (already)",
    ]
    cli.main(["calendar", "remove", "2090-12-31"])
    with pytest.raises(cli.HubError):
        cli.main(["calendar", "remove", "2090-12-31"])
    with pytest.raises(cli.UsageError):
        cli.main(["calendar", "set", "2026-13-01", "off", "x"])
    with pytest.raises(cli.UsageError):
        cli.main(["calendar", "complete", "2090-12-31"])


def test_a_calendar_set_from_the_command_line_moves_the_due_dates_of_open_cases(db, capsys):
    (case,) = ingest(db, ["GA-003"], at=datetime(2026, 12, 30, 2, 0, tzinfo=UTC))  # Thu 31, Fri 1, Mon 4
    assert cli.main(["calendar", "set", "2027-01-01", "off", "元旦"]) == 0
    assert "due dates of 1 open case(s) counted again" in capsys.readouterr().out
    with db.connect() as conn:
        due = conn.execute(text("SELECT due_date FROM cases WHERE case_id = :c"), {"c": case}).scalar_one()
    assert str(due)[:10] == "2027-01-05"  # Thu 31, Mon 4, Tue 5


def test_a_run_of_holidays_is_entered_at_once_and_counts_open_cases_again_once(db, capsys):
    """春节 as a notice states it (a run of days off): one command, one transaction, one recount."""
    # Thursday 28 January 2027 + 10 working days, nothing of 2027 entered: Fri 29 (1); Mon 1 – Fri 5
    # February (2–6); Mon 8 – Thu 11 (7–10): due Thursday 11 February.
    (case,) = ingest(db, ["MZ-006"], at=datetime(2027, 1, 28, 2, 0, tzinfo=UTC))
    with db.connect() as conn:
        due = conn.execute(text("SELECT due_date FROM cases WHERE case_id = :c"), {"c": case}).scalar_one()
    assert str(due)[:10] == "2027-02-11"
    assert cli.main(["calendar", "set", "2027-02-05..2027-02-11", "off", "春节"]) == 0
    assert "2027-02-05..2027-02-11: off (春节); due dates of 1 open case(s)" in capsys.readouterr().out
    with db.connect() as conn:
        due = conn.execute(text("SELECT due_date FROM cases WHERE case_id = :c"), {"c": case}).scalar_one()
        audit = conn.execute(
            text("SELECT action, subject FROM audit WHERE action LIKE 'calendar.%' OR action = 'cases.due_recounted'")
        ).all()
    # Fri 29 (1); Mon 1 – Thu 4 (2–5); Fri 5 – Thu 11 off; Fri 12 (6); Mon 15 – Thu 18 (7–10): Thursday 18.
    assert str(due)[:10] == "2027-02-18"
    assert [a for a, _ in audit].count("calendar.set") == 7 and [a for a, _ in audit].count("cases.due_recounted") == 1
    assert {s for a, s in audit if a == "calendar.set"} == {f"2027-02-{d:02d}" for d in range(5, 12)}

    for bad in ("2027-02-11..2027-02-05", "2027-01-01..2027-03-01"):  # backwards; longer than a month
        with pytest.raises(cli.HubError, match="一次最多录入 31 天"):
            cli.main(["calendar", "set", bad, "off", "x"])
    with pytest.raises(cli.HubError, match="2027-02-08 是工作日"):  # Sat 6 – Mon 8 as worked days
        cli.main(["calendar", "set", "2027-02-06..2027-02-08", "work", "春节调休"])
    with pytest.raises(cli.UsageError):
        cli.main(["calendar", "remove", "2027-02-05..2027-02-11"])
    with db.connect() as conn:
        kept = conn.execute(text("SELECT count(*) FROM calendar_days WHERE day >= '2027-01-01'")).scalar_one()
    assert kept == 7  # nothing of the refused ones written


def test_the_commands_act_on_the_catalogue_in_force(db, capsys, monkeypatch):
    store = CatalogueStore(db)
    store.bootstrap()
    draft = json.loads(store.export())
    ga002 = next(i for i in draft["items"] if i["code"] == "GA-002")
    draft["departments"].append({"code": "JD", "name": "街道综合窗口", "name_en": "Street service window"})
    draft["items"].append({**ga002, "code": "JD-001", "department": "JD", "name": "居住证代办"})
    store.import_catalogue(json.dumps(draft, ensure_ascii=False), "cli:op")
    store.publish("cli:op")
    ingest(db, ["JD-001"])
    cli.main(["report", "--department", "JD"])
    assert '"name": "居住证代办"' in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("street-pass-1\n"))
    assert cli.main(["user", "add", "zhou", "--role", "clerk", "--department", "JD", "--password-stdin"]) == 0


def test_a_report_is_written_as_csv(db, tmp_path, capsys):
    ingest(db, ["MZ-001", "GA-003"])
    target = tmp_path / "report.csv"
    assert cli.main(["report", "--csv", str(target)]) == 0
    rows = list(csv.reader(target.read_text(encoding="utf-8-sig").splitlines()))
    assert rows[1][:5] == ["全中心", "*", "全中心", "", "2"]
    cli.main(["report", "--department", "GA"])
    assert '"received": 1' in capsys.readouterr().out


def test_an_anchor_printed_earlier_catches_a_rewritten_tail(db, capsys):
    ingest(db, ["MZ-001"])
    ingest(db, ["GA-003"], start=1)
    cli.main(["audit", "anchor"])
    kept = capsys.readouterr().out.strip()
    with db.begin() as conn:
        last = conn.execute(text("SELECT max(id) FROM audit")).scalar_one()
        conn.execute(text("DELETE FROM audit WHERE id = :i"), {"i": last})
        head = conn.execute(text("SELECT hash FROM audit WHERE id = :i"), {"i": last - 1}).scalar_one()
        conn.execute(
            text("UPDATE audit_anchor SET entries = entries - 1, last_id = :i, head_hash = :h"),
            {"i": last - 1, "h": head},
        )
    assert cli.main(["audit", "verify"]) == 0  # rewritten consistently…
    with pytest.raises(cli.AuditBroken, match=f"broken at entry {last}: the newest entries were removed"):
        cli.main(["audit", "verify", "--anchor", kept])  # …but not against the anchor kept elsewhere


def test_every_hub_command_has_help_text():
    ctx = click.Context(cli.hub, info_name="hub")
    for name in cli.hub.list_commands(ctx):
        command = cli.hub.get_command(ctx, name)
        assert command is not None and (command.help or command.short_help), f"shegong hub {name} has no help text"
        options = [p for p in command.params if isinstance(p, click.Option)]
        assert all(o.help for o in options), f"an option of {name} has no help"


def test_a_partner_key_is_printed_once_kept_hashed_and_revoked_from_the_command_line(db, capsys):
    from argon2 import PasswordHasher

    from hub.open311.partners import Partners
    from hub.people import passwords

    passwords.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    try:
        assert cli.main(["partner", "add", "hotline-12345"]) == 0
        key = capsys.readouterr().out.strip().splitlines()[-1]
        key_id, secret = key.split(".")
        with db.connect() as conn:
            stored = conn.execute(text("SELECT key_id, key_hash FROM open311_partners")).one()
        assert stored.key_id == key_id and secret not in stored.key_hash and stored.key_hash.startswith("$argon2")
        assert Partners(db).authenticate(key) is not None
        with pytest.raises(cli.HubError):
            cli.main(["partner", "add", "hotline-12345"])  # a name is taken once
        cli.main(["partner", "list"])
        assert f"hotline-12345\t{key_id}\t" in capsys.readouterr().out
        assert cli.main(["partner", "revoke", "hotline-12345"]) == 0
        assert Partners(db).authenticate(key) is None
        cli.main(["partner", "list"])
        assert "revoked" in capsys.readouterr().out
        with pytest.raises(cli.HubError):
            cli.main(["partner", "revoke", "nobody"])
    finally:
        passwords.use_hasher(PasswordHasher())


def test_a_database_that_cannot_be_opened_is_one_line_naming_it_without_its_password(tmp_path, monkeypatch, capsys):
    """An operator's command against a database it cannot reach: exit 2 and one line saying which database
    and why (no traceback, no password), whether the SQLite file cannot be made or the server refuses."""
    from shegong import cli as shegong_cli

    in_a_file = tmp_path / "a-file"
    in_a_file.write_text("")
    monkeypatch.setenv("SHEGONG_HUB_DATABASE_URL", f"sqlite:///{in_a_file}/hub.db")
    assert shegong_cli.main(["hub", "terminal", "list"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        f"shegong hub: cannot open the database sqlite:///{in_a_file}/hub.db: File exists ({in_a_file})"
    ]

    port = free_port()  # nothing listens there
    monkeypatch.setenv("SHEGONG_HUB_DATABASE_URL", f"postgresql+psycopg://shegong:s3cret-pw@127.0.0.1:{port}/hub")
    assert shegong_cli.main(["hub", "terminal", "list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"shegong hub: cannot open the database postgresql+psycopg://shegong:***@127.0.0.1:{port}/hub: "
    )
    assert "Connection refused" in err and "s3cret-pw" not in err and "Traceback" not in err


def test_an_import_over_a_draft_with_changes_needs_replace_draft(db, tmp_path, capsys):
    """The draft is every manager's: `catalogue import` replaced one holding a colleague's unpublished edit
    without a word. Now it is refused, naming how to keep the draft, until --replace-draft."""
    store = CatalogueStore(db)
    store.bootstrap()
    shipped = tmp_path / "shipped.json"
    shipped.write_text(store.export(), encoding="utf-8")
    ga003 = store.get().get("GA-003")
    store.update_item("GA-003", {"promised_days": ga003.promised_days + 1}, "user:colleague")
    with pytest.raises(cli.HubError, match="--replace-draft"):
        cli.main(["catalogue", "import", str(shipped)])
    assert store.draft().get("GA-003").promised_days == ga003.promised_days + 1, "kept"
    assert cli.main(["catalogue", "import", str(shipped), "--replace-draft"]) == 0
    assert store.draft().get("GA-003").promised_days == ga003.promised_days
    assert "imported from" in capsys.readouterr().out
