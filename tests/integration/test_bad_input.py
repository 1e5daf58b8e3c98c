"""Bad input from the field: malformed JSON, a wrong schema version, oversized payloads, an envelope
naming another terminal than its topic, an invalid ID number among good cases, a terminal clock a year
off, and a Will that arrives after its terminal was born again.

A raw paho client plays a broken terminal next to a real one. The hub must dead-letter each bad
message with its reason, tell the sender when it can, keep running, and lose nothing else.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text

from edge.store.cases import NewCase
from protocol import sealed, topics
from protocol.cases import Ack, AckBody, CaseBatch, CaseBatchBody, CaseSubmission, Rejection
from protocol.envelope import DeadLetterReason, utcnow
from protocol.state import Birth, BirthBody, Death, DeathBody
from tests.support import RawTerminal, applicant, assert_exactly_once, hub_count, register_terminal, seal, wait_for


@pytest.fixture
def raw(broker):
    r = RawTerminal(broker.port)
    yield r
    r.close()


def _case(n: int = 0, id_number: str | None = None) -> CaseSubmission:
    a = applicant(n)
    if id_number:
        a = a.model_copy(update={"id_number": id_number})
    return CaseSubmission(
        case_id=uuid.uuid4(),
        receipt_no=f"JW009-20261127-{n:04d}",
        query_code="ABCDEF",
        item_code="JB-001",
        committee="JW009",
        created_at=utcnow(),
        applicant=a,
    )


def _dead(hub) -> dict[str, int]:
    with hub.engine.connect() as conn:
        return dict(conn.execute(text("SELECT reason, count(*) FROM dead_letters GROUP BY reason")).all())


def test_malformed_messages_are_dead_lettered_with_their_reason_and_nothing_else_is_lost(
    hub_factory, edge_factory, raw
):
    hub = hub_factory()
    register_terminal(hub.engine, "T9", "JW009")
    up = topics.up("T9", topics.Up.CASES)
    good = CaseBatch(terminal="T9", body=CaseBatchBody(cases=[seal(_case(1))]))
    wrong_version = json.loads(good.encode())
    wrong_version["v"] = 99
    missing_field = json.loads(good.encode())
    del missing_field["body"]["cases"][0]["sealed"]

    raw.publish(up, b"{this is not json")
    raw.publish(up, json.dumps(wrong_version).encode())
    raw.publish(up, json.dumps(missing_field).encode())
    raw.publish(up, b'{"v":1,"pad":"' + b"x" * (300 * 1024) + b'"}')
    raw.publish(up, CaseBatch(terminal="T8", body=CaseBatchBody(cases=[seal(_case(2))])).encode())
    bad_check_digit = _case(3).applicant.id_number[:17] + ("0" if _case(3).applicant.id_number[17] != "0" else "1")
    _, stranger_key = sealed.generate_keypair()  # sealed to some other hub: this one cannot open it
    foreign = sealed.seal(sealed.public_key(stranger_key), _case(6))
    mixed = CaseBatch(
        terminal="T9", body=CaseBatchBody(cases=[seal(_case(4)), seal(_case(5, id_number=bad_check_digit)), foreign])
    )
    raw.publish(up, mixed.encode())

    expected = {
        "malformed_json": 1,
        "unknown_version": 1,
        "schema_invalid": 1,
        "oversized": 1,
        "terminal_mismatch": 1,
        "invalid_id_number": 1,
        "sealed_invalid": 1,
    }
    wait_for(lambda: _dead(hub) == expected, what=f"dead letters {expected}")
    assert hub_count(hub.engine, "SELECT count(*) FROM cases") == 1, "the good case in the mixed batch is kept"

    # The sender is told: a rejection for the refused messages it can name, an ack plus a rejection for the mix.
    wait_for(lambda: any(a.body.in_reply_to == mixed.id for a in raw.acks()), what="ack of the mixed batch")
    reply = next(a for a in raw.acks() if a.body.in_reply_to == mixed.id)
    assert reply.body.acked == [mixed.body.cases[0].case_id]
    assert [r.item_id for r in reply.body.rejected] == [mixed.body.cases[1].case_id, foreign.case_id]
    assert {r.reason.value for a in raw.acks() for r in a.body.rejected} >= {
        "unknown_version",
        "schema_invalid",
        "invalid_id_number",
        "sealed_invalid",
    }

    # The hub is still working for everyone else.
    edge = edge_factory()
    edge.start_sync()
    accepted = [str(edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(7))).case_id)]
    wait_for(lambda: edge.outbox.stats().depth == 0, what="a real terminal's case acked")
    assert_exactly_once(hub.engine, accepted + [str(mixed.body.cases[0].case_id)])


def test_a_refused_item_is_parked_at_the_terminal_with_an_alarm_never_deleted(hub_factory, edge_factory, raw):
    hub_factory()
    edge = edge_factory(terminal_id="T9")
    case = edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(1)))
    rejection = Ack(
        terminal="T9",
        body=AckBody(rejected=[Rejection(item_id=case.case_id, reason=DeadLetterReason.CONFLICT, detail="test")]),
    )
    edge.agent.stop()  # dispatch the rejection the way the agent does, without racing its real send
    edge.agent._dispatch(rejection)
    stats = edge.outbox.stats()
    assert (stats.depth, stats.parked) == (0, 1)
    assert "items_refused" in edge.alarms.active()
    assert edge.cases.get(str(case.case_id)) is not None


def test_a_terminal_clock_a_year_off_is_flagged_and_the_hub_keeps_its_own_time(hub_factory, edge_factory):
    hub = hub_factory()
    year_ahead = lambda: utcnow() + timedelta(days=365)  # noqa: E731
    edge = edge_factory(clock=year_ahead)
    case = edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(1)), now=year_ahead())
    edge.start_sync()
    wait_for(lambda: edge.outbox.stats().depth == 0, what="case acked")
    with hub.engine.connect() as conn:
        row = conn.exec_driver_sql("SELECT received_at, clock_skew_s FROM cases").one()
        terminal_skew = conn.exec_driver_sql("SELECT clock_skew_s FROM terminals WHERE terminal_id='T1'").scalar_one()
    assert str(row[0])[:4] == str(utcnow().year), "the hub's receive time is its own, not the terminal's"
    assert row[1] is not None and row[1] < -364 * 86400, "the case is flagged with the skew"
    assert terminal_skew < -364 * 86400
    assert hub.metrics.clock_skew._value.get() >= 1
    assert edge.cases.get(str(case.case_id))["created_at"].year == utcnow().year + 1


def test_a_late_will_does_not_mark_a_live_terminal_offline(hub_factory, edge_factory, raw, proxy):
    hub = hub_factory()
    edge = edge_factory(port=proxy.port)
    edge.start_sync()
    wait_for(edge.agent.connected_event.is_set, what="terminal online")
    wait_for(
        lambda: hub_count(hub.engine, "SELECT count(*) FROM terminals WHERE online") == 1,
        what="hub saw the birth",
    )
    live = edge.agent._bd_seq

    # A Will of an older session arriving now (as after a takeover) must not win.
    raw.publish(topics.state("T1"), Death(terminal="T1", body=DeathBody(bd_seq=live - 1)).encode())
    wait_for(lambda: hub.metrics.late_wills._value.get() >= 1, what="late will seen")
    assert hub_count(hub.engine, "SELECT count(*) FROM terminals WHERE online AND terminal_id='T1'") == 1

    # The real thing: a half-open link, a reconnect, the old session's Will firing whenever it does.
    losses = edge.agent.stats["link_losses"]
    proxy.blackhole()
    wait_for(lambda: edge.agent.stats["link_losses"] > losses, timeout=15, what="half-open link noticed")
    proxy.restore()
    wait_for(
        lambda: edge.agent.connected_event.is_set() and edge.agent._bd_seq > live,
        timeout=20,
        what="new session",
    )
    wait_for(
        lambda: (
            hub_count(
                hub.engine,
                "SELECT count(*) FROM terminals WHERE online AND bd_seq = :b",
                b=edge.agent._bd_seq,
            )
            == 1
        ),
        what="online in the new session",
    )
    # A stale birth (a retained one read back after a hub restart) does not roll the session back either.
    raw.publish(topics.state("T1"), Birth(terminal="T1", body=BirthBody(bd_seq=live)).encode())
    wait_for(lambda: hub.metrics.messages.labels("birth")._value.get() >= 3, what="stale birth processed")
    assert hub_count(hub.engine, "SELECT bd_seq FROM terminals WHERE terminal_id='T1'") == edge.agent._bd_seq
