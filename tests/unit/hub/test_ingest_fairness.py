"""Inside the hub, terminals take turns and each has its own rate: the queue between paho's thread and the
ingest thread serves one message per terminal in turn, and a token bucket per terminal decides which
messages are processed. Expected orders and counts are worked out by hand in each test."""

from __future__ import annotations

import threading

from hub.ingest.fairness import FairQueue, RateLimits, cost


def test_a_terminal_with_a_long_queue_delays_another_by_one_message_per_turn():
    q: FairQueue[str] = FairQueue(100)
    for n in range(6):
        q.put("A", f"a{n}")
    q.put("B", "b0")
    q.put("B", "b1")
    q.put("C", "c0")
    # Lanes in the order they first filled: A, B, C; each gives one, then goes to the back of the line.
    assert q.take(4) == ["a0", "b0", "c0", "a1"]
    assert q.take(4) == ["b1", "a2", "a3", "a4"]
    assert q.take(4) == ["a5"]
    assert q.qsize() == 0
    assert q.take(4, timeout=0.05) == []


def test_a_full_queue_drops_what_may_be_dropped_keeps_the_rest_and_never_blocks():
    # 5 places, 2 of them reserved for items that may not be dropped (the broker's QoS 1 window).
    q: FairQueue[str] = FairQueue(5, reserved=2)
    assert [q.put("A", f"beat{n}", droppable=True) for n in range(4)] == [True, True, True, False]
    assert q.put("B", "case0") and q.put("B", "case1"), "the reserved room"
    assert q.put("C", "case2"), "an item that may not be dropped is queued even past maxsize"
    assert not q.put("C", "beat4", droppable=True)
    assert q.qsize() == 6
    assert q.take(4) == ["beat0", "case0", "case2", "beat1"]
    assert q.put("A", "beat5", droppable=True), "room again once ingest took some"
    q.close()
    assert q.take(10) == ["case1", "beat2", "beat5"], "what was queued is still handed out after close"
    assert q.take(10) is None


def test_put_returns_at_once_while_the_queue_is_full_and_nothing_takes():
    q: FairQueue[int] = FairQueue(1)
    q.put("A", 0)
    done = threading.Event()

    def paho() -> None:  # paho's network thread: it must get back to its keepalive
        for n in range(1, 1001):
            q.put("A", n, droppable=bool(n % 2))
        done.set()

    threading.Thread(target=paho, daemon=True).start()
    assert done.wait(5), "put waited for the taker"
    assert q.qsize() == 501, "the first item and the 500 that may not be dropped"


def test_each_terminal_has_its_own_bucket_of_burst_tokens_refilled_at_its_rate():
    now = [0.0]
    limits = RateLimits(rate=2.0, burst=3, clock=lambda: now[0])
    assert [limits.allow("A") for _ in range(5)] == [True, True, True, False, False]
    assert limits.allow("B"), "another terminal is not touched by A's flood"
    now[0] = 0.5  # half a second at 2/s: one token back
    assert [limits.allow("A") for _ in range(2)] == [True, False]
    now[0] = 100.0  # a long quiet spell fills the bucket to its burst, not beyond
    assert [limits.allow("A") for _ in range(4)] == [True, True, True, False]


def test_a_rate_of_zero_means_no_limit():
    limits = RateLimits(rate=0, burst=1)
    assert all(limits.allow("A") for _ in range(10_000))


def test_a_message_takes_tokens_by_its_size():
    """One message of a thousand sealed cases (191 KB) took one token, as a heartbeat did: 50 such a second
    stayed within the rate. Worked by hand: one token per started 4 KiB."""
    assert [cost(n) for n in (0, 1, 4096, 4097, 38_400, 191_000)] == [1, 1, 1, 2, 10, 47]
    now = [0.0]
    limits = RateLimits(rate=50.0, burst=500, clock=lambda: now[0])
    allowed = sum(limits.allow("A", cost(191_000)) for _ in range(50))
    assert allowed == 10, "the burst (500 tokens) holds ten of them, not fifty"
    now[0] = 1.0  # a second at 50 tokens: 80 in the bucket, one more 47-token message, 33 left
    assert [limits.allow("A", cost(191_000)) for _ in range(2)] == [True, False]
    assert limits.allow("A", 1) and limits.allow("B", cost(191_000)), "a heartbeat fits; B has its own bucket"


def test_a_message_bigger_than_the_burst_passes_on_a_full_bucket_only():
    now = [0.0]
    limits = RateLimits(rate=1.0, burst=10, clock=lambda: now[0])
    assert limits.allow("A", 25), "a full bucket lets one through, leaving it in debt"
    now[0] = 10.0  # 10 tokens back: still 5 in debt
    assert not limits.allow("A", 25) and not limits.allow("A", 1)
    now[0] = 26.0  # 16 more: full again (10, its burst)
    assert limits.allow("A", 25)
