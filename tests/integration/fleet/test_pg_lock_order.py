"""Hub ingest and the fleet's evaluation round on PostgreSQL take a terminal's rows in one order: no deadlock.

Real code paths on a real PostgreSQL: a hub's handler with every hook a running hub attaches
(``HubRuntime``, not started: no broker needed) commits heartbeat groups on one connection while the
fleet's evaluation round changes the same terminals on another.

The first test stages the exchange that deadlocked: the round marks two silent terminals, T1 then T2; it
is held just after T1 (a log handler waits on the round's own line for T1) while a worker commits both
terminals' heartbeats, T2 with a new catalogue version. Before, the worker changed T2's fleet row (the
version) and then T1's (its heartbeat sample), the round held T1 and wanted T2, and the server aborted
one of them (``deadlock_detected``). Now the round locks the terminals it changes, in the order ingest
takes them, before changing anything: the worker waits for the round (or the round for the worker), and
both commit.

The second runs two workers (two runtimes: two engines, as two processes) with births and heartbeats of
old and new terminals arriving in opposite orders, while the round runs in a loop with its clock an hour
ahead (so it changes every terminal it sees, every round), for a few seconds: nothing is aborted.

Deadlocks are counted from what the server says: a ``DeadlockDetected`` raised to a caller, a log line
that names a deadlock, and the round's own count.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import psycopg.errors
import pytest
from sqlalchemy import text

from hub.cases.routing import Router
from hub.runtime import HubRuntime
from hub.settings import FleetSettings, HubSettings
from protocol import topics
from protocol.envelope import utcnow
from protocol.health import Heartbeat, HeartbeatBody
from protocol.state import Birth, BirthBody

pytestmark = pytest.mark.postgres


def _birth(terminal: str, at: datetime, version: int = 1) -> tuple[str, bytes, datetime]:
    birth = Birth(terminal=terminal, sent_at=at, body=BirthBody(bd_seq=1, catalogue_version=version))
    return topics.state(terminal), birth.encode(), at


def _beat(terminal: str, at: datetime, version: int = 1) -> tuple[str, bytes, datetime]:
    body = HeartbeatBody(
        bd_seq=1,
        uptime_s=60.0,
        outbox_depth=0,
        disk_free_mb=5000.0,
        app_version="0.1.0",
        catalogue_version=version,
        reader="ok",
        printer="ok",
    )
    return topics.up(terminal, topics.Up.HEALTH), Heartbeat(terminal=terminal, sent_at=at, body=body).encode(), at


class _Deadlocks(logging.Handler):
    """Every log record that names a deadlock (ingest's retry, the round's)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "deadlock" in record.getMessage().lower():
            self.seen.append(record.getMessage())


@pytest.fixture
def deadlock_log() -> Iterator[_Deadlocks]:
    handler = _Deadlocks()
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)


@pytest.fixture
def runtimes(pg_url: str, tmp_path: Path) -> Iterator[list[HubRuntime]]:
    """Two hub runtimes on one PostgreSQL database (not started: their handlers and fleets are called)."""
    made: list[HubRuntime] = []
    fleet = FleetSettings(heartbeat_s=10.0, sample_every_s=0.0)  # every heartbeat sampled (a fleet row write)
    for k in range(2):
        settings = HubSettings(
            database_url=pg_url, broker_port=1, instance=f"lock-{k}", data_dir=tmp_path / f"hub-{k}", fleet=fleet
        )
        made.append(HubRuntime(settings, router=Router({"JB-001": "minzheng"})))
    yield made
    for rt in made:
        rt.engine.dispose()


def _aborted(exc: BaseException) -> bool:
    return isinstance(getattr(exc, "orig", None), psycopg.errors.DeadlockDetected)


