"""One leader among hub processes: exactly one at a time, and taken over within seconds when it dies
(SIGKILL: no goodbye), on SQLite and PostgreSQL."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from sqlalchemy import create_engine

from hub.leader import Leadership

HOLD = """
import sys, time
from sqlalchemy import create_engine
from hub.leader import Leadership
lead = Leadership(create_engine(sys.argv[1]), "child", check_s=0.2).start()
while not lead.is_leader:
    time.sleep(0.05)
print("leading", flush=True)
time.sleep(600)
"""


def _wait(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_exactly_one_leads_and_the_next_takes_over_when_it_stops(hub_db_url: str) -> None:
    engines = [create_engine(hub_db_url) for _ in range(3)]
    leads = [Leadership(e, f"w{n}", check_s=0.2).start() for n, e in enumerate(engines)]
    try:
        assert _wait(lambda: sum(x.is_leader for x in leads) == 1, 5)
        time.sleep(0.6)  # several checks later, still one
        assert sum(x.is_leader for x in leads) == 1
        first = next(x for x in leads if x.is_leader)
        first.stop()
        rest = [x for x in leads if x is not first]
        assert _wait(lambda: sum(x.is_leader for x in rest) == 1, 5)
    finally:
        for x in leads:
            x.stop()
        for e in engines:
            e.dispose()


def test_a_killed_leader_is_replaced_within_seconds(hub_db_url: str) -> None:
    child = subprocess.Popen([sys.executable, "-c", HOLD, hub_db_url], stdout=subprocess.PIPE, text=True)
    engine = create_engine(hub_db_url)
    changes: list[bool] = []
    lead = Leadership(engine, "parent", check_s=0.2)
    lead.on_change.append(changes.append)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "leading"
        lead.start()
        time.sleep(0.5)
        assert not lead.is_leader
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        killed = time.monotonic()
        assert _wait(lambda: lead.is_leader, 10)
        assert time.monotonic() - killed < 5
        assert changes == [True]
    finally:
        child.kill()
        lead.stop()
        engine.dispose()
