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
