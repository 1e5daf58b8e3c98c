"""The hub failing on a message, and the hub's database failing: two different things.

- A message the database refuses for no reason ingest knows (here a trigger or CHECK constraint the test
  adds, as a schema bug would) fails twice, alone, with the database answering: it is set aside as a
  ``processing_failed`` dead letter (the message as it travelled: sealed), acknowledged, and its terminal
  told, while the cases around it are committed. No log line, at DEBUG, carries the resident's ID number,
  name or phone number — not the statement's parameters, and not PostgreSQL's DETAIL (``Failing row
  contains (…)``), which quotes the whole row.
- While the database cannot be reached (PostgreSQL behind a link the test cuts), nothing is set aside and
  nothing acknowledged: the terminal keeps its cases, and they are all committed once the link is back.

Real Mosquitto, a real hub (in this process, so its logs can be read), SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from sqlalchemy import text
from sqlalchemy.engine import make_url

from edge.store.cases import NewCase
from harness.linkproxy import LinkProxy
from hub.cases.routing import Router
from hub.db.engine import open_engine
from hub.runtime import HubRuntime
from hub.settings import HubSettings
from protocol import topics
from protocol.cases import Ack, Applicant, CaseBatch, CaseBatchBody, CaseSubmission
from protocol.envelope import utcnow
from tests.support import applicant, assert_exactly_once, hub_count, id_number, register_terminal, seal, wait_for

RESIDENT = Applicant(id_number=id_number("310104", "19480716", "273"), name="欧阳秀兰")
PHONE = "13917654321"


class Terminal:
    """Terminal T1 as a bare client: publishes what a test gives it, keeps what comes back."""

    def __init__(self, port: int) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="T1", protocol=MQTTProtocolVersion.MQTTv5)
        self.client.on_message = lambda _c, _u, m: self.received.append((m.topic, m.payload))
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(topics.down("T1", topics.Down.ACKS), qos=1)
        self.client.loop_start()

    def send(self, *cases: CaseSubmission) -> CaseBatch:
        batch = CaseBatch(terminal="T1", body=CaseBatchBody(cases=[seal(c) for c in cases]))
        self.client.publish(topics.up("T1", topics.Up.CASES), batch.encode(), qos=1).wait_for_publish(5)
        return batch

    def answer(self, batch: CaseBatch) -> Ack | None:
        for _, payload in self.received:
            ack = Ack.model_validate_json(payload)
            if ack.body.in_reply_to == batch.id:
                return ack
        return None

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def t1(broker) -> Iterator[Terminal]:
    t = Terminal(broker.port)
    yield t
    t.close()


def _case(n: int, who: Applicant) -> CaseSubmission:
    return CaseSubmission(
        case_id=uuid.uuid4(),
        receipt_no=f"JW001-20261127-{n:04d}",
        query_code="ABCDEF",
        item_code="JB-001",
        committee="JW001",
        created_at=utcnow(),
        applicant=who,
        form={"phone": PHONE, "address": "浦东新区潍坊路"},
    )


def _refuse_this_resident(engine) -> None:
    """A schema that refuses the resident's case, as a bug would: a CHECK constraint on PostgreSQL (whose
    error DETAIL then quotes the whole row), a trigger on SQLite (which cannot add a constraint later)."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    f"ALTER TABLE cases ADD CONSTRAINT refuse_one CHECK (applicant_name <> '{RESIDENT.name}') NOT VALID"
                )
            )
        else:
            conn.execute(
                text(
                    f"CREATE TRIGGER refuse_one BEFORE INSERT ON cases WHEN NEW.applicant_name = '{RESIDENT.name}' "
                    "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
                )
            )


def test_a_case_the_database_refuses_is_set_aside_and_no_log_line_carries_the_residents_data(
    hub_factory, t1, caplog, every_log_line
):
    caplog.set_level(logging.DEBUG)
    hub = hub_factory()
    register_terminal(hub.engine, "T1")
    _refuse_this_resident(hub.engine)

    before, bad, after = _case(1, applicant(1)), _case(2, RESIDENT), _case(3, applicant(3))
    batches = [t1.send(before), t1.send(bad), t1.send(after)]
    wait_for(lambda: all(t1.answer(b) for b in batches), what="an answer to each message")
    acks = [t1.answer(b) for b in batches]
    assert [a.body.acked for a in acks] == [[before.case_id], [], [after.case_id]]
    assert [(r.message_id, r.reason.value) for r in acks[1].body.rejected] == [(batches[1].id, "processing_failed")]
    assert_exactly_once(hub.engine, [str(before.case_id), str(after.case_id)])
    with hub.engine.connect() as conn:
        reason, payload = conn.execute(text("SELECT reason, payload FROM dead_letters")).one()
    assert reason == "processing_failed"
    assert bytes(payload) == batches[1].encode()[: len(bytes(payload))], "the message as it travelled: sealed"
    assert hub.metrics.poison._value.get() == 1

    lines = every_log_line.getvalue().splitlines() + [r.getMessage() for r in caplog.records]
    lines += [caplog.text]
    assert any("processing_failed" in line or "poison" in line for line in lines), "the failure is logged"
    for secret in (RESIDENT.id_number, RESIDENT.name, PHONE):
        leaks = [line for line in lines if secret in line]
        assert not leaks, f"a log line carries {secret!r}: {leaks[0][:300]}"


