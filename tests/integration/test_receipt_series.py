"""Two terminals of one committee: each makes receipt numbers of its own, and the hub takes the cases
of both.

Receipt numbers are made offline (committee, day, sequence). Without a series the two terminals make the
same numbers and the hub takes the second terminal's cases under numbers of its own (``…-9nnnnn``, not the
numbers on the residents' receipts); with a receipt series each, given at provisioning on both sides, every
number is the committee's once. The receipts' form is written out here by hand: ``JW001-YYYYMMDD-`` then
the series digit, then a four-digit sequence.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
from pathlib import Path

from sqlalchemy import text

from edge.store.cases import NewCase
from tests.support import applicant, assert_exactly_once, first_hub_number, hub_case_ids, hub_count, wait_for


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


def test_without_a_series_the_second_terminal_of_a_committee_gets_the_hubs_numbers(hub_factory, edge_factory):
    """What the series is for: the hub keeps one case per receipt number of a committee, so the second
    terminal's cases are taken under numbers that are not on their receipts (nothing is parked: they were,
    and staff had to take the applications again)."""
    hub = hub_factory()
    k1, k2 = _two_terminals(edge_factory)
    one = _submit(k1, 2)
    two = _submit(k2, 2, start=10)
    assert [r for _, r in one] == [r for _, r in two]  # the same numbers, made apart

    k1.start_sync()
    wait_for(lambda: k1.outbox.stats().depth == 0, what="the first terminal's cases taken")
    k2.start_sync()
    wait_for(lambda: k2.outbox.stats().depth == 0, what="the second terminal's cases taken")
    assert k2.outbox.stats().parked == 0 and hub_count(hub.engine, "SELECT count(*) FROM dead_letters") == 0
    assert_exactly_once(hub.engine, [c for c, _ in one + two])
    day = one[0][1].split("-")[1]
    with hub.engine.connect() as conn:
        numbered = conn.execute(
            text("SELECT case_id, receipt_no, printed_receipt_no FROM cases WHERE terminal_id = 'JW001-K2'")
        ).all()
    assert sorted(numbered) == sorted((c, first_hub_number(c, r), r) for c, r in two)
    # the second terminal's next residents get numbers past those the hub holds for the first's: the last
    # printed one, 0002, and 100 past it, then one more
    assert _submit(k2, 1, start=20)[0][1] == f"JW001-{day}-0103"


def _forget_since(edge_factory, edge, copy: Path, terminal: str):
    """The terminal's database comes back as ``copy`` holds it, as after a power cut on an SD card that
    reported writes done while they were still in its cache: what came after the copy is forgotten."""
    db = edge.settings.db_path
    edge.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(copy, db)
    return edge_factory(terminal, receipt_series=1)


def _copy(edge, to: Path) -> Path:
    with sqlite3.connect(edge.settings.db_path) as src, sqlite3.connect(to) as dst:
        src.backup(dst)
    return to


def test_after_a_power_cut_that_lost_its_last_cases_the_terminal_numbers_past_them(hub_factory, edge_factory, tmp_path):
    """The service was running when the power went: the next start moves today's numbers 100 on, so the
    next resident's number is not one the hub already holds for a case the terminal forgot."""
    hub = hub_factory()
    edge = edge_factory("JW001-K1", receipt_series=1)
    assert edge.cases.numbering_resumes() is None  # a first start: nothing to move
    copy = _copy(edge, tmp_path / "before.db")
    forgotten = _submit(edge, 2)
    edge.start_sync()
    wait_for(lambda: edge.outbox.stats().depth == 0, what="the two cases at the hub")

    edge = _forget_since(edge_factory, edge, copy, "JW001-K1")
    assert edge.cases.numbering_resumes() == 100  # the copy's last number (none yet today) and 100 on
    (case_id, receipt), *_ = _submit(edge, 1, start=5)
    day = forgotten[0][1].split("-")[1]
    assert [r for _, r in forgotten] == [f"JW001-{day}-10001", f"JW001-{day}-10002"]
    assert receipt == f"JW001-{day}-10101"
    edge.start_sync()
    wait_for(lambda: edge.outbox.stats().depth == 0, what="the new case at the hub")
    assert edge.outbox.stats().parked == 0
    assert_exactly_once(hub.engine, [c for c, _ in forgotten] + [case_id])

    edge.cases.numbering_stops()  # a clean stop: the next start moves nothing
    assert edge.cases.numbering_resumes() is None
    assert _submit(edge, 1, start=7)[0][1] == f"JW001-{day}-10102"


