"""A hub worker SIGKILLed mid-drain, among several hub processes (``shegong hub run``) on one shared
subscription and one database, while terminals send: no case is lost or stored twice, counted by
identity, and when the killed worker led, a surviving process takes the lead within seconds.

The worker to kill is the leader. It is first stopped (SIGSTOP) while terminals send, so the broker's
round robin hands it messages it cannot commit; the test sees them held (unacked at the terminals, absent
at the hub) before the SIGKILL. A survivor takes the lead; the killed worker is restarted under its name,
as systemd would, and receives its old session's messages once more while the terminals send again what
was not acked: they must be recognised as stored, not stored again. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text

from edge.store.cases import NewCase
from hub.db.engine import open_engine
from tests.support import applicant, assert_exactly_once, hub_count, wait_for

WORKERS = ("w0", "w1", "w2")


def _hub(db_url: str, broker_port: int, instance: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SHEGONG_HUB_DATABASE_URL": db_url,
        "SHEGONG_HUB_BROKER_PORT": str(broker_port),
        "SHEGONG_HUB_INSTANCE": instance,
        "SHEGONG_HUB_SHARE_GROUP": "ingest",
        "SHEGONG_HUB_LEADER_CHECK_S": "0.3",
        "SHEGONG_HUB_KEEPALIVE_S": "30",  # a stopped worker stays connected (holding its messages) meanwhile
        "SHEGONG_LOG_LEVEL": "INFO",
    }
    cmd = [sys.executable, "-m", "shegong.cli", "hub", "run", "--no-web"]
    return subprocess.Popen(cmd, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def _said(log: Path, pattern: str) -> bool:
    return log.exists() and re.search(pattern, log.read_text(errors="replace")) is not None


def _leader(logs: dict[str, Path]) -> str | None:
    """The worker whose last word on leading was "is now": read from each one's log."""
    leading = []
    for name, log in logs.items():
        said = re.findall(rf"hub {name} (is now|is no longer) the leader", log.read_text(errors="replace"))
        if said and said[-1] == "is now":
            leading.append(name)
    return leading[0] if len(leading) == 1 else None


def test_a_worker_killed_mid_drain_loses_and_duplicates_nothing_and_the_lead_moves(
    hub_db_url: str, broker: Any, edge_factory: Any, tmp_path: Path
) -> None:
    engine = open_engine(hub_db_url)  # the schema, before several processes start on it
    logs = {name: tmp_path / f"hub-{name}.log" for name in WORKERS}
    hubs = {name: _hub(hub_db_url, broker.port, name, logs[name]) for name in WORKERS}
    try:
        for name in WORKERS:
            wait_for(lambda n=name: _said(logs[n], rf"hub {n} listening"), timeout=120, what=f"hub {name} listening")
        victim = wait_for(lambda: _leader(logs), timeout=30, what="exactly one leader")

        # ack_timeout_s longer than the look below at what the stopped worker holds: a terminal does not
        # send those cases again before the kill. After it, the terminals send again (the killed worker's
        # Will and a survivor's answer flip the hub state; the ack timeout), and Mosquitto may queue a
        # share of those in the dead worker's persistent session too: the next ack timeout sends them again.
        edges = [edge_factory(f"T{n}", committee_code=f"JW{n:03d}", ack_timeout_s=15.0) for n in range(4)]
        for e in edges:
            e.start_sync()
        accepted: list[str] = []

        def submit(rounds: int, start: int) -> None:
            for r in range(rounds):
                for n, e in enumerate(edges):
                    case = e.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(start + 40 * r + n)))
                    accepted.append(str(case.case_id))
                time.sleep(0.3)  # several batches per terminal: the broker's round robin spreads them

        def depth() -> int:
            return sum(e.outbox.stats().depth for e in edges)

        submit(3, 0)
        wait_for(lambda: depth() == 0, timeout=60, what="the first cases acked by all three workers")
        assert_exactly_once(engine, accepted)

        hubs[victim].send_signal(signal.SIGSTOP)  # alive to the broker, doing nothing: its messages wait
        submit(6, 1000)
        time.sleep(4)  # the live workers commit what they were handed
        held = depth()
        at_hub = hub_count(engine, "SELECT count(*) FROM cases")
        assert held > 0 and at_hub < len(accepted), (held, at_hub, len(accepted))  # the victim holds some

        hubs[victim].send_signal(signal.SIGKILL)
        hubs[victim].wait(10)
        killed = time.monotonic()
        survivors = {n: logs[n] for n in WORKERS if n != victim}
        new_leader = wait_for(lambda: _leader(survivors), timeout=20, what="a surviving worker leading")
        took_over_s = time.monotonic() - killed
        assert new_leader != victim
        assert took_over_s < 15, took_over_s  # "within seconds" (the check runs every 0.3 s), generously

        # The terminals send again what was not acked (at once: the survivors answer the victim's Will), and
        # the survivors store what the broker deals them of it. (It deals a share to the dead session too.)
        wait_for(lambda: hub_count(engine, "SELECT count(*) FROM cases") > at_hub, timeout=60, what="survivors")
        # The killed worker comes back under its name, as systemd's Restart= brings it back: its persistent
        # session still holds what it was handed before the kill (and the share of the resends dealt to it
        # while it was down), delivered now a second time. What the survivors stored meanwhile is
        # recognised as stored and acked, not stored again.
        logs[victim].rename(tmp_path / f"hub-{victim}-killed.log")
        hubs[victim] = _hub(hub_db_url, broker.port, victim, logs[victim])
        wait_for(lambda: _said(logs[victim], rf"hub {victim} listening"), timeout=120, what="the victim back")
        wait_for(lambda: depth() == 0, timeout=120, what="every case acked after the kill")
        assert_exactly_once(engine, accepted)
        time.sleep(3)  # anything still redelivered to the victim is taken (and found stored) meanwhile
        assert_exactly_once(engine, accepted)
        with engine.connect() as conn:
            firsts = conn.execute(
                text("SELECT case_id, count(*) FROM case_events WHERE version = 1 GROUP BY case_id")
            ).all()
        assert len(firsts) == len(accepted) and all(n == 1 for _, n in firsts)  # one first event per case
        assert hub_count(engine, "SELECT count(*) FROM dead_letters") == 0
    finally:
        for p in hubs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.terminate()
        for p in hubs.values():
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        engine.dispose()
