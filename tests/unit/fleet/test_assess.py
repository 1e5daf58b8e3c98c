"""The rules of fleet health, without a database: facts in, state and problems out."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hub.fleet.assess import AlertKind, Desired, Facts, State, assess
from hub.settings import FleetSettings
from protocol.envelope import utcnow

NOW = utcnow()
S = FleetSettings(
    heartbeat_s=10,
    flap_transitions=4,
    offline_alert_s=600,
    outbox_alert_s=1800,
    catalogue_grace_s=600,
    clock_alert_s=120,
    disk_alert_mb=500,
)


def facts(**kw: object) -> Facts:
    values: dict[str, object] = {"online": True, "last_seen_at": NOW - timedelta(seconds=5)}
    values.update(kw)
    return Facts(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kw", "state"),
    [
        ({}, State.ONLINE),
        ({"last_seen_at": None}, State.UNKNOWN),
        ({"last_seen_at": NOW - timedelta(seconds=31)}, State.SILENT),  # 3 × 10 s without a word
        ({"online": False}, State.OFFLINE),
        ({"drops": 4}, State.FLAPPING),
        ({"online": False, "drops": 4}, State.FLAPPING),
    ],
)
def test_state_separates_connection_from_liveness(kw, state):
    assert assess(facts(**kw), NOW, S).state is state


def test_offline_alert_waits_for_the_threshold_and_counts_silence_too():
    assert (
        AlertKind.OFFLINE not in assess(facts(online=False, last_seen_at=NOW - timedelta(minutes=9)), NOW, S).problems
    )
    assert (
        assess(facts(online=False, last_seen_at=NOW - timedelta(minutes=11)), NOW, S).problems[AlertKind.OFFLINE]
        == "11 min"
    )
    silent = assess(facts(last_seen_at=NOW - timedelta(minutes=12)), NOW, S)
    assert silent.state is State.SILENT and AlertKind.OFFLINE in silent.problems


def test_flapping_holds_the_offline_alert_instead_of_raising_or_clearing_it():
    a = assess(facts(online=False, drops=5, last_seen_at=NOW - timedelta(hours=1)), NOW, S)
    assert AlertKind.FLAPPING in a.problems and AlertKind.OFFLINE not in a.problems
    assert AlertKind.OFFLINE in a.hold


def test_a_terminal_that_flapped_then_went_away_keeps_its_alert_until_the_offline_one():
    """Cut at 11:06, the link's drops left the ten-minute window at 11:15: the flapping alert cleared and
    nothing was alerted until 离线超时 at 11:16, with the terminal down all along."""
    away = assess(facts(online=False, drops=3, last_seen_at=NOW - timedelta(minutes=9)), NOW, S)
    assert away.state is State.OFFLINE and AlertKind.FLAPPING in away.hold and not away.problems
    later = assess(facts(online=False, drops=0, last_seen_at=NOW - timedelta(minutes=11)), NOW, S)
    assert AlertKind.OFFLINE in later.problems and AlertKind.FLAPPING not in later.hold
    back = assess(facts(drops=3), NOW, S)
    assert AlertKind.FLAPPING not in back.hold and not back.problems, "back and steady: it clears"


def test_device_outbox_clock_and_disk_problems():
    health = {
        "printer": "paper_out",
        "reader": "sam_failed",
        "outbox_depth": 12,
        "oldest_unsent_at": (NOW - timedelta(minutes=31)).isoformat(),
        "disk_free_mb": 120.0,
    }
    a = assess(facts(health=health, clock_skew_s=-200.0), NOW, S)
    assert a.problems == {
        AlertKind.PRINTER_PAPER: "paper_out",
        AlertKind.READER_FAULT: "sam_failed",
        AlertKind.OUTBOX_STALE: "12 / 34 min",  # stamped 31 min ago by a clock 200 s ahead: 34 by the hub's
        AlertKind.DISK_LOW: "120 MB",
        AlertKind.CLOCK: "+200 s",  # the terminal's clock is ahead of the hub's
    }
    assert assess(facts(health={"printer": "paper_low"}), NOW, S).ok  # still prints: no alert
    assert AlertKind.PRINTER_FAULT in assess(facts(health={"printer": "cover_open"}), NOW, S).problems


def test_the_outbox_age_is_counted_on_the_hubs_clock_not_the_terminals():
    slow = 35 * 60.0  # the terminal's clock 35 min behind the hub's: it stamps an item a minute old 36 min back
    just_queued = {"outbox_depth": 1, "oldest_unsent_at": (NOW - timedelta(minutes=36)).isoformat()}
    assert AlertKind.OUTBOX_STALE not in assess(facts(health=just_queued, clock_skew_s=slow), NOW, S).problems
    fast = -60 * 60.0  # an hour ahead: an item 50 min old is stamped 10 min in the hub's future
    waiting = {"outbox_depth": 3, "oldest_unsent_at": (NOW + timedelta(minutes=10)).isoformat()}
    problems = assess(facts(health=waiting, clock_skew_s=fast), NOW, S).problems
    assert problems[AlertKind.OUTBOX_STALE] == "3 / 50 min"


def test_catalogue_behind_counts_from_publication_or_from_the_terminals_return():
    desired = Desired(version=3, published_at=NOW - timedelta(minutes=20))
    assert AlertKind.CATALOGUE_BEHIND in assess(facts(catalogue_version=2), NOW, S, desired).problems
    back = facts(catalogue_version=2, last_birth_at=NOW - timedelta(minutes=1))  # just reconnected: give it time
    assert AlertKind.CATALOGUE_BEHIND not in assess(back, NOW, S, desired).problems
    assert AlertKind.CATALOGUE_BEHIND not in assess(facts(catalogue_version=3), NOW, S, desired).problems


def test_a_terminal_running_a_version_above_the_hubs_newest_is_alerted_at_once():
    """Only a hub whose database went back (restored from an older backup) has terminals ahead of it."""
    desired = Desired(version=3, published_at=NOW - timedelta(days=30))
    problems = assess(facts(catalogue_version=4, last_birth_at=NOW), NOW, S, desired).problems
    assert problems[AlertKind.CATALOGUE_AHEAD] == "v4 > v3" and AlertKind.CATALOGUE_BEHIND not in problems
    assert AlertKind.CATALOGUE_AHEAD not in assess(facts(catalogue_version=3), NOW, S, desired).problems


def test_a_terminal_the_hub_rate_limits_or_refuses_often_has_an_alert_naming_it():
    s = FleetSettings(dead_letter_window_s=600, dead_letter_alert=20)
    assert AlertKind.RATE_LIMITED not in assess(facts(), NOW, s).problems
    assert assess(facts(rate_limited=1), NOW, s).problems[AlertKind.RATE_LIMITED] == "1 / 10 min"
    assert AlertKind.DEAD_LETTERS not in assess(facts(refused=19), NOW, s).problems
    assert assess(facts(refused=20), NOW, s).problems[AlertKind.DEAD_LETTERS] == "20 / 10 min"
    # A terminal that never sent anything valid has no state yet, but its flood is a problem all the same.
    unheard = assess(facts(last_seen_at=None, rate_limited=1500, refused=500), NOW, s)
    assert unheard.state is State.UNKNOWN
    assert set(unheard.problems) == {AlertKind.RATE_LIMITED, AlertKind.DEAD_LETTERS}


def test_a_terminal_that_refused_a_forged_audit_anchor_has_an_alert_until_its_alarm_clears():
    refused = assess(facts(health={"alarms": ["anchor_refused", "clock_skew"]}), NOW, S)
    assert refused.problems == {AlertKind.ANCHOR_REFUSED: ""}
    assert assess(facts(health={"alarms": []}), NOW, S).ok


def test_a_terminal_that_refused_a_holiday_calendar_has_an_alert_until_its_alarm_clears():
    refused = assess(facts(health={"alarms": ["calendar_refused"]}), NOW, S)
    assert refused.problems == {AlertKind.CALENDAR_REFUSED: ""}
    assert assess(facts(health={"alarms": []}), NOW, S).ok


def test_every_alert_kind_has_a_label_and_an_action_for_the_operator():
    from hub.web.text import fleet_labels

    t = fleet_labels()
    for kind in AlertKind:
        assert t["alert"].get(kind.value) and t["action"].get(kind.value), f"{kind.value} has no label or action"