def test_a_number_the_hub_holds_for_a_forgotten_case_is_replaced_by_the_hubs_and_the_numbers_move_on(
    hub_factory, edge_factory, tmp_path
):
    """A loss the start could not see (the copy says the last run stopped cleanly): the first new case
    gets a forgotten number; the hub takes it under a number of its own (it refused and the terminal parked
    it), and the numbers move 100 past it, so the next resident's number is one the hub has not seen."""
    hub = hub_factory()
    edge = edge_factory("JW001-K1", receipt_series=1)
    copy = _copy(edge, tmp_path / "before.db")  # no service mark in it: a clean stop as far as it tells
    forgotten = _submit(edge, 2)
    edge.start_sync()
    wait_for(lambda: edge.outbox.stats().depth == 0, what="the two cases at the hub")

    edge = _forget_since(edge_factory, edge, copy, "JW001-K1")
    assert edge.cases.numbering_resumes() is None
    (clash, receipt), *_ = _submit(edge, 1, start=5)
    assert receipt == forgotten[0][1]
    edge.start_sync()
    wait_for(lambda: clash in hub_case_ids(hub.engine), what="the case with a held number at the hub")
    day = forgotten[0][1].split("-")[1]
    with hub.engine.connect() as conn:
        numbers = conn.execute(
            text("SELECT receipt_no, printed_receipt_no FROM cases WHERE case_id = :c"), {"c": clash}
        ).one()
    assert tuple(numbers) == (first_hub_number(clash, receipt), receipt)

    wait_for(lambda: edge.outbox.stats().depth == 0, what="the hub's ack, with its number, at the terminal")
    (taken, receipt), *_ = _submit(edge, 1, start=6)
    assert receipt == f"JW001-{day}-10102"  # the printed number, 0001, and 100 past it, then one more
    wait_for(lambda: taken in hub_case_ids(hub.engine), what="the next case at the hub")
    assert edge.outbox.stats().parked == 0 and hub_count(hub.engine, "SELECT count(*) FROM dead_letters") == 0
    assert_exactly_once(hub.engine, [c for c, _ in forgotten] + [clash, taken])


def test_unclean_starts_move_the_numbers_once_and_yesterdays_too_and_a_damaged_run_keeps_the_mark(edge_factory):
    """A review of the start's move. Yesterday 0003 and today 0002 were given (by hand: series 1). A kill,
    and a start whose clock a power cut set back to yesterday: both days move 100 on, the clock's and the
    last numbered. Killed again and again with no number given since, nothing moves further (a restart loop
    would have run the sequence past its digits). A run that never resumed numbering (its file found
    damaged) leaves the mark for the next start."""
    from datetime import timedelta

    from edge.store.cases import receipt_day
    from protocol.envelope import utcnow

    edge = edge_factory("JW001-K1", receipt_series=1)
    now = utcnow()
    yesterday, today = receipt_day(now - timedelta(days=1)), receipt_day(now)
    for n in range(3):
        edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(n)), now=now - timedelta(days=1))
    for n in range(2):
        edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(10 + n)), now=now)
    assert edge.cases.numbering_resumes(now) is None  # the first start

    def counters() -> dict[str, int]:
        with edge.engine.connect() as conn:
            return dict(conn.execute(text("SELECT day, last FROM receipt_counters")).all())

    set_back = now - timedelta(days=1)
    assert edge.cases.numbering_resumes(set_back) == 103  # killed: no clean stop in between
    assert counters() == {yesterday: 103, today: 102}
    for _ in range(3):
        assert edge.cases.numbering_resumes(set_back) == 103, "nothing given since the last move: no further"
    assert counters() == {yesterday: 103, today: 102}
    receipt = edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(20)), now=now).receipt_no
    assert receipt == f"JW001-{today}-10103"
    assert edge.cases.numbering_resumes(now) == 203, "a number given since: moved again"

    edge.close()
    damaged_run = edge_factory("JW001-K1", receipt_series=1)  # never resumed numbering
    damaged_run.cases.numbering_stops()
    assert damaged_run.cases.numbering_resumes(now) == 203, "the mark stayed: still unclean, but nothing new"
