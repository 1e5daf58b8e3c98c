"""A case id the hub holds already, arriving again: the same case is acknowledged again (redelivery is a no-op,
DESIGN §5), but a *different* case under that id — sent by another terminal, or by the same terminal with
other content — is refused as ``conflict`` with a dead letter, never acknowledged: an acknowledged case leaves
its terminal's outbox, so acknowledging a case the hub did not store would lose it without a word. The case
stored first stays as it was.

Cases go through the real ingest handler (SQLite and PostgreSQL), within one group and across groups; the
expected values are the test's own cases.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from hub.cases.routing import Router
from hub.db.engine import open_engine
from hub.ingest.handler import Handler, Incoming
from hub.ingest.metrics import IngestMetrics
from protocol import sealed, topics
from protocol.cases import Ack, CaseBatch, CaseBatchBody, CaseSubmission
from protocol.envelope import utcnow
from tests.support import CASE_KEY, applicant, register_terminal, seal, submission


@pytest.fixture
def engine(hub_db_url):
    e = open_engine(hub_db_url)
    register_terminal(e, "T1", "JW001")
    register_terminal(e, "T2", "JW002")
    yield e
    e.dispose()


def _handler(engine) -> Handler:
    return Handler(engine, Router({"MZ-001": "MZ"}), IngestMetrics(), case_key=sealed.private_key(CASE_KEY))


def _batch(terminal: str, *cases: CaseSubmission) -> Incoming:
    batch = CaseBatch(terminal=terminal, body=CaseBatchBody(cases=[seal(c) for c in cases]))
    return Incoming(topics.up(terminal, topics.Up.CASES), batch.encode(), utcnow())


def _acks(replies) -> dict[str, Ack]:
    """The acks among ``replies``, by the terminal they go to."""
    out = {}
    for reply in replies:
        if isinstance(reply, tuple) and reply[0].endswith("/down/acks"):
            out[topics.sender(reply[0])] = Ack.model_validate_json(reply[1])
    return out


def _as(case: CaseSubmission, committee: str, n: int) -> CaseSubmission:
    """``case``'s id on another case: committee ``committee``'s receipt ``n``, another resident."""
    return case.model_copy(
        update={"committee": committee, "receipt_no": f"{committee}-20261127-{n:04d}", "applicant": applicant(n)}
    )


def _stored(engine) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT case_id, terminal_id, receipt_no FROM cases")).all()]


def _dead(engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT terminal_id, reason FROM dead_letters")).all()]


@pytest.mark.parametrize("together", [False, True], ids=["later", "same-group"])
def test_another_terminals_case_under_a_stored_case_id_is_refused_as_a_conflict(engine, together):
    first = submission(1)
    forged = _as(first, "JW002", 7)
    handler = _handler(engine)
    if together:
        acks = _acks(handler.handle_many([_batch("T1", first), _batch("T2", forged)]))
    else:
        acks = _acks(handler.handle_many([_batch("T1", first)]))
        acks.update(_acks(handler.handle_many([_batch("T2", forged)])))
    assert acks["T1"].body.acked == [first.case_id]
    assert acks["T2"].body.acked == []
    assert [(r.item_id, r.reason.value) for r in acks["T2"].body.rejected] == [(first.case_id, "conflict")]
    assert _stored(engine) == [(str(first.case_id), "T1", first.receipt_no)]
    assert _dead(engine) == [("T2", "conflict")]


def test_the_same_case_again_is_acknowledged_and_other_content_under_its_id_is_not(engine):
    first = submission(1)
    handler = _handler(engine)
    handler.handle_many([_batch("T1", first)])
    again = _acks(handler.handle_many([_batch("T1", first)]))["T1"]
    assert again.body.acked == [first.case_id] and again.body.rejected == []
    changed = _as(first, "JW001", 2)  # the terminal's own committee and a receipt of its own: another case
    refused = _acks(handler.handle_many([_batch("T1", changed)]))["T1"]
    assert refused.body.acked == []
    assert [(r.item_id, r.reason.value) for r in refused.body.rejected] == [(first.case_id, "conflict")]
    assert _stored(engine) == [(str(first.case_id), "T1", first.receipt_no)]
    assert _dead(engine) == [("T1", "conflict")]


def test_one_batch_naming_a_case_id_twice_stores_one_case_and_refuses_the_other_content(engine):
    first = submission(1)
    other = _as(first, "JW001", 2)
    handler = _handler(engine)
    ack = _acks(handler.handle_many([_batch("T1", first, first, other)]))["T1"]
    assert ack.body.acked == [first.case_id], "the same case twice is one case"
    assert [r.reason.value for r in ack.body.rejected] == ["conflict"]
    assert _stored(engine) == [(str(first.case_id), "T1", first.receipt_no)]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM case_events")).scalar_one() == 1
