"""A date as residents type it on the kiosk's keypad or elsewhere, read as ISO (protocol.typed.typed_date).
Expected values written by hand; what is not a date stays as typed, for the form's check to refuse."""

from __future__ import annotations

import pytest

from protocol.typed import typed_date


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("20260105", "2026-01-05"),  # the keypad's eight digits
        ("2026-01-05", "2026-01-05"),
        ("2026-1-5", "2026-01-05"),
        ("2026/01/05", "2026-01-05"),
        ("2026.1.5", "2026-01-05"),
        ("2026年1月5日", "2026-01-05"),
        ("２０２６０１０５", "2026-01-05"),  # a phone's full-width digits
        (" 2026 - 01 - 05 ", "2026-01-05"),
        ("20240229", "2024-02-29"),  # a leap day
        ("20250229", "20250229"),  # no such day: left for the check
        ("20261301", "20261301"),
        ("2026015", "2026015"),  # seven digits
        ("2026-01", "2026-01"),
        ("", ""),
    ],
)
def test_a_typed_date_is_read_as_iso_or_left_for_the_check(typed: str, read: str) -> None:
    assert typed_date(typed) == read
