"""The hub's side of holder lookups (protocol.lookup), through the real ingest handler on SQLite and
PostgreSQL. Expected keys are worked out here from the documented derivation — SHA-256 of a domain tag
and the hub's private case key, HMAC-SHA256 of that with the terminal id, HMAC-SHA256 of the result with
the ID number — not taken from the code under test.

A case batch's ack names each case's holder key, a redelivered batch too. A lookup request is answered
with the terminal's own key and the holder keys of the listed cases that came from that terminal: a
terminal listing another's cases learns nothing about them, and two terminals never share a key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

import pytest

from hub.db.engine import open_engine
from hub.ingest.handler import Events
from protocol import topics
from protocol.cases import Ack, CaseBatch, CaseBatchBody, CaseSubmission
from protocol.codec import decode_for_topic
from protocol.envelope import utcnow
from protocol.lookup import LookupReply, LookupRequest, LookupRequestBody
from tests.support import CASE_KEY, applicant, register_terminal, seal
from tests.unit.hub.helpers import handler


def expected_key(terminal: str) -> bytes:
    case_key = base64.urlsafe_b64decode(CASE_KEY)
    master = hashlib.sha256(b"shegong/holder-lookup/v1\x00" + case_key).digest()
    return hmac.new(master, terminal.encode(), hashlib.sha256).digest()


def expected_holder_key(terminal: str, id_number: str) -> str:
    return hmac.new(expected_key(terminal), id_number.encode(), hashlib.sha256).hexdigest()


@pytest.fixture
def hub(hub_db_url):
    engine = open_engine(hub_db_url)
    for terminal in ("T1", "T2"):
        register_terminal(engine, terminal, "JW001")  # as at provisioning: ingest admits registered terminals only
    yield handler(engine)
    engine.dispose()


def _batch(terminal: str, people: range) -> tuple[CaseBatch, list[CaseSubmission]]:
    at = utcnow()
    cases = [
        CaseSubmission(
            case_id=uuid.uuid4(),
            receipt_no=f"JW001-{at:%Y%m%d}-{n + 1:04d}",
            query_code="ABC234",
            item_code="MZ-001",
            committee="JW001",
            created_at=at,
            applicant=applicant(n),
        )
        for n in people
    ]
    return CaseBatch(terminal=terminal, seq=1, body=CaseBatchBody(cases=[seal(c) for c in cases])), cases


def _replies(hub, terminal: str, message) -> list:
    topic = topics.up(terminal, topics.Up.CASES if isinstance(message, CaseBatch) else topics.Up.LOOKUP)
    published = [r for r in hub.handle(topic, message.encode()) if not isinstance(r, Events)]  # messages only
    return [decode_for_topic(t, p) for t, p in published]


def test_an_ack_names_each_cases_holder_key_also_when_the_batch_comes_again(hub):
    batch, cases = _batch("T1", range(3))
    want = {c.case_id: expected_holder_key("T1", c.applicant.id_number) for c in cases}
    for _ in range(2):  # a redelivery is acked again, with the same keys
        (ack,) = _replies(hub, "T1", batch)
        assert isinstance(ack, Ack) and set(ack.body.acked) == set(want)
        assert ack.body.holder_keys == want


def test_a_lookup_request_gets_the_terminals_own_key_and_only_its_own_cases_holder_keys(hub):
    batch1, mine = _batch("T1", range(2))
    batch2, theirs = _batch("T2", range(10, 12))
    _replies(hub, "T1", batch1)
    _replies(hub, "T2", batch2)
    unknown = uuid.uuid4()
    asked = [c.case_id for c in mine + theirs] + [unknown]
    request = LookupRequest(terminal="T1", body=LookupRequestBody(cases=asked))
    (reply,) = _replies(hub, "T1", request)
    assert isinstance(reply, LookupReply) and reply.body.correlation_id == request.body.correlation_id
    assert base64.urlsafe_b64decode(reply.body.key) == expected_key("T1") != expected_key("T2")
    assert reply.body.holder_keys == {c.case_id: expected_holder_key("T1", c.applicant.id_number) for c in mine}

    (empty,) = _replies(hub, "T2", LookupRequest(terminal="T2", body=LookupRequestBody()))
    assert base64.urlsafe_b64decode(empty.body.key) == expected_key("T2") and empty.body.holder_keys == {}
