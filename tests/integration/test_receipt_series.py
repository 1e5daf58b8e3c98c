"""Two terminals of one committee: each makes receipt numbers of its own, and the hub takes the cases
of both.

Receipt numbers are made offline (committee, day, sequence). Without a series the two terminals make the
same numbers and the hub refuses the second terminal's cases as ``duplicate_receipt`` (they are parked
there); with a receipt series each, given at provisioning on both sides, every number is the committee's
once. The receipts' form is written out here by hand: ``JW001-YYYYMMDD-`` then the series digit, then a
four-digit sequence.
"""

from __future__ import annotations

import re

from edge.store.cases import NewCase
from tests.support import applicant, assert_exactly_once, hub_count, wait_for


def _submit(edge, n: int, start: int = 0) -> list[tuple[str, str]]:
    made = [edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(start + i))) for i in range(n)]
    return [(str(c.case_id), c.receipt_no) for c in made]


def _two_terminals(edge_factory, **series: int):
    k1 = edge_factory("JW001-K1", committee_code="JW001", **({"receipt_series": series["k1"]} if series else {}))
    k2 = edge_factory("JW001-K2", committee_code="JW001", **({"receipt_series": series["k2"]} if series else {}))
    return k1, k2


def test_two_terminals_of_one_committee_make_distinct_receipts_and_the_hub_takes_both(hub_factory, edge_factory):
    hub = hub_factory()
    k1, k2 = _two_terminals(edge_factory, k1=1, k2=2)
    one, two = _submit(k1, 3), _submit(k2, 3, start=10)

    assert all(re.fullmatch(r"JW001-\d{8}-1\d{4}", r) for _, r in one), one
    assert all(re.fullmatch(r"JW001-\d{8}-2\d{4}", r) for _, r in two), two
    assert [r[-4:] for _, r in one] == [r[-4:] for _, r in two] == ["0001", "0002", "0003"]

    for edge in (k1, k2):
        edge.start_sync()
    wait_for(lambda: k1.outbox.stats().depth == 0 and k2.outbox.stats().depth == 0, what="both outboxes drained")
    assert k1.outbox.stats().parked == k2.outbox.stats().parked == 0
    assert_exactly_once(hub.engine, [c for c, _ in one + two])
    assert hub_count(hub.engine, "SELECT count(DISTINCT receipt_no) FROM cases WHERE committee = 'JW001'") == 6
    assert hub_count(hub.engine, "SELECT count(*) FROM dead_letters") == 0


def test_without_a_series_the_second_terminal_of_a_committee_is_refused_and_parks_its_cases(hub_factory, edge_factory):
    """What the series is for: the hub keeps one case per receipt number of a committee."""
    hub = hub_factory()
    k1, k2 = _two_terminals(edge_factory)
    one = _submit(k1, 2)
    two = _submit(k2, 2, start=10)
    assert [r for _, r in one] == [r for _, r in two]  # the same numbers, made apart

    k1.start_sync()
    wait_for(lambda: k1.outbox.stats().depth == 0, what="the first terminal's cases taken")
    k2.start_sync()
    wait_for(lambda: k2.outbox.stats().parked == 2, what="the second terminal's cases parked")
    assert hub_count(hub.engine, "SELECT count(*) FROM dead_letters WHERE reason = 'duplicate_receipt'") == 2
    assert_exactly_once(hub.engine, [c for c, _ in one])
