"""The hash chain both sides keep (protocol.auditchain): an entry hashes as the hub always hashed it, a
chain linked here walks clean, and the walk names the first entry that no longer fits."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from protocol.auditchain import GENESIS, Anchor, Entry, canonical_data, entry_hash, link, walk

T0 = datetime(2026, 3, 2, 1, 0, 0, 123456, tzinfo=UTC)


@dataclass
class Row:
    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    data: str
    prev_hash: str
    hash: str


def _chain(n: int) -> list[Row]:
    rows = link(GENESIS, [Entry(T0 + timedelta(minutes=i), "hub", "case.events", f"c{i}", {"v": i}) for i in range(n)])
    return [Row(id=i + 1, **r) for i, r in enumerate(rows)]


def _sha256_of_canonical(prev: str, at: datetime, actor: str, action: str, subject: str, data: str) -> str:
    """The documented form, built here and not by the code under test: SHA-256 of the UTF-8 of the compact
    JSON array ``[prev_hash, at (ISO 8601), actor, action, subject, data]``, non-ASCII kept as is."""
    fields = [prev, at.isoformat(), actor, action, subject, data]
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8")).hexdigest()


def test_an_entry_hashes_as_the_documented_canonical_form_says():
    data = canonical_data({"部门": "民政", "version": 3})
    assert data == '{"version":3,"部门":"民政"}'  # keys sorted, compact, UTF-8 kept
    # The bytes hashed, written out by hand.
    canonical = (
        '["' + "0" * 64 + '","2026-03-02T01:00:00.123456+00:00","user:clerk1","case.accept","case-1",'
        '"{\\"version\\":3,\\"部门\\":\\"民政\\"}"]'
    )
    by_hand = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert entry_hash(GENESIS, T0, "user:clerk1", "case.accept", "case-1", data) == by_hand
    # The same value the hub computed before protocol.auditchain existed: hub chains on disk keep verifying.
    assert by_hand == "8c927a336c1bf2bb8d26c6698a4bd9a17d5b9b63d89d6adbd19c12f21d0544e9"


def test_every_linked_row_hashes_its_predecessor_and_its_own_fields():
    prev = GENESIS
    for row in _chain(5):
        assert row.prev_hash == prev
        assert row.hash == _sha256_of_canonical(prev, row.at, row.actor, row.action, row.subject, row.data)
        prev = row.hash


def test_a_linked_chain_walks_clean_up_to_its_anchor():
    rows = _chain(5)
    assert rows[0].prev_hash == GENESIS and rows[1].prev_hash == rows[0].hash
    assert walk(rows, [Anchor(5, 5, rows[-1].hash)]) == (5, None)
    assert walk(iter(rows)) == (5, None)


def test_the_walk_names_the_first_entry_that_does_not_fit():
    rows = _chain(5)
    rows[2].data = '{"v":99}'
    assert walk(rows)[1].entry_id == 3
    rows = _chain(5)
    del rows[1]
    checked, broken = walk(rows)
    assert checked == 1 and broken.entry_id == 3 and "removed or reordered" in broken.problem
    rows = _chain(5)
    checked, broken = walk(rows[:3], [Anchor(5, 5, rows[-1].hash)])
    assert checked == 3 and broken.entry_id == 5 and "newest entries were removed" in broken.problem


@pytest.mark.parametrize(
    "text", ["3:7:" + "a" * 64, '{"entries": 3, "last_id": 7, "head": "' + "a" * 64 + '"}', " 3:7:" + "a" * 64 + "\n"]
)
def test_an_anchor_is_read_back_from_either_printed_form(text):
    assert Anchor.parse(text) == Anchor(3, 7, "a" * 64)


@pytest.mark.parametrize("text", ["", "3:7", '{"entries": 3}', "x:y:z"])
def test_a_malformed_anchor_is_refused(text):
    with pytest.raises(ValueError, match="not an audit anchor"):
        Anchor.parse(text)
