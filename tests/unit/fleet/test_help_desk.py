"""Residents' calls for staff at the hub (hub.fleet.help) and at the terminal (edge.sync.help), without a
broker: the alert from a heartbeat's alarm, the answer by a named person (once), the command it sends
and sends again while the terminal still calls, the clearing, the report of the time to answer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from edge.store.alarms import Alarms
from edge.store.db import open_engine as open_edge_engine
from edge.sync.help import HelpCall
from hub.db.engine import open_engine
from hub.db.models import FleetAlertRow, TerminalRow
from hub.errors import PermissionDenied
from hub.fleet.assess import AlertKind, Facts, assess
from hub.fleet.help import AlreadyAnswered, HelpDesk
from hub.fleet.registry import Fleet
from hub.ingest import committees
from hub.people.roles import Principal, Role
from hub.settings import FleetSettings
from protocol import topics
from protocol.codec import decode_for_topic
from protocol.envelope import utcnow
from protocol.state import Command, CommandBody, CommandName
from tests.support import register_terminal

NOW = utcnow()
OPERATOR = Principal(5, "operator", "钱运维", Role.OPERATOR)
AUDITOR = Principal(4, "auditor", "赵监察", Role.AUDITOR)
_alerts = FleetAlertRow.__table__


def test_a_heartbeat_carrying_the_help_alarm_is_a_help_alert_and_without_it_none():
    s = FleetSettings()
    calling = Facts(online=True, last_seen_at=NOW, health={"alarms": ["help_requested"]})
    assert AlertKind.HELP_REQUESTED in assess(calling, NOW, s).problems
    quiet = Facts(online=True, last_seen_at=NOW, health={"alarms": ["printer_paper"]})
    assert AlertKind.HELP_REQUESTED not in assess(quiet, NOW, s).problems


@pytest.fixture
def engine(hub_db_url):
    engine = open_engine(hub_db_url)
    yield engine
    engine.dispose()


def _raise_call(engine, terminal: str, at) -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(
                _alerts.insert().values(terminal_id=terminal, kind="help_requested", detail="", raised_at=at)
            ).inserted_primary_key[0]
        )


def test_a_call_is_answered_once_by_name_sent_again_while_it_lasts_and_reported(engine):
    register_terminal(engine, "JW001-K1", "JW001")
    committees.set_name(engine, "JW001", "南京东路第一居委会", "cli:test")
    sent: list[tuple[str, bytes]] = []
    clock = [NOW]
    desk = HelpDesk(engine, lambda topic, payload: sent.append((topic, payload)), clock=lambda: clock[0])
    call = _raise_call(engine, "JW001-K1", NOW - timedelta(seconds=42))
    assert desk.waiting() == 1
    with pytest.raises(PermissionDenied):
        desk.acknowledge(call, AUDITOR)  # auditors act on nothing

    answered = desk.acknowledge(call, OPERATOR)
    assert (answered.responder, answered.acknowledged_by, answered.answer_s) == ("钱运维", "operator", 42.0)
    assert answered.committee_name == "南京东路第一居委会" and desk.waiting() == 0
    with pytest.raises(AlreadyAnswered):
        desk.acknowledge(call, OPERATOR)
    topic, payload = sent[0]
    command = decode_for_topic(topic, payload)
    assert topic == topics.down("JW001-K1", topics.Down.COMMANDS)
    assert isinstance(command, Command) and command.body.command is CommandName.HELP_COMING
    assert command.body.responder == "钱运维"

    assert desk.resend_due() == 0  # just sent
    clock[0] = NOW + timedelta(seconds=20)
    assert desk.resend_due() == 1 and len(sent) == 2  # the terminal still calls: again
    with engine.begin() as conn:
        conn.execute(_alerts.update().values(cleared_at=clock[0]))
    clock[0] = NOW + timedelta(seconds=60)
    assert desk.resend_due() == 0  # the call has ended

    _raise_call(engine, "JW001-K1", NOW)  # a second call, unanswered
    [line] = desk.summary(NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    assert (line.committee_name, line.calls, line.answered, line.median_s, line.max_s) == (
        "南京东路第一居委会",
        2,
        1,
        42.0,
        42.0,
    )
    assert [c.committee for c in desk.calls("JW002")] == []


def test_the_registry_raises_and_clears_the_help_alert_from_heartbeats(engine):
    register_terminal(engine, "T1", "JW001")
    fleet = Fleet(engine, FleetSettings())
    terms = TerminalRow.__table__
    with engine.begin() as conn:
        conn.execute(
            terms.insert().values(
                terminal_id="T1", online=True, bd_seq=1, last_seen_at=NOW, health='{"alarms": ["help_requested"]}'
            )
        )
    fleet.evaluate_all(NOW)
    with engine.connect() as conn:
        rows = conn.execute(select(_alerts.c.kind, _alerts.c.cleared_at)).all()
    assert rows == [("help_requested", None)]
    with engine.begin() as conn:
        conn.execute(terms.update().values(health='{"alarms": []}'))
    fleet.evaluate_all(NOW + timedelta(seconds=1))
    with engine.connect() as conn:
        assert conn.execute(select(_alerts.c.cleared_at)).scalar() is not None


def test_the_terminal_calls_hears_who_is_coming_once_and_clears_its_alarm(tmp_path):
    from edge.settings import EdgeSettings

    engine = open_edge_engine(EdgeSettings(terminal_id="T1", data_dir=tmp_path))
    alarms = Alarms(engine)
    pokes: list[int] = []
    heard: list[str] = []
    call = HelpCall(alarms, lambda: pokes.append(1), "居民呼叫")
    call.on_answer.append(lambda answer: heard.append(answer.responder))
    call.call()
    assert "help_requested" in alarms.active() and pokes == [1] and call.answer is None
    coming = Command(terminal="T1", body=CommandBody(command=CommandName.HELP_COMING, responder="钱运维"))
    call.on_command(coming)
    call.on_command(coming)  # the hub's resend before it heard the alarm go
    assert heard == ["钱运维"] and call.answer is not None and call.answer.responder == "钱运维"
    assert "help_requested" not in alarms.active() and len(pokes) == 3
    call.call()  # a new call forgets the old answer
    assert call.answer is None and "help_requested" in alarms.active()
    engine.dispose()
