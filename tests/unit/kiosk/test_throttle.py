"""The progress lookup's rate limit on a hand clock: failures counted per key in a sliding window."""

from __future__ import annotations

import pytest

from edge.kiosk.throttle import Throttle


def test_a_key_is_refused_after_its_limit_until_its_oldest_failure_leaves_the_window():
    now = [0.0]
    throttle = Throttle(3, 60.0, clock=lambda: now[0])
    for at in (0.0, 10.0, 20.0):
        now[0] = at
        assert throttle.retry_in(["receipt:A"]) == 0
        throttle.failed(["receipt:A"])
    now[0] = 30.0
    assert throttle.retry_in(["receipt:A"]) == 30.0  # the failure at 0 leaves the window at 60
    assert throttle.retry_in(["receipt:B"]) == 0  # another key is not affected
    assert throttle.retry_in(["receipt:B", "receipt:A"]) == 30.0  # any refused key refuses the attempt
    now[0] = 60.0
    assert throttle.retry_in(["receipt:A"]) == 0
    throttle.failed(["receipt:A"])  # failures at 10, 20, 60: refused again until 70
    assert throttle.retry_in(["receipt:A"]) == 10.0


def test_memory_is_bounded_by_forgetting_the_least_recent_keys():
    throttle = Throttle(1, 60.0, clock=lambda: 0.0, max_keys=2)
    for key in ("a", "b", "c"):
        throttle.failed([key])
    assert throttle.retry_in(["a"]) == 0 and throttle.retry_in(["b"]) == 60.0 and throttle.retry_in(["c"]) == 60.0


@pytest.mark.parametrize(("limit", "window"), [(0, 60.0), (1, 0.0)])
def test_a_throttle_that_would_refuse_nothing_or_everything_is_refused(limit, window):
    with pytest.raises(ValueError):
        Throttle(limit, window)
