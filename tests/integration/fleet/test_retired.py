"""A retired terminal on the fleet dashboard: shown retired, its alerts cleared, no new ones.

A simulated terminal falls silent and gets its offline alert through a real Mosquitto; the administrator
retires it (``shegong hub terminal retire``, which ``shegong provision retire`` runs on the hub). It is out
of the register, the dashboard and ``/metrics`` show it retired, its alert is cleared and the evaluator,
running on, raises none again. Registered again (provisioned anew), it is assessed again. On SQLite and
PostgreSQL.
"""

from __future__ import annotations

import time

import pytest
from prometheus_client import generate_latest

from hub.cli import main as hub_main
from hub.fleet.assess import State
from hub.fleet.board import FleetBoard
from hub.ingest import register
from tests.integration.fleet.conftest import alerts, fleet_state, rows
from tests.support import wait_for


def test_a_retired_terminal_is_shown_retired_and_no_longer_alerted(fleet_hub, sims, monkeypatch: pytest.MonkeyPatch):
    hub = fleet_hub()
    monkeypatch.setenv("SHEGONG_HUB_DATABASE_URL", hub.settings.database_url)
    monkeypatch.setenv("SHEGONG_HUB_CONFIG", "/nonexistent")
    assert hub_main(["terminal", "register", "T-R", "--committee", "JW001"]) == 0
    t = sims("T-R").connect()
    t.beat()
    wait_for(lambda: alerts(hub, "T-R", "offline"), timeout=15, what="offline alert for the silent terminal")

    assert hub_main(["terminal", "retire", "T-R"]) == 0
    assert fleet_state(hub, "T-R") == "retired"
    assert all(a.cleared_at is not None for a in alerts(hub, "T-R")), "its alerts are cleared"
    assert "T-R" not in {e.terminal_id for e in register.entries(hub.engine)}, "out of the register"
    time.sleep(1.0)  # the evaluator (every 0.2 s) runs on while the terminal stays silent
    assert fleet_state(hub, "T-R") == "retired"
    assert all(a.cleared_at is not None for a in alerts(hub, "T-R")), "no alert raised again"
    board = FleetBoard(hub.engine, lambda: hub.fleet.registry.settings, hub.fleet.desired)
    (shown,) = board.board("T-R").terminals
    assert shown.state is State.RETIRED and shown.alerts == [] and shown.problems == {}
    metrics = generate_latest(hub.metrics.registry).decode()
    assert 'shegong_fleet_terminals{state="retired"} 1.0' in metrics
    assert 'shegong_fleet_terminals{state="offline"} 0.0' in metrics
    audited = rows(hub.engine, "SELECT action FROM audit WHERE subject = 'T-R' ORDER BY id")
    assert [a for (a,) in audited][-2:] == ["terminal.unregistered", "terminal.retired"]

    assert hub_main(["terminal", "retire", "T-R"]) == 0, "retiring twice is harmless"
    assert hub_main(["terminal", "register", "T-R", "--committee", "JW001"]) == 0
    wait_for(lambda: fleet_state(hub, "T-R") not in (None, "retired"), what="assessed again once registered")
