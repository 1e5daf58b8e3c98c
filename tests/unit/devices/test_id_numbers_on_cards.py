"""ID numbers as card readers meet them (GB 11643-1999), checked by ``protocol.idnumber``.

Format, check digit and a sane birth date decide; the address code never does: Pudong (310115) people
born before the district existed, Chongming (310151) people born before 2016, and Hong Kong, Macao and
Taiwan residence permits (810000, 820000, 830000) are accepted — python-stdnum's own ``validate``
refuses them, which is why the project does not use it. A card carrying such a number is read normally.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from edge.devices.idtext import facts_from_text
from edge.devices.sim.identities import identity
from protocol import idnumber


def with_check(first17: str) -> str:
    return first17 + ric.calc_check_digit(first17)


@pytest.mark.parametrize(
    "first17",
    ["31011519500301123", "31015119620815234", "81000019900101001", "82000019851212002", "83000020000229003"],
    ids=["pudong-1950", "chongming-1962", "hong-kong", "macao", "taiwan"],
)
def test_region_codes_missing_from_tables_are_never_refused(first17: str) -> None:
    number = with_check(first17)
    assert idnumber.validate(number) == number
    with pytest.raises(ValidationError):  # what a region table would have done
        ric.validate(number)


@pytest.mark.parametrize("first17", ["31011519500301123", "81000019900101001"])
def test_cards_with_such_numbers_are_read_normally(first17: str) -> None:
    number = with_check(first17)
    text = replace(identity("zhang-wei").id_text(), id_number=number, birth=number[6:14])
    assert facts_from_text(text).id_number == number


def test_a_lower_case_x_is_normalised() -> None:
    number = next(n for n in (with_check(f"110101199001010{i:02d}") for i in range(100)) if n.endswith("X"))
    assert idnumber.validate(number.lower()) == number


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("31010119540927317", "格式"),  # 17 characters
        ("3101011954092731755", "格式"),
        ("31010119540927317A", "格式"),
        ("310101195402303175", "出生日期不存在"),  # 30 February
        ("310101188001013175", "出生日期不合理"),  # before 1890
        ("310101195409273170", "校验码不符"),
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
    assert idnumber.mask("31010119540927317X") == "310101********317X"
