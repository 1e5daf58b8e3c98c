"""A terminal whose clock was wrong when it accepted cases, and was set before it sent them (year-end
review): a Raspberry Pi has no clock battery, starts after a power cut at the time it last saved, and NTP
sets it only once the link to the centre is back. The cases' stamps are early by the step, their batches
go out with a right ``sent_at``, and the hub counted the promise from the early stamp.

Now the terminal notices the step (the wall clock's offset from the boot-time clock moved), adds it to
each queued case stamped before it (``clock_fix_s``, outside the seal), and the hub counts from the
corrected time. The steps and dates here are worked by hand.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from sqlalchemy import text

from edge.store.cases import NewCase
from edge.sync.clockwatch import ClockWatch
from protocol.cases import SealedCase
from protocol.envelope import utcnow
from tests.support import applicant, wait_for

STAMPED = datetime(2026, 3, 5, 2, 0, tzinfo=UTC)  # Thursday 5 March, 10:00 in Shanghai: the clock's idea
TRUE = datetime(2026, 3, 9, 2, 0, tzinfo=UTC)  # Monday 9 March, 10:00: when the resident was there
STEP = (TRUE - STAMPED).total_seconds()  # 4 days: 345,600 s


class FakeClocks:
    """A wall clock and a boot-time clock; ``set`` moves the wall clock alone, as NTP does."""

    def __init__(self, wall: float, up: float) -> None:
        self.offset, self.up = wall - up, up

    def wall(self) -> float:
        return self.offset + self.up

    def since_boot(self) -> float:
        return self.up


def test_the_watch_reports_a_step_with_the_span_of_stamps_made_before_it():
    steps: list[tuple[float, datetime, datetime]] = []
    clocks = FakeClocks(wall=STAMPED.timestamp() + 50, up=100)  # booted at STAMPED - 50 s (old clock)
    watch = ClockWatch(lambda *a: steps.append(a), clocks.wall, clocks.since_boot)
    clocks.up = 200
    assert watch.check() == 0.0  # time passing is no step
    clocks.offset += 20  # NTP slews a small error away: not a step either
    assert watch.check() == 0.0 and steps == []
    clocks.offset += STEP - 20
    assert watch.check() == STEP
    first, last = (
        datetime.fromtimestamp(STAMPED.timestamp() - 50, UTC),
        datetime.fromtimestamp(STAMPED.timestamp() + 150, UTC),
    )
    assert steps == [(STEP, first, last)]
    assert watch.check() == 0.0, "reported once"


def test_a_case_stamped_before_the_clock_was_set_is_due_as_if_stamped_right(hub_factory, edge_factory):
    """GA-003 promises 3 working days. Stamped Thursday 5 March it would be due Tuesday 10 March (Fri 6,
    Mon 9, Tue 10); accepted Monday 9 March it is due Thursday 12 (Tue 10, Wed 11, Thu 12)."""
    hub = hub_factory(router=None)
    edge = edge_factory()
    early = edge.cases.submit(NewCase(item_code="GA-003", applicant=applicant(1)), now=STAMPED)
    before = edge.cases.submit(
        NewCase(item_code="GA-003", applicant=applicant(2)), now=datetime(2026, 3, 1, tzinfo=UTC)
    )

    clocks = FakeClocks(wall=STAMPED.timestamp() + 50, up=100)  # this boot began 50 s before the stamp
    edge.agent.clock = ClockWatch(edge.agent._clock_set, clocks.wall, clocks.since_boot)
    clocks.offset += STEP  # the link is back: NTP sets the clock
    clocks.up = 200
    edge.agent.clock.check()
    queued = {p.item_id: SealedCase.model_validate_json(p.payload) for p in edge.outbox.pending("cases", 0, 10)}
    assert queued[str(early.case_id)].clock_fix_s == STEP
    assert queued[str(before.case_id)].clock_fix_s is None, "stamped before this boot: not this clock's doing"
    with edge.engine.connect() as conn:  # the case's own copy too: what the night sends again if the hub lost it
        kept = conn.execute(text("SELECT payload FROM cases WHERE case_id = :c"), {"c": str(early.case_id)}).scalar()
    assert SealedCase.model_validate_json(kept).clock_fix_s == STEP
    with edge.engine.connect() as conn:
        said = conn.execute(text("SELECT data FROM audit_entries WHERE action = 'clock.set'")).scalar_one()
    assert json.loads(said) == {"cases": 1, "step_s": 345600.0}

    edge.start_sync()
    wait_for(lambda: edge.outbox.stats().depth == 0, what="both cases acked")
    with hub.engine.connect() as conn:
        due, fix = conn.execute(
            text("SELECT due_date, clock_fix_s FROM cases WHERE case_id = :c"), {"c": str(early.case_id)}
        ).one()
    assert (date.fromisoformat(str(due)[:10]), fix) == (date(2026, 3, 12), STEP)
    assert utcnow() > TRUE  # the hub's receipt time is later: the corrected stamp counts, not it
