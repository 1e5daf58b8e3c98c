"""ID numbers as card readers meet them (GB 11643-1999), checked by ``protocol.idnumber``.

Format, check digit and a sane birth date decide; the address code never does: Pudong (310115) people
born before the district existed, Chongming (310151) people born before 2016, and Hong Kong, Macao and
Taiwan residence permits (810000, 820000, 830000) are accepted — python-stdnum's own ``validate``
refuses them, which is why the project does not use it. A card carrying such a number is read normally.
Check characters here come from the standard's sample, a sum worked by hand, or the rule written out in
``tests.support`` — never from the code under test.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from stdnum.cn import ric
from stdnum.exceptions import InvalidComponent

from edge.devices.idtext import facts_from_text
from edge.devices.sim.identities import identity
from protocol import idnumber
from tests.support import check_character

#: 张伟's number, worked by hand: 3·7 + 1·9 + 0·10 + 1·5 + 0·8 + 1·4 + 1·2 + 9·1 + 5·6 + 4·3 + 0·7 + 9·9
#: + 2·10 + 7·5 + 3·8 + 1·4 + 7·2 = 270; 270 mod 11 = 6; "10X98765432"[6] = "6".
NUMBER = "310101195409273176"


def with_check(first17: str) -> str:
    """``first17`` with its check character by the rule written out in the tests, not the product's."""
    return first17 + check_character(first17)


@pytest.mark.parametrize(
    "first17",
    ["31011519500301123", "31015119620815234", "81000019900101001", "82000019851212002", "83000020000229003"],
    ids=["pudong-1950", "chongming-1962", "hong-kong", "macao", "taiwan"],
)
def test_region_codes_missing_from_tables_are_never_refused(first17: str) -> None:
    number = with_check(first17)
    assert idnumber.validate(number) == number
    with pytest.raises(InvalidComponent):  # what a region table would have done
        ric.validate(number)


@pytest.mark.parametrize("first17", ["31011519500301123", "81000019900101001"])
def test_cards_with_such_numbers_are_read_normally(first17: str) -> None:
    number = with_check(first17)
    text = replace(identity("zhang-wei").id_text(), id_number=number, birth=number[6:14])
    assert facts_from_text(text).id_number == number


def test_a_lower_case_x_is_normalised() -> None:
    assert idnumber.validate("11010519491231002x") == "11010519491231002X"  # GB 11643's own sample


def test_the_hand_worked_number_is_accepted() -> None:
    assert check_character(NUMBER[:17]) == NUMBER[17]
    assert idnumber.validate(NUMBER) == NUMBER


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        (NUMBER[:17], "格式"),  # 17 characters
        (NUMBER + "5", "格式"),
        (NUMBER[:17] + "A", "格式"),
        (with_check("31010119540230317"), "出生日期不存在"),  # 30 February
        (with_check("31010118800101317"), "出生日期不合理"),  # before 1890
        (NUMBER[:17] + "5", "校验码不符"),  # what python-stdnum gives when handed the 17 digits alone
        (NUMBER[:17] + "0", "校验码不符"),
    ],
)
def test_bad_numbers_are_refused_with_their_reason(number: str, reason: str) -> None:
    with pytest.raises(idnumber.InvalidIdNumber, match=reason):
        idnumber.validate(number)


def test_a_birth_date_in_the_future_is_refused() -> None:
    tomorrow = with_check("31010120991231001")
    with pytest.raises(idnumber.InvalidIdNumber, match="不合理"):
        idnumber.validate(tomorrow, today=date(2026, 1, 1))


def test_masking_keeps_region_and_last_four_only() -> None:
    assert idnumber.mask(NUMBER) == "310101********3176"
    assert idnumber.mask("11010519491231002X") == "110105********002X"
