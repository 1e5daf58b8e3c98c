"""The simulators' test identities: valid, varied, and aged relative to the day the tests run.

The kiosk's eligibility rules turn on age, household (Shanghai or not), district and sex, so the set
must cover ages 16 to 95, both sexes, Pudong (310115) and Chongming (310151), and people from outside
Shanghai, each with the check character GB 11643's rule gives (written out in the tests, not taken from
the product), which the product's validation then accepts.
"""

from __future__ import annotations

from datetime import date

from edge.devices.facts import CardFacts
from edge.devices.sim.identities import all_identities
from protocol import idnumber
from tests.support import check_character


def ages(today: date) -> dict[str, int]:
    return {
        p.key: CardFacts(card_type="id_card", id_number=p.id_number, name=p.name, sex="M", birth_date=p.birth_date).age(
            today
        )  # fmt: skip
        for p in all_identities(today)
    }


def test_every_identity_has_a_valid_number_and_a_name_and_address() -> None:
    people = all_identities()
    assert len(people) >= 10
    for p in people:
        assert p.id_number[17] == check_character(p.id_number[:17])  # GB 11643's rule, written out in the tests
        assert idnumber.validate(p.id_number) == p.id_number
        assert idnumber.birth_date(p.id_number) == p.birth_date
        assert idnumber.sex(p.id_number) == {"1": "M", "2": "F"}[p.sex]
        assert p.name and p.address and p.issuer
    assert len({p.id_number for p in people}) == len(people)


def test_the_set_covers_ages_sexes_and_districts() -> None:
    people = all_identities()
    years = ages(date.today())
    assert min(years.values()) == 16 and max(years.values()) == 95
    assert 65 in years.values()  # the 敬老 (senior allowance) threshold, exactly
    assert {p.sex for p in people} == {"1", "2"}
    regions = {p.id_number[:6] for p in people}
    assert {"310115", "310151"} <= regions
    assert any(not r.startswith("31") for r in regions)
    assert len({p.nation for p in people}) >= 4


def test_ages_hold_on_any_day_including_leap_days() -> None:
    for today in (date(2028, 2, 29), date(2027, 1, 1), date(2030, 12, 31)):
        years = ages(today)
        assert min(years.values()) == 16 and max(years.values()) == 95
        for p in all_identities(today):
            assert idnumber.validate(p.id_number, today=today)
            assert p.valid_from <= today
