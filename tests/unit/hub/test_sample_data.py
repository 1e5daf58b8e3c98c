"""The synthetic cases behind benchmarks, screenshots and report tests carry real-looking ID numbers.

Each sample applicant's number must pass GB 11643's rule as the tests write it out, so a screenshot or a
report built from the sample never shows a number no resident could hold. Only SQLite: the numbers are
made before any database sees them.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import text

from harness.samples import populate
from hub.db.engine import open_engine
from protocol import idnumber
from tests.support import check_character


def test_every_sample_applicant_has_a_number_the_standard_accepts(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    try:
        assert populate(engine, 300, date(2026, 1, 5), days=30) == 300
        with engine.connect() as conn:
            numbers = [row[0] for row in conn.execute(text("SELECT id_number FROM cases"))]
    finally:
        engine.dispose()
    assert len(numbers) == 300
    for number in numbers:
        assert number[17] == check_character(number[:17])
        assert idnumber.validate(number) == number