def test_while_the_database_is_unreachable_nothing_is_set_aside_or_acknowledged(pg_url, broker, edge_factory):
    pg = make_url(pg_url)
    link = LinkProxy(pg.port or 5432, pg.host or "127.0.0.1")
    proxied = pg.set(host="127.0.0.1", port=link.port).render_as_string(hide_password=False)
    setup = open_engine(pg_url)
    register_terminal(setup, "T1")
    hub = HubRuntime(HubSettings(database_url=proxied, broker_port=broker.port, keepalive_s=5))  # type: ignore[call-arg]
    try:
        hub.start()
        assert hub.worker.connected.wait(10)
        edge = edge_factory("T1")
        edge.start_sync()
        wait_for(lambda: hub_count(setup, "SELECT count(*) FROM terminals WHERE terminal_id = 'T1'"), what="birth")

        link.cut()  # the database is gone: connections dropped, new ones refused
        accepted = [
            str(edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(n))).case_id) for n in range(20)
        ]
        wait_for(lambda: hub.metrics.storage_waits._value.get() >= 3, what="ingest waiting for the database")
        time.sleep(edge.settings.ack_timeout_s + 1)  # the terminal has sent its batches again meanwhile
        assert edge.outbox.stats().depth == 20, "nothing acknowledged while nothing could be committed"
        assert hub.metrics.poison._value.get() == 0

        link.restore()
        wait_for(lambda: edge.outbox.stats().depth == 0, timeout=60, what="the cases committed once it is back")
        assert_exactly_once(setup, accepted)
        assert hub_count(setup, "SELECT count(*) FROM dead_letters") == 0, "no good case was set aside"
        assert edge.outbox.stats().parked == 0
    finally:
        hub.close()
        link.close()
        setup.dispose()


def test_a_case_refused_only_at_commit_is_never_acked(pg_url, broker, t1):
    """Invariants review: ack after commit was tested only with refusals raised as the row is written,
    inside the transaction, so a hub publishing its ack before COMMIT passed every test. Here a deferred
    constraint trigger refuses the resident's case at COMMIT itself: no ack may name it; the cases around
    it are acked and stored once."""
    setup = open_engine(pg_url)
    register_terminal(setup, "T1")
    with setup.begin() as conn:
        conn.execute(
            text(
                "CREATE FUNCTION refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF NEW.applicant_name = '{RESIDENT.name}' THEN RAISE EXCEPTION 'refused at commit'; END IF; "
                "RETURN NEW; END $$"
            )
        )
        conn.execute(
            text(
                "CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON cases DEFERRABLE INITIALLY DEFERRED "
                "FOR EACH ROW EXECUTE FUNCTION refuse_at_commit()"
            )
        )
    hub = HubRuntime(
        HubSettings(database_url=pg_url, broker_port=broker.port, keepalive_s=5, open_processes=0),  # type: ignore[call-arg]
        router=Router({"JB-001": "minzheng"}),
    )
    try:
        hub.start()
        assert hub.worker.connected.wait(10)
        before, bad, after = _case(1, applicant(1)), _case(2, RESIDENT), _case(3, applicant(3))
        batches = [t1.send(before), t1.send(bad), t1.send(after)]
        wait_for(lambda: all(t1.answer(b) for b in batches), what="an answer to each message")
        time.sleep(0.5)  # any later ack has come too
        acked = {i for _, p in t1.received for i in Ack.model_validate_json(p).body.acked}
        assert bad.case_id not in acked, "a case whose commit failed was acked"
        assert {before.case_id, after.case_id} <= acked
        assert_exactly_once(setup, [str(before.case_id), str(after.case_id)])
        assert hub_count(setup, "SELECT count(*) FROM cases") == 2
    finally:
        hub.close()
        setup.dispose()
