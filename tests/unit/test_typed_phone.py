"""A phone number as people type it (protocol.typed.typed_phone): grouped with spaces, dashes or parentheses,
written for abroad with +86, 0086 or 86, in a phone's full-width digits — each example written out here by
hand with the digits it is stored as. A mainland mobile is its 11 digits; a landline keeps its area code's 0."""

from __future__ import annotations

import pytest

from protocol.typed import typed_phone


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("13800138000", "13800138000"),
        ("+86 138-0013-8000", "13800138000"),
        ("+8613800138000", "13800138000"),
        ("0086 138 0013 8000", "13800138000"),
        ("86-138-0013-8000", "13800138000"),
        ("１３８００１３８０００", "13800138000"),  # U+FF11 …: a phone's full-width digits
        ("＋８６ １３８－００１３－８０００", "13800138000"),  # full-width plus and dash, a space
        (" 138 0013 8000\n", "13800138000"),
        ("138\u200b0013\u30008000", "13800138000"),  # a zero-width space, an ideographic space
        ("(021) 6234 5678", "02162345678"),
        ("（０２１）６２３４５６７８", "02162345678"),  # full-width parentheses
        ("021-12345678", "02112345678"),
        ("0571—8765 4321", "057187654321"),  # an em dash, a four-digit area code
        ("6234-5678", "62345678"),
    ],
)
def test_a_phone_number_typed_any_of_these_ways_is_stored_as_its_digits(typed: str, stored: str) -> None:
    assert typed_phone(typed) == stored


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("+86 021 6234 5678", "+8602162345678"),  # the prefix is dropped for a mobile only
        ("86 12345678901", "8612345678901"),  # 12… is no mobile: not a prefix to drop
        ("138-0013-800", "1380013800"),  # ten digits: stays wrong
        ("", ""),
    ],
)
def test_what_is_not_a_mainland_mobile_keeps_its_digits_for_the_check_to_refuse(typed: str, kept: str) -> None:
    assert typed_phone(typed) == kept
