"""Ingest metrics, one registry per hub instance (tests run several hubs in one process).

What a transaction finds (messages by type, refusals, sequence gaps, late wills) is counted when it commits:
:meth:`IngestMetrics.count` holds the counts of the thread's open transaction (:meth:`IngestMetrics.held`)
and adds them once it committed, so a group the database aborts, and that is done again, counts once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["IngestMetrics"]


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self._held = threading.local()
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.messages = Counter("shegong_hub_messages", "messages received, by type", ["type"], registry=r)
        self.cases = Counter("shegong_hub_cases_ingested", "new cases committed", registry=r)
        self.duplicates = Counter("shegong_hub_case_duplicates", "redelivered cases (no-ops, acked again)", registry=r)
        self.dead_letters = Counter(
            "shegong_hub_dead_letters", "messages or items refused, by reason", ["reason"], registry=r
        )
        self.late_wills = Counter("shegong_hub_late_wills", "deaths ignored because a newer birth exists", registry=r)
        self.seq_gaps = Counter("shegong_hub_seq_gaps", "gaps in a terminal's message sequence", registry=r)
        self.clock_skew = Counter(
            "shegong_hub_clock_skew_flags", "messages from a terminal whose clock is off", registry=r
        )
        self.queue = Gauge("shegong_hub_ingest_queue", "messages received and not yet committed", registry=r)
        self.dropped = Counter(
            "shegong_hub_ingest_dropped",
            "QoS 0 messages (heartbeats) dropped because ingest's queue was full (the database is behind)",
            registry=r,
        )
        self.dead_letters_dropped = Counter(
            "shegong_hub_dead_letters_dropped", "dead letters removed to keep a terminal within its bound", registry=r
        )
        self.rate_limited = Counter(
            "shegong_hub_rate_limited", "messages over their terminal's rate, set aside unprocessed", registry=r
        )
        self.poison = Counter(
            "shegong_hub_poison_messages",
            "messages the hub failed on twice, dead-lettered and acknowledged",
            registry=r,
        )
        self.storage_waits = Counter(
            "shegong_hub_storage_waits",
            "times ingest waited for an unreachable database (nothing acknowledged)",
            registry=r,
        )
        self.broker_cert_expiry = Gauge(
            "shegong_hub_broker_cert_expiry_timestamp_seconds",
            "when the broker's TLS certificate, as this hub process was last shown it, expires (Unix time); "
            "every terminal loses the broker then",
            registry=r,
        )
        self.deadlocks = Counter(
            "shegong_hub_ingest_deadlocks",
            "ingest groups the database aborted in a deadlock with another transaction (tried again at once)",
            registry=r,
        )

    def count(self, counter: Any, n: float = 1) -> None:
        """``counter.inc(n)``, or, within :meth:`held` in this thread, once the transaction committed."""
        pending: list[tuple[Any, float]] | None = getattr(self._held, "pending", None)
        if pending is None:
            counter.inc(n)
        else:
            pending.append((counter, n))

    @contextmanager
    def held(self) -> Iterator[None]:
        """Around a transaction: what :meth:`count` is given meanwhile is added when the block ends without an
        exception (the commit), and dropped when it raises (the transaction was rolled back)."""
        pending: list[tuple[Any, float]] = []
        self._held.pending = pending
        try:
            yield
        finally:
            self._held.pending = None
        for counter, n in pending:
            counter.inc(n)