def test_a_worker_and_the_evaluation_round_do_not_deadlock_on_fleet_rows(runtimes, deadlock_log):
    rt = runtimes[0]
    fleet, handler = rt.fleet.registry, rt.handler
    now = utcnow()
    handler.handle_many([_birth(t, now) for t in ("T1", "T2")] + [_beat(t, now) for t in ("T1", "T2")])
    with rt.engine.connect() as conn:
        states = dict(conn.execute(text("SELECT terminal_id, state FROM fleet_terminals")).all())
    assert states == {"T1": "online", "T2": "online"}

    round_at_t1 = threading.Event()

    class HoldRoundAtT1(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            in_round = threading.current_thread().name == "round" and not round_at_t1.is_set()
            if in_round and "->" in str(record.msg) and record.args and record.args[:1] == ("T1",):
                round_at_t1.set()
                time.sleep(1.0)  # the worker runs meanwhile, as far as it can

    hold = HoldRoundAtT1()
    registry_log = logging.getLogger("hub.fleet.registry")
    registry_log.addHandler(hold)
    level = registry_log.level
    registry_log.setLevel(logging.INFO)
    aborted: list[BaseException] = []

    def run(job: object) -> None:
        try:
            job()  # type: ignore[operator]
        except Exception as exc:  # noqa: BLE001 - the test counts what the server aborted
            aborted.append(exc)

    # An hour on, to the round: both terminals silent, both fleet rows to change.
    later = now + timedelta(hours=1)
    evaluation = threading.Thread(target=run, args=(lambda: fleet.evaluate_all(later),), name="round")
    beats = [_beat("T2", now, version=2), _beat("T1", now)]  # T2's catalogue version moved: its fleet row changes
    worker = threading.Thread(target=run, args=(lambda: handler.handle_many(beats),), name="worker")
    try:
        started = time.monotonic()
        evaluation.start()
        assert round_at_t1.wait(10), "the round did not mark T1 silent"
        worker.start()
        evaluation.join(20)
        worker.join(20)
    finally:
        registry_log.removeHandler(hold)
        registry_log.setLevel(level)
    assert not evaluation.is_alive() and not worker.is_alive()
    deadlocks = [e for e in aborted if _aborted(e)] + deadlock_log.seen
    assert not deadlocks, f"aborted in a deadlock: {deadlocks}"
    assert not aborted, aborted
    assert fleet.stats.get("deadlocks", 0) == 0
    assert time.monotonic() - started < 10
    with rt.engine.connect() as conn:
        versions = dict(conn.execute(text("SELECT terminal_id, catalogue_version FROM fleet_terminals")).all())
    assert versions == {"T1": 1, "T2": 2}, "the worker's group is committed"


def test_two_workers_and_the_round_change_the_same_terminals_without_deadlock(runtimes, deadlock_log):
    one, two = runtimes
    rounds = one.fleet.registry
    ahead = timedelta(hours=1)  # every terminal silent to the round: it changes every one it sees
    stop = threading.Event()
    aborted: list[BaseException] = []
    done = {"groups": 0, "rounds": 0}
    terminals = [f"T{n:02d}" for n in range(24)]

    def worker(rt: HubRuntime, seed: int) -> None:
        rng = random.Random(seed)
        version = 1
        while not stop.is_set():
            now = utcnow()
            version += 1
            picked = rng.sample(terminals, 12)
            picked.sort(reverse=bool(seed % 2))  # the two workers' messages arrive in opposite orders
            group = [
                _birth(t, now, version) if rng.random() < 0.2 else _beat(t, now, version + rng.randrange(2))
                for t in picked
            ]
            try:
                rt.handler.handle_many(group)
                done["groups"] += 1
            except Exception as exc:  # noqa: BLE001 - counted below
                aborted.append(exc)

    def evaluator() -> None:
        while not stop.is_set():
            try:
                rounds.evaluate_all(utcnow() + ahead)
                done["rounds"] += 1
            except Exception as exc:  # noqa: BLE001 - counted below
                aborted.append(exc)

    threads = [
        threading.Thread(target=worker, args=(one, 1), name="worker-1"),
        threading.Thread(target=worker, args=(two, 2), name="worker-2"),
        threading.Thread(target=evaluator, name="round"),
    ]
    for t in threads:
        t.start()
    time.sleep(4.0)
    stop.set()
    for t in threads:
        t.join(20)
    deadlocks = [e for e in aborted if _aborted(e)] + deadlock_log.seen
    assert not deadlocks, f"{len(deadlocks)} aborted in a deadlock, e.g. {deadlocks[0]}"
    assert not aborted, aborted[:3]
    assert rounds.stats.get("deadlocks", 0) == 0
    assert done["groups"] >= 5 and done["rounds"] >= 2, done  # both sides did run, concurrently
