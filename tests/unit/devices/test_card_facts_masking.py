"""What a card reader hands the kiosk, and what may reach a log.

``CardFacts`` shows ``310101********317X`` in ``repr``, ``str``, ``masked()`` and in any log line that
formats it; only ``as_dict(unmasked=True)`` — a technician's explicit choice — holds the whole number.
"""

from __future__ import annotations

import logging
from datetime import date

import pytest

from edge.devices.facts import CardFacts
from edge.devices.idtext import facts_from_text
from edge.devices.sim.identities import identity


@pytest.fixture
def facts() -> CardFacts:
    return facts_from_text(identity("zhang-wei").id_text())


def test_repr_and_str_mask_the_id_number(facts: CardFacts) -> None:
    whole = facts.id_number
    for shown in (repr(facts), str(facts), f"{facts}", f"{facts!r}", repr([facts])):
        assert whole not in shown
        assert whole[:6] + "********" + whole[-4:] in shown


def test_a_log_line_formatting_the_facts_carries_no_whole_number(
    facts: CardFacts, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        logging.getLogger("kiosk").info("session for %s", facts)
    assert facts.id_number not in caplog.text


def test_masked_dict_is_json_ready_and_unmasked_only_on_request(facts: CardFacts) -> None:
    masked = facts.masked()
    assert masked["id_number"] == facts.id_number[:6] + "********" + facts.id_number[-4:]
    assert masked["birth_date"] == facts.birth_date.isoformat() and masked["valid_to"] is None
    assert facts.as_dict(unmasked=True)["id_number"] == facts.id_number


def test_age_counts_completed_years() -> None:
    facts = CardFacts(card_type="sscard", id_number="x", name="", sex="F", birth_date=date(1961, 3, 1))
    assert facts.age(date(2026, 2, 28)) == 64
    assert facts.age(date(2026, 3, 1)) == 65


def test_the_same_card_has_the_same_key_and_keys_hide_the_number(facts: CardFacts) -> None:
    again = facts_from_text(identity("zhang-wei").id_text())
    other = facts_from_text(identity("li-na").id_text())
    assert facts.key == again.key != other.key
    assert facts.id_number not in facts.key
