"""A terminal that missed its night is alerted by the running hub's fleet evaluation, not only by the hub's
own night (which may itself not run): a real terminal over a real Mosquitto, the hub on SQLite and
PostgreSQL, no ``hub nightly`` anywhere in the test.

The terminal was registered two days ago and never reported a night: within a few evaluation rounds its
fleet page carries a ``night_missed`` alert. It runs its night, reports it, and the next round clears it.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from edge.night.steps import run_night
from protocol.envelope import utcnow
from tests.support import wait_for


def _alerts(engine) -> list[tuple[str, bool]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT terminal_id, cleared_at IS NULL FROM fleet_alerts WHERE kind = 'night_missed' ORDER BY id")
        ).all()
    return [(t, bool(active)) for t, active in rows]


def test_the_fleet_evaluation_alerts_a_missed_night_and_clears_it_after_the_night(fleet_hub, edge_factory, monkeypatch):
    monkeypatch.setenv("SHEGONG_HUB_NIGHT_MISSED_AFTER_H", "24")
    monkeypatch.setenv("SHEGONG_HUB_NIGHT_CHECK_S", "0.2")
    hub = fleet_hub()
    assert hub.settings.night_missed_after_h == 24 and hub.settings.night_check_s == 0.2
    edge = edge_factory("T1")
    with hub.engine.begin() as conn:  # provisioned two days ago; no night reported since
        conn.execute(
            text("UPDATE terminal_register SET registered_at = :at WHERE terminal_id = 'T1'"),
            {"at": (utcnow() - timedelta(days=2)).replace(tzinfo=None)},
        )
    wait_for(lambda: _alerts(hub.engine) == [("T1", True)], timeout=30, what="night_missed raised by the evaluator")

    edge.start_sync()
    night = run_night(edge)
    assert night.ok, night.as_json()
    wait_for(lambda: _alerts(hub.engine) == [("T1", False)], timeout=30, what="night_missed cleared after the night")
