"""What a database error may put in a log: never the statement's parameters nor the row PostgreSQL quotes
in its DETAIL. Each error is raised for real, on SQLite and PostgreSQL, with a resident's data in it."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from kernel.db import loggable, make_engine

ID_NUMBER, NAME = "31010419480716273X", "欧阳秀兰"


@pytest.fixture
def engine(hub_db_url):
    e = make_engine(hub_db_url)
    with e.begin() as conn:
        conn.execute(
            text("CREATE TABLE people (id_number VARCHAR(18) UNIQUE, name TEXT CHECK (name <> 'x'), born DATE)")
        )
    yield e
    with e.begin() as conn:
        conn.execute(text("DROP TABLE people"))
    e.dispose()


@pytest.mark.parametrize(
    "row",
    [
        {"i": ID_NUMBER, "n": NAME, "b": None},  # unique key: PostgreSQL's DETAIL says Key (id_number)=(…)
        {"i": ID_NUMBER + "9", "n": NAME, "b": None},  # too long for the column (PostgreSQL)
        {"i": "1", "n": "x", "b": None},  # CHECK: PostgreSQL's DETAIL says Failing row contains (…)
        {"i": "2", "n": NAME, "b": f"{ID_NUMBER}"},  # PostgreSQL quotes the bad date: 'for type date: "…"'
    ],
    ids=["unique", "too-long", "check", "bad-date"],
)
def test_a_database_error_is_logged_without_the_data_it_failed_on(engine, row):
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO people VALUES (:i, :n, NULL)"), {"i": ID_NUMBER, "n": NAME})
    raised = None
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO people VALUES (:i, :n, :b)"), row)
    except DBAPIError as exc:
        raised = exc
    if raised is None:
        pytest.skip("SQLite takes this row as it is")
    logged = loggable(raised)
    assert ID_NUMBER[:17] not in logged and NAME not in logged, logged
    assert "INSERT INTO people" in logged, "the statement (placeholders only) helps whoever reads the log"
    assert "[SQL parameters hidden due to hide_parameters=True]" in str(raised), "the engine hides parameters"


def test_any_other_exception_is_logged_by_kind_and_place_only():
    try:
        {}[ID_NUMBER]
    except KeyError as exc:
        logged = loggable(exc)
    assert logged.startswith("KeyError") and "test_db_logging.py" in logged and ID_NUMBER not in logged


def test_a_file_the_operator_must_fix_is_named(tmp_path):
    """The night's backup into a folder that is not there logged 'FileNotFoundError; message withheld': the
    operator could not tell which folder. A file system error names its path and reason (no data in them)."""
    missing = tmp_path / "no-such-folder" / "hub.db"
    try:
        missing.open("rb")
    except OSError as exc:
        logged = loggable(exc)
    assert logged.startswith(f"FileNotFoundError: No such file or directory: {missing}"), logged
