"""The running hub acts on the catalogue in force: a published version takes effect without a restart.

A terminal (a bare paho client speaking the real protocol: sealed cases in a batch on its
``up/cases`` topic) submits cases to a running HubRuntime over a real Mosquitto. Between two cases the
centre publishes a version — through the hub itself, as the catalogue page does, or from another OS
process (``shegong hub catalogue import`` and ``publish``) sharing the database. The next case is
promised the new number of working days and routed to the item's new department; the cases before keep
what they got at arrival; the back office's pages and API list the new version. Due dates are counted
by hand on an explicit calendar: weekends off, and one weekday off next week. Runs on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from sqlalchemy import select

from hub.calendar.service import CalendarService
from hub.db.models import CaseRow, table
from protocol import topics
from protocol.cases import CaseBatch, CaseBatchBody, CaseSubmission
from protocol.envelope import utcnow
from tests.support import applicant, register_terminal, seal, wait_for

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Terminal:
    """Plays terminal T1: each submission is one batch of one sealed case, QoS 1."""

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="T1", protocol=MQTTProtocolVersion.MQTTv5)
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        self.seq = 0

    def submit(self, engine: Any, item_code: str) -> dict[str, Any]:
        """Send a case of ``item_code``; returns its row once the hub committed it."""
        if not self.seq:
            register_terminal(engine, "T1", "JW001")  # provisioned: the hub takes cases from it for JW001
        self.seq += 1
        case = CaseSubmission(
            case_id=uuid.uuid4(),
            receipt_no=f"JW001-{utcnow():%Y%m%d}-{self.seq:04d}",
            query_code="ABC234",
            item_code=item_code,
            committee="JW001",
            created_at=utcnow(),
            applicant=applicant(self.seq),
        )
        batch = CaseBatch(terminal="T1", seq=self.seq, body=CaseBatchBody(cases=[seal(case)]))
        self.client.publish(topics.up("T1", topics.Up.CASES), batch.encode(), qos=1).wait_for_publish(5)
        return wait_for(lambda: _case(engine, str(case.case_id)), what=f"case of {item_code} committed at the hub")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def terminal(broker):
    t = Terminal(broker.port)
    yield t
    t.close()


def _case(engine: Any, case_id: str) -> dict[str, Any] | None:
    t = table(CaseRow)
    with engine.connect() as conn:
        row = conn.execute(select(t).where(t.c.case_id == case_id)).mappings().first()
    return dict(row) if row else None


def explicit_calendar(calendar: CalendarService) -> date:
    """From a week ago to two months ahead only weekends are off, but for one holiday: the second weekday
    after today. Returns that holiday."""
    today = datetime.now(SHANGHAI).date()
    for d in calendar.days():
        if today - timedelta(days=7) <= d.day <= today + timedelta(days=60):
            calendar.remove_day(d.day, "test")
    weekdays = [today + timedelta(days=n) for n in range(1, 10) if (today + timedelta(days=n)).weekday() < 5]
    calendar.set_day(weekdays[1], "off", "测试假日", "test")
    return weekdays[1]


def by_hand(received_at: datetime, days: int, holiday: date) -> date:
    """The due date counted on the fingers: Monday to Friday are worked except ``holiday``; a case received
    on a day off counts from the next working day; the due date is the ``days``-th working day after."""

    def worked(d: date) -> bool:
        return d.weekday() < 5 and d != holiday

    day = received_at.astimezone(SHANGHAI).date()
    while not worked(day):
        day += timedelta(days=1)
    left = days
    while left:
        day += timedelta(days=1)
        left -= worked(day)
    return day


def test_a_version_promising_fewer_days_and_moving_an_item_counts_from_the_next_case(hub, terminal):
    holiday = explicit_calendar(hub.calendar)
    before = terminal.submit(hub.engine, "RS-008")  # 失业保险金申领: 5 working days, 人社
    archive_before = terminal.submit(hub.engine, "DA-002")  # 知青档案查询, 档案

    # Version 2: RS-008 promises 2 working days; 知青档案查询 moves to 民政 (a new code: codes carry
    # their department), DA-002 is gone. Published as the catalogue page does, through the running hub.
    store = hub.catalogue.store
    draft = json.loads(store.export())
    rs008 = next(i for i in draft["items"] if i["code"] == "RS-008")
    rs008["promised_days"] = 2
    archive = next(i for i in draft["items"] if i["code"] == "DA-002")
    archive.update(code="MZ-009", department="MZ")
    store.import_catalogue(json.dumps(draft, ensure_ascii=False), "user:manager")
    assert hub.catalogue.publish("user:manager", "缩短时限，档案查询转民政").version == 2

    after = terminal.submit(hub.engine, "RS-008")
    archive_after = terminal.submit(hub.engine, "MZ-009")
    stale = terminal.submit(hub.engine, "DA-002")  # from a terminal not updated yet: no department claims it

    assert (before["promised_days"], before["due_date"]) == (5, by_hand(before["received_at"], 5, holiday))
    assert (after["promised_days"], after["due_date"]) == (2, by_hand(after["received_at"], 2, holiday))
    assert (archive_before["department"], archive_after["department"], stale["department"]) == ("DA", "MZ", "centre")
    assert archive_after["due_date"] == by_hand(archive_after["received_at"], 5, holiday)
    assert _case(hub.engine, before["case_id"])["due_date"] == before["due_date"], "the promise made at arrival"


def _shegong(db_url: str, broker_port: int, *args: str) -> str:
    """``shegong hub …`` in its own OS process, sharing the hub's database and broker."""
    env = {**os.environ, "SHEGONG_HUB_DATABASE_URL": db_url, "SHEGONG_HUB_BROKER_PORT": str(broker_port)}
    done = subprocess.run(
        [sys.executable, "-m", "shegong.cli", "hub", *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_version_published_by_another_process_is_in_force_without_a_restart(
    hub, terminal, client, api, hub_db_url, broker, tmp_path: Path
):
    holiday = explicit_calendar(hub.calendar)
    before = terminal.submit(hub.engine, "GA-002")  # 居住证申领: 10 working days
    assert before["promised_days"] == 10

    # Another process publishes version 2: GA-002 promises 4 days, and a new department, the street's own
    # window (街道综合窗口), takes a new item.
    draft = json.loads(hub.catalogue.store.export())
    ga002 = next(i for i in draft["items"] if i["code"] == "GA-002")
    ga002.update(promised_days=4, name="居住证申领（限时办）")
    draft["departments"].append({"code": "JD", "name": "街道综合窗口", "name_en": "Street service window"})
    draft["items"].append({**ga002, "code": "JD-001", "department": "JD", "name": "居住证代办", "promised_days": 3})
    path = tmp_path / "catalogue-v2.json"
    path.write_text(json.dumps(draft, ensure_ascii=False), encoding="utf-8")
    _shegong(hub_db_url, broker.port, "catalogue", "import", str(path))
    assert "published v2" in _shegong(hub_db_url, broker.port, "catalogue", "publish", "--note", "限时办")

    # Within the check interval the running hub puts it in force, without a restart.
    wait_for(lambda: hub.catalogue.in_force.current().version == 2, timeout=hub.settings.in_force_check_s + 5)
    after = terminal.submit(hub.engine, "GA-002")
    street = terminal.submit(hub.engine, "JD-001")
    assert (after["promised_days"], after["due_date"]) == (4, by_hand(after["received_at"], 4, holiday))
    assert (street["department"], street["promised_days"]) == ("JD", 3)
    assert street["due_date"] == by_hand(street["received_at"], 3, holiday)
    assert _case(hub.engine, before["case_id"])["promised_days"] == 10

    # The back office lists the version in force: the new department, the new names.
    manager = api("manager")
    departments = client.get("/api/departments", headers=manager).json()
    assert {"code": "JD", "name": "街道综合窗口"} in departments
    queue = client.get("/api/queue?limit=100", headers=manager).json()
    names = {i["case_id"]: (i["item_name"], i["department_name"]) for i in queue["items"]}
    assert names[street["case_id"]] == ("居住证代办", "街道综合窗口")
    assert names[after["case_id"]][0] == "居住证申领（限时办）"
    report = client.get("/api/reports?department=JD", headers=manager).json()
    assert [(i["code"], i["name"]) for i in report["items"]] == [("JD-001", "居住证代办")]
