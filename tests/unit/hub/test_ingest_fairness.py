"""Inside the hub, terminals take turns and each has its own rate: the queue between paho's thread and the
ingest thread serves one message per terminal in turn, and a token bucket per terminal decides which
messages are processed. Expected orders and counts are worked out by hand in each test."""

from __future__ import annotations

import threading

from hub.ingest.fairness import FairQueue, RateLimits


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


def test_a_full_queue_holds_paho_back_and_closing_releases_everyone():
    q: FairQueue[int] = FairQueue(2)
    q.put("A", 1)
    q.put("A", 2)
    done = threading.Event()

    def third() -> None:
        q.put("B", 3)  # blocks until a take makes room: nothing is dropped
        done.set()

    threading.Thread(target=third, daemon=True).start()
    assert not done.wait(0.2)
    assert q.take(1) == [1]
    assert done.wait(2)
    q.close()
    assert q.take(10) == [2, 3], "what was queued is still handed out after close"
    assert q.take(10) is None


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
