"""Migration h0013 gives the open cases already in a hub the working days they were promised, worked
back from the due date they were given on the calendar the database holds (the 2026 arrangement);
where no number gives that date again, and for decided cases, it leaves the value empty. Expected
values are worked by hand. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from hub.db.engine import _MIGRATIONS, migrate, open_engine


def _case(conn, case_id: str, status: str, received: datetime, due: date | None, paused: int | None = None) -> None:
    conn.execute(
        text(
            "INSERT INTO cases (case_id, terminal_id, committee, receipt_no, query_code, item_code, department,"
            " status, version, id_number, applicant_name, created_at, sent_at, received_at, due_date, updated_at,"
            " payload) VALUES (:id, 'T1', 'JW001', :id, 'ABC234', 'GA-003', 'GA', :status, 1, '310101195503120021',"
            " '张三', :at, :at, :at, :due, :at, '{}')"
        ),
        {"id": case_id, "status": status, "at": received, "due": due},
    )
    if paused is not None:
        conn.execute(
            text(
                "INSERT INTO case_work (case_id, department, item_code, assignee, paused_days, notices, outcome)"
                " VALUES (:id, 'GA', 'GA-003', 'li', :paused, 1, '')"
            ),
            {"id": case_id, "paused": paused},
        )


@pytest.mark.empty_db
def test_open_cases_get_the_days_that_give_their_due_date_again(hub_db_url):
    engine = open_engine(hub_db_url, upgrade=False)
    try:
        migrate(engine, "h0011")
        monday = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
        saturday = datetime(2026, 3, 7, 2, 0, tzinfo=UTC)
        with engine.begin() as conn:
            _case(conn, "three", "accepted", monday, date(2026, 3, 5))  # Tue 3, Wed 4, Thu 5
            _case(conn, "paused", "under_review", monday, date(2026, 3, 9), paused=2)  # Thu 5 + Fri 6, Mon 9
            _case(conn, "same-day", "submitted", saturday, date(2026, 3, 7))  # an immediate item on a Saturday
            _case(conn, "national-day", "submitted", datetime(2026, 9, 30, 2, tzinfo=UTC), date(2026, 10, 13))
            _case(conn, "impossible", "submitted", monday, date(2026, 3, 8))  # a Sunday: no count ends there
            _case(conn, "decided", "completed", monday, date(2026, 3, 5))
            _case(conn, "no-due-date", "submitted", monday, None)
        migrate(engine)
        with engine.connect() as conn:
            got = dict(conn.execute(text("SELECT case_id, promised_days FROM cases")).all())
        assert got == {
            "three": 3,
            "paused": 3,
            "same-day": 0,
            "national-day": 5,  # 国庆 1–7 Oct off: Thu 8, Fri 9, Sat 10 (调休), Mon 12, Tue 13
            "impossible": None,
            "decided": None,
            "no-due-date": None,
        }
    finally:
        engine.dispose()


@pytest.mark.empty_db
def test_years_an_entered_day_made_known_are_asked_for_again(hub_db_url):
    """h0027: a year in calendar_years is one said complete. Years that entering one day put there before
    (source 'administrator') are taken out; the shipped 2026 stays."""
    engine = open_engine(hub_db_url, upgrade=False)
    try:
        migrate(engine, "h0026_rating_stamps")
        at = datetime(2026, 12, 7, 2, tzinfo=UTC)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO calendar_days (day, kind, name, updated_by, updated_at)"
                    " VALUES (:d, 'off', '元旦', 'u', :at)"
                ),
                {"d": date(2027, 1, 1), "at": at},
            )
            conn.execute(
                text("INSERT INTO calendar_years (year, source, updated_at) VALUES (2027, 'administrator', :at)"),
                {"at": at},
            )
        migrate(engine)
        with engine.connect() as conn:
            assert [y for (y,) in conn.execute(text("SELECT year FROM calendar_years ORDER BY year"))] == [2026]
            assert conn.execute(text("SELECT count(*) FROM calendar_days WHERE day >= '2027-01-01'")).scalar() == 1
        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        with engine.begin() as conn:  # and back: a year with a day entered is in the table again
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "h0026_rating_stamps")
        with engine.connect() as conn:
            assert [
                tuple(r) for r in conn.execute(text("SELECT year, source FROM calendar_years WHERE year > 2026"))
            ] == [(2027, "administrator")]
    finally:
        engine.dispose()


@pytest.mark.empty_db
def test_an_upgrade_that_needs_a_persons_decision_stops_in_one_line(hub_db_url, capsys, monkeypatch):
    """h0012 stops when two cases of a committee share a receipt number (terminals before receipt series
    numbered alike): which keeps it is for a person. An upgrade review saw that as a traceback, under
    systemd every 5 s; it is one line naming the numbers, and the database stays as it was."""
    from shegong import cli

    engine = open_engine(hub_db_url, upgrade=False)
    try:
        migrate(engine, "h0011")
        monday = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
        with engine.begin() as conn:
            _case(conn, "first", "submitted", monday, date(2026, 3, 5))
            _case(conn, "second", "submitted", monday, date(2026, 3, 5))
            conn.execute(text("UPDATE cases SET receipt_no = 'JW001-20260302-0001'"))
        monkeypatch.setenv("SHEGONG_HUB_DATABASE_URL", hub_db_url)
        assert cli.main(["hub", "migrate"]) == 2
        said = capsys.readouterr().err.strip()
        assert "Traceback" not in said and len(said.splitlines()) == 1
        assert "JW001-20260302-0001 (2 cases)" in said
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "h0011"
    finally:
        engine.dispose()


@pytest.mark.empty_db
def test_a_case_waiting_in_bu_zheng_keeps_the_start_and_dates_of_its_pause(hub_db_url):
    """h0030: a case waiting in 补正 gets its pause's start and the due dates it had then, which its
    resumption would otherwise move past a period it was late in; one that resumed already is not known."""
    engine = open_engine(hub_db_url, upgrade=False)
    try:
        migrate(engine, "h0029_terminal_birth_seq")
        monday = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
        paused_at = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)
        with engine.begin() as conn:
            _case(conn, "waiting", "more_materials", monday, date(2026, 3, 5), paused=0)
            _case(conn, "resumed", "under_review", monday, date(2026, 3, 9), paused=2)
            conn.execute(text("UPDATE case_work SET paused_at = :at WHERE case_id = 'waiting'"), {"at": paused_at})
            conn.execute(
                text("UPDATE cases SET statutory_due = :d WHERE case_id = 'waiting'"), {"d": date(2026, 3, 23)}
            )
        migrate(engine)
        with engine.connect() as conn:
            got = {
                case_id: (
                    str(began)[:16] if began else None,
                    str(due)[:10] if due else None,
                    str(law)[:10] if law else None,
                )
                for case_id, began, due, law in conn.execute(
                    text("SELECT case_id, pause_began, due_before_pause, statutory_before_pause FROM case_work")
                )
            }
        assert got == {"waiting": ("2026-03-03 02:00", "2026-03-05", "2026-03-23"), "resumed": (None, None, None)}
    finally:
        engine.dispose()
