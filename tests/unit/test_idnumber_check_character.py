"""The check character of a resident ID number (GB 11643-1999, ISO 7064 MOD 11-2), against the standard.

The expected values here never come from ``protocol.idnumber``: the standard's own worked examples, a sum
worked by hand, and the rule written out in ``tests.support`` (weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2
over the first 17 digits; the sum mod 11, 0 to 10, picks a character of ``10X98765432``). Hypothesis then
checks that for any 17-digit body with a real birth date exactly one of the eleven possible check
characters is accepted — the one the rule gives — so a number with a wrong check character is refused and
a real one never is.
"""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import idnumber
from tests.support import GB11643_WEIGHTS, check_character

#: GB 11643-1999's examples: a woman born 1949-12-31 in Beijing's Chaoyang district, and a man born
#: 1880-01-01 in Chaoyang county, Shantou (广东省汕头市潮阳县).
STANDARD_SAMPLES = ["11010519491231002X", "440524188001010014"]
CHARACTERS = "0123456789X"


def test_the_written_out_rule_gives_the_standards_check_characters() -> None:
    # By hand for 11010519491231002: 1·7 + 1·9 + 0·10 + 1·5 + 0·8 + 5·4 + 1·2 + 9·1 + 4·6 + 9·3 + 1·7
    # + 2·9 + 3·10 + 1·5 + 0·8 + 0·4 + 2·2 = 167; 167 mod 11 = 2; "10X98765432"[2] = "X".
    assert sum(int(d) * w for d, w in zip("11010519491231002", GB11643_WEIGHTS, strict=True)) == 167
    for sample in STANDARD_SAMPLES:
        assert check_character(sample[:17]) == sample[17]


def test_the_standards_sample_is_accepted_and_every_other_check_character_refused() -> None:
    sample = STANDARD_SAMPLES[0]  # the 1880 one is refused for its birth date: nobody alive is that old
    assert idnumber.validate(sample) == sample
    for wrong in CHARACTERS.replace(sample[17], ""):
        with pytest.raises(idnumber.InvalidIdNumber, match="校验码不符"):
            idnumber.validate(sample[:17] + wrong)


@pytest.mark.parametrize("sample", STANDARD_SAMPLES)
def test_the_products_one_check_character_maker_agrees_with_the_standard(sample: str) -> None:
    assert idnumber.with_check_digit(sample[:17]) == sample


@pytest.mark.parametrize("body", ["", "1101051949123100", "110105194912310021", "1101051949123100A"])
def test_only_a_17_digit_body_gets_a_check_character(body: str) -> None:
    with pytest.raises(idnumber.InvalidIdNumber, match="17"):
        idnumber.with_check_digit(body)


bodies = st.builds(
    lambda region, born, seq: f"{region:06d}{born:%Y%m%d}{seq:03d}",
    st.integers(0, 999_999),
    st.dates(date(1890, 1, 1), date(2025, 12, 31)),
    st.integers(0, 999),
)


@given(bodies)
def test_exactly_one_check_character_is_accepted_and_it_is_the_rules(body: str) -> None:
    accepted = [c for c in CHARACTERS if idnumber.is_valid(body + c)]
    assert accepted == [check_character(body)]
    assert idnumber.with_check_digit(body) == body + check_character(body)
