"""Case events reach their terminal at least once, even when the hub loses one between its commit and
the broker.

A terminal (EdgeRuntime) submits a case over the real broker; the hub commits the SUBMITTED event and a
clerk's changes, and publishes each through its EventDelivery. A row's ``published_at`` is set only once
the broker acknowledged (PUBACK) the message carrying it. The broken cases: an event committed while the
hub could not publish it, after which a later event of the same terminal arrives first (the terminal's
events watermark passes the lost one, so no birth ever resends it); and a hub SIGKILLed right after a
back-office commit whose message went into a blackholed link. After a restart the hub sends again what the
broker never acknowledged; the terminal ends with every event and the newest state.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import text

from edge.store.cases import NewCase
from harness.broker import free_port
from harness.linkproxy import LinkProxy
from hub.cases.delivery import EventDelivery
from hub.cases.states import Action
from hub.db.engine import open_engine
from hub.people.roles import Principal, Role
from hub.people.service import Users
from hub.runtime import HubRuntime
from hub.web.services import Services
from protocol.catalogue import load_seed
from tests.support import applicant, hub_count, wait_for
from tests.unit.hub.helpers import PASSWORDS

CLERK = Principal(user_id=1, username="clerk_mz", display_name="李经办", role=Role.CLERK, departments=frozenset({"MZ"}))
FAST = {"event_grace_s": 0.5, "event_resend_s": 0.5}  # with router=None: MZ-001 goes to 民政, as seeded


def _submit(edge: Any) -> str:
    edge.start_sync()
    case = edge.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(7), materials=["身份证"]))
    case_id = str(case.case_id)
    wait_for(lambda: _terminal_at(edge, case_id) == ("submitted", 1), what="the SUBMITTED event at the terminal")
    return case_id


def _terminal_at(edge: Any, case_id: str) -> tuple[str, int] | None:
    row = edge.cases.get(case_id)
    return (str(row["status"]), int(row["version"])) if row else None


def _terminal_versions(edge: Any, case_id: str) -> list[int]:
    with edge.engine.connect() as conn:
        rows = conn.execute(text("SELECT version FROM case_events WHERE case_id = :c ORDER BY version"), {"c": case_id})
        return [r[0] for r in rows]


def _unpublished(engine: Any, case_id: str) -> list[int]:
    """Versions of the case's events at the hub that the broker has not acknowledged."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT version FROM case_events WHERE case_id = :c AND published_at IS NULL ORDER BY version"),
            {"c": case_id},
        )
        return [r[0] for r in rows]


def _metric(hub: HubRuntime, name: str) -> float:
    return hub.metrics.registry.get_sample_value(name) or 0.0


def test_events_are_marked_published_once_the_broker_acknowledged_them(hub_factory, edge_factory):
    hub = hub_factory(router=None, **FAST)
    edge = edge_factory("T1")
    case_id = _submit(edge)
    wait_for(lambda: _unpublished(hub.engine, case_id) == [], what="the SUBMITTED event marked published")

    outcome = Services.from_runtime(hub).workflow.act(CLERK, case_id, Action.ACCEPT, 1)
    assert outcome.published, "handed to the broker client at once"
    wait_for(lambda: _terminal_at(edge, case_id) == ("accepted", 2), what="受理 at the terminal")
    wait_for(lambda: _unpublished(hub.engine, case_id) == [], what="受理 marked published")
    hub.delivery.resend()  # a sweep now finds nothing to send again
    assert _metric(hub, "shegong_hub_events_unpublished") == 0
    assert _terminal_versions(edge, case_id) == [1, 2]


