"""A receipt number as people type it (protocol.typed.typed_receipt): what a phone's Chinese input gives
(full-width letters, digits and dash), lower case, spaces, other dashes — each written out here by hand —
reads as the number printed on the receipt."""

from __future__ import annotations

import pytest

from protocol.typed import typed_receipt

PRINTED = "JW001-20261204-0042"


@pytest.mark.parametrize(
    "typed",
    [
        "JW001-20261204-0042",
        "jw001-20261204-0042",
        "  JW001-20261204-0042\n",
        "ＪＷ００１－２０２６１２０４－００４２",  # U+FF2A U+FF37 … U+FF0D: full-width
        "ｊｗ００１－20261204－0042",
        "JW001 - 20261204 - 0042",
        "JW001—20261204—0042",  # em dash
        "JW001–20261204–0042",  # en dash
        "JW001‐20261204‐0042",  # hyphen U+2010
        "JW001−20261204−0042",  # minus sign U+2212
        "JW001-\u300020261204-0042",  # an ideographic space
        "JW001-2026 1204-0042",
        "JW001-２０２６１２０４-0042\u3000",
        "JW001-20261204\u200b-0042",  # a zero-width space, pasted from a message
        "\ufeffJW001-20261204-0042\u00a0",  # a byte-order mark, a no-break space
    ],
)
def test_a_receipt_typed_any_of_these_ways_reads_as_the_printed_one(typed: str) -> None:
    assert typed_receipt(typed)[0] == PRINTED


def test_the_letters_as_typed_are_kept_for_a_committee_code_configured_in_lower_case() -> None:
    assert typed_receipt(" ｊｗ００１－２０２６１２０４－００４２ ") == (PRINTED, "jw001-20261204-0042")


def test_what_is_not_a_receipt_stays_not_one() -> None:
    assert typed_receipt("JW001_20261204_0042")[0] == "JW001_20261204_0042"
    assert typed_receipt("") == ("", "")


# Grouped with spaces, or typed with no separator at all: the dashes go back where they are printed. Each reading
# below is worked out by hand from the receipt's shape (code, YYYYMMDD, a 4–6 digit sequence).
@pytest.mark.parametrize(
    ("typed", "printed"),
    [
        ("JW001 20261204 0042", PRINTED),
        ("jw001 2026 1204 0042", PRINTED),  # the date grouped too
        ("ＪＷ００１　２０２６１２０４　００４２", PRINTED),  # full-width, ideographic spaces
        ("JW001202612040042", PRINTED),  # no separator: only 2026-12-04 is a date (…0012-02612040 is not)
        ("JW00120261204 0042", PRINTED),
        ("JW001 20261204-0042", PRINTED),  # one dash typed, one space
        ("JW-001-20261204-0042", PRINTED),  # a dash inside the code: not where the number has one
        ("JW001 20261204 10042", "JW001-20261204-10042"),  # a terminal's series digit
        ("JW0012026120410042", "JW001-20261204-10042"),
        ("OPEN311 20261203 000001", "OPEN311-20261203-000001"),  # Open311's, a code ending in digits
        ("open31120261203000001", "OPEN311-20261203-000001"),
        ("JW1202012310001", "JW1-20201231-0001"),  # JW-12020123-10001 would be dated in the year 1202
    ],
)
def test_a_receipt_grouped_with_spaces_or_typed_without_dashes_reads_as_the_printed_one(
    typed: str, printed: str
) -> None:
    assert typed_receipt(typed)[0] == printed
    assert typed_receipt(typed)[0] == typed_receipt(printed)[0]


def test_the_letters_as_typed_are_kept_when_the_dashes_are_put_back() -> None:
    assert typed_receipt("jw001 20261204 0042") == (PRINTED, "jw001-20261204-0042")


def test_digits_that_read_two_ways_give_both_the_spaces_typed_deciding_which_comes_first() -> None:
    """A20|20101231|0001 (31 December 2010) and A|20201012|310001 (12 October 2020) are both receipts;
    A2|02010123|10001 is not (the year 201)."""
    both = ("A20-20101231-0001", "A-20201012-310001")
    assert typed_receipt("A20201012310001")[:2] == both  # nothing typed between: the shorter sequence first
    assert typed_receipt("A20 20101231 0001")[:2] == both
    assert typed_receipt("A 20201012 310001")[:2] == both[::-1]
    assert set(typed_receipt("a20201012310001")) == {*both, "a20-20101231-0001", "a-20201012-310001"}


@pytest.mark.parametrize("typed", ["JW001 20261399 0001", "JW001202602300001", "JW001 20261204 042", "JW001 2026"])
def test_digits_that_hold_no_real_date_or_sequence_are_not_made_into_a_receipt(typed: str) -> None:
    """The 99th of the 13th month, 30 February, a 3-digit sequence, no sequence: nothing to find."""
    assert "-" not in typed_receipt(typed)[0]
