"""An ID number and a query code as residents type them (protocol.typed), then checked (protocol.idnumber).

On a phone the Chinese input gives full-width digits and ``Ｘ``; people write a lower-case ``x``, group the
digits with spaces or dashes, paste the number with white space around it or a zero-width space inside.
Each of those, written out here by hand, must read as the one number on the card — and a number that is
wrong stays wrong, refused with its reason.

The expected numbers do not come from the code under test: ``31010119900307751X`` is worked by hand below
(GB 11643 weights), and checked again by ISO 7064 MOD 11-2 in its recursive form, written out in this file
(a second implementation, unlike both the product's and ``tests.support``'s weighted sum).
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from stdnum.cn import ric

from protocol import idnumber
from protocol.cases import Applicant
from protocol.typed import fold, typed_id_number, typed_query_code

# By hand, 31010119900307751 with the weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2:
# 21 + 9 + 0 + 5 + 0 + 4 + 2 + 9 + 54 + 0 + 0 + 27 + 0 + 35 + 56 + 20 + 2 = 244; 244 mod 11 = 2;
# "10X98765432"[2] = "X". A man (17th digit odd) born 1990-03-07 in Huangpu (310101).
NUMBER = "31010119900307751X"
WRONG_CHECK = "310101199003077515"  # the same body, another check character


def mod_11_2(body: str) -> str:
    """ISO 7064 MOD 11-2, pure system, recursive form: P = ((P + digit) · 2) mod 11 over the body, then the
    check value C with (P + C) mod 11 = 1; 10 is written X."""
    p = 0
    for digit in body:
        p = ((p + int(digit)) * 2) % 11
    c = (1 - p) % 11
    return "X" if c == 10 else str(c)


def test_the_numbers_here_are_right_by_a_second_implementation() -> None:
    assert mod_11_2(NUMBER[:17]) == "X"
    assert mod_11_2("11010519491231002") == "X"  # GB 11643-1999's own sample, 11010519491231002X
    assert mod_11_2(WRONG_CHECK[:17]) != WRONG_CHECK[17]
    # stdnum's cn.ric agrees — given the whole 18-character number: it drops the last character itself
    # (handed the 17-digit body it would compute over 16 digits).
    assert ric.calc_check_digit(NUMBER) == "X"


@pytest.mark.parametrize(
    "typed",
    [
        NUMBER,
        "31010119900307751x",  # lower-case x
        "３１０１０１１９９００３０７７５１Ｘ",  # a phone's full-width digits and X (U+FF10…, U+FF38)
        "３１０１０１１９９００３０７７５１ｘ",  # full-width lower-case x (U+FF58)
        "  31010119900307751X\n",  # pasted, with white space around
        "310101 19900307 751X",  # grouped: region, birth date, sequence and check
        "310101-19900307-751x",
        "310101－19900307－751X",  # the full-width dash
        "310101\u300019900307\u3000751X",  # ideographic spaces
        "3101011990\u200b0307751X",  # a zero-width space, pasted from a message
        "\ufeff31010119900307751X\u00a0",  # a byte-order mark and a no-break space
    ],
)
def test_an_id_number_typed_any_of_these_ways_is_the_one_on_the_card(typed: str) -> None:
    assert typed_id_number(typed) == NUMBER
    assert idnumber.validate(typed_id_number(typed)) == NUMBER


@pytest.mark.parametrize(
    "typed, reason",
    [
        ("３１０１０１１９９００３０７７５１５", "校验码不符"),  # full-width, with the wrong check character
        ("310101 19900307 7515", "校验码不符"),
        ("310101 19900307 751", "格式"),  # a character short
        ("310101 19901307 751x", "出生日期"),  # month 13
        ("310101-19900307-751Y", "格式"),
    ],
)
def test_a_wrong_number_stays_wrong_however_it_is_typed(typed: str, reason: str) -> None:
    with pytest.raises(idnumber.InvalidIdNumber, match=reason) as refused:
        idnumber.validate(typed_id_number(typed))
    assert typed_id_number(typed)[:17] not in str(refused.value), "the reason, never the number"


def test_full_width_digits_are_not_an_id_number_until_they_are_read_as_typed() -> None:
    """Python's \\d, and pydantic's pattern, take any Unicode digit: a full-width number must not pass as
    itself (it would be stored unlike the one printed and never be found again)."""
    full_width = "３１０１０１１９９００３０７７５１X"
    with pytest.raises(idnumber.InvalidIdNumber, match="格式"):
        idnumber.validate(full_width)
    with pytest.raises(ValidationError):
        Applicant(id_number=full_width, name="测试")
    with pytest.raises(idnumber.InvalidIdNumber):
        idnumber.with_check_digit(full_width[:17])
    assert Applicant(id_number=typed_id_number(full_width), name="测试").id_number == NUMBER


@pytest.mark.parametrize("typed", ["ABC234", "abc234", " ａｂｃ２３４ ", "ABC 234", "abc-234", "ＡＢＣ\u3000２３４\n"])
def test_a_query_code_typed_any_of_these_ways_is_the_printed_one(typed: str) -> None:
    assert typed_query_code(typed) == "ABC234"


def test_fold_keeps_what_is_not_white_space_dash_or_width() -> None:
    assert fold("JW001_x") == "JW001_x", "letters keep their case; other punctuation stays"
    assert fold("") == ""