def test_an_event_the_hub_lost_reaches_the_terminal_after_a_later_one_passed_it(hub_factory, edge_factory, broker):
    slow = hub_factory(
        router=None, event_grace_s=3600, event_resend_s=3600
    )  # nothing is sent again while this hub runs
    edge = edge_factory("T1")
    case_id = _submit(edge)

    # 受理 is committed by a hub that cannot publish (its broker client never connected): lost.
    stranded = EventDelivery(slow.engine, mqtt.Client(CallbackAPIVersion.VERSION2), tags=slow.handler.event_tags)
    lost = Services.build(slow.engine, stranded.send).workflow.act(CLERK, case_id, Action.ACCEPT, 1)
    assert not lost.published
    # 开始审核 goes out: the terminal applies version 3, and its watermark passes the lost event.
    later = Services.from_runtime(slow).workflow.act(CLERK, case_id, Action.REVIEW, 2)
    assert later.published
    wait_for(lambda: _terminal_at(edge, case_id) == ("under_review", 3), what="审核中 at the terminal")
    assert _terminal_versions(edge, case_id) == [1, 3], "the gap: version 2 never arrived"
    assert edge.outbox.counter("events_watermark") > lost.event.event_id, "no birth would ever resend it"
    wait_for(lambda: _unpublished(slow.engine, case_id) == [2], what="all but the lost event marked published")
    # The terminal starts again: its birth (retained, read back by every hub that connects) carries the
    # new watermark, so the old scheme has nothing to resend.
    edge.close()
    edge = edge_factory("T1")
    edge.start_sync()
    wait_for(
        lambda: hub_count(slow.engine, "SELECT bd_seq FROM terminals WHERE terminal_id = 'T1'") == 2, what="rebirth"
    )
    assert _terminal_versions(edge, case_id) == [1, 3]

    slow.close()
    hub = hub_factory(router=None, **FAST)  # the hub restarts and sends again what the broker never acknowledged
    wait_for(lambda: _terminal_versions(edge, case_id) == [1, 2, 3], what="the lost event at the terminal")
    assert _terminal_at(edge, case_id) == ("under_review", 3), "the older event did not move the case back"
    wait_for(lambda: _unpublished(hub.engine, case_id) == [], what="the resent event marked published")
    assert _metric(hub, "shegong_hub_events_resent_total") >= 1


def _hub_process(db_url: str, broker_port: int, log: Path, web_port: int | None = None) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SHEGONG_HUB_DATABASE_URL": db_url,
        "SHEGONG_HUB_BROKER_PORT": str(broker_port),
        "SHEGONG_HUB_EVENT_GRACE_S": "0.5",
        "SHEGONG_HUB_EVENT_RESEND_S": "0.5",
        "SHEGONG_LOG_LEVEL": "WARNING",
    }
    args = ["--no-web"]
    if web_port:
        env.update(SHEGONG_HUB_WEB_PORT=str(web_port), SHEGONG_HUB_WEB_SECRET="s" * 40)
        args = []
    cmd = [sys.executable, "-m", "shegong.cli", "hub", "run", *args]
    return subprocess.Popen(cmd, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_back_office_event_reaches_the_terminal_after_a_hub_sigkill_right_after_its_commit(
    hub_db_url, broker, edge_factory, tmp_path
):
    engine = open_engine(hub_db_url)  # schema first, and the clerk who will sign in
    Users(engine, lambda: [d.code for d in load_seed().departments]).add(
        "clerk_mz", PASSWORDS["clerk_mz"], "clerk", ["MZ"]
    )
    link = LinkProxy(broker.port)  # the hub's own link to the broker, to blackhole
    web = free_port()
    hub = _hub_process(hub_db_url, link.port, tmp_path / "hub.log", web_port=web)
    try:
        wait_for(lambda: _answers(f"http://127.0.0.1:{web}/healthz"), timeout=30, what="the hub's web up")
        edge = edge_factory("T1")
        case_id = _submit(edge)
        api = httpx.Client(base_url=f"http://127.0.0.1:{web}/api", timeout=10)
        login = api.post("/auth/login", json={"username": "clerk_mz", "password": PASSWORDS["clerk_mz"]})
        assert login.status_code == 201, login.text
        auth = {"Authorization": f"Bearer {login.json()['token']}"}

        wait_for(lambda: _unpublished(engine, case_id) == [], what="the SUBMITTED event marked published")
        link.blackhole()  # the broker will never see what the hub publishes now
        r = api.post(f"/cases/{case_id}/actions", json={"action": "accept", "expected_version": 1}, headers=auth)
        assert r.status_code == 201, r.text
        hub.send_signal(signal.SIGKILL)  # right after the commit, its message still in paho's memory
        hub.wait(10)
        assert _unpublished(engine, case_id) == [2]
        assert _terminal_at(edge, case_id) == ("submitted", 1)

        hub = _hub_process(hub_db_url, broker.port, tmp_path / "hub.log")
        wait_for(lambda: _terminal_at(edge, case_id) == ("accepted", 2), timeout=30, what="受理 after the restart")
        wait_for(lambda: _unpublished(engine, case_id) == [], what="受理 marked published")
    finally:
        hub.terminate()
        hub.wait(10)
        link.close()
        engine.dispose()
