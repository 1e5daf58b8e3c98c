"""The wire contract: topics, the envelope's checks in order, batch encoding, JSON Schemas.

Everything here is pure: bytes in, a message or a ProtocolError with its reason out.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import SCHEMA_VERSION, codec, topics
from protocol.cases import Ack, AckBody, CaseBatch, CaseBatchBody, CaseEvent, CaseEvents, CaseEventsBody, CaseStatus
from protocol.codec import decode, decode_for_topic, json_schemas
from protocol.envelope import MAX_PAYLOAD_BYTES, DeadLetterReason, ProtocolError
from protocol.ratings import RatingBatch
from tests.support import seal, submission

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "docs" / "schema"


def test_topics_are_built_and_parsed_in_one_place():
    assert topics.up("T1", topics.Up.CASES) == "shegong/v1/t/T1/up/cases"
    assert topics.down("T1", topics.Down.ACKS) == "shegong/v1/t/T1/down/acks"
    assert topics.parse("shegong/v1/t/T1/state") == topics.TerminalTopic("T1", "state", None)
    assert topics.parse("shegong/v1/t/T-2/up/health").channel is topics.Up.HEALTH
    for bad in ["shegong/v1/t/T1/up/nope", "shegong/v2/t/T1/state", "shegong/v1/t/+/state", "x"]:
        with pytest.raises(topics.TopicError):
            topics.parse(bad)
    with pytest.raises(topics.TopicError):
        topics.state("T1/#")  # a terminal id must fill one whole topic level (broker ACLs use %u)
    assert topics.subscriptions_hub("hub")[0] == "$share/hub/shegong/v1/t/+/up/#"


def test_a_batch_round_trips_and_its_fast_encoding_is_byte_identical():
    cases = [seal(submission(1)), seal(submission(2))]
    message = CaseBatch(terminal="T1", seq=7, body=CaseBatchBody(cases=cases))
    fast = CaseBatch.encode_around(
        "cases",
        [c.model_dump_json() for c in cases],
        terminal="T1",
        seq=7,
        message_id=message.id,
        sent_at=message.sent_at,
    )
    assert fast == message.encode()
    assert decode_for_topic(topics.up("T1", topics.Up.CASES), fast) == message


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{nope", DeadLetterReason.MALFORMED_JSON),
        (b"[1, 2]", DeadLetterReason.MALFORMED_JSON),
        (b"\xff\xfe", DeadLetterReason.MALFORMED_JSON),
        (json.dumps({"v": SCHEMA_VERSION + 1, "type": "ack"}).encode(), DeadLetterReason.UNKNOWN_VERSION),
        (json.dumps({"v": SCHEMA_VERSION - 1, "type": "ack"}).encode(), DeadLetterReason.UNKNOWN_VERSION),
        (json.dumps({"type": "ack"}).encode(), DeadLetterReason.UNKNOWN_VERSION),
        (
            json.dumps({"v": SCHEMA_VERSION, "type": "nope", "terminal": "T1", "body": {}}).encode(),
            DeadLetterReason.SCHEMA_INVALID,
        ),
        (b" " * (MAX_PAYLOAD_BYTES + 1), DeadLetterReason.OVERSIZED),
        # What used to escape as another exception (issue 10): nesting deep enough for RecursionError, in
        # the JSON and in the body; a number past Python's 4,300-digit limit for int(), as the version and
        # as a field; invalid UTF-8 inside a string.
        (b"[" * 100_000, DeadLetterReason.MALFORMED_JSON),
        (b'{"v": 1, "type": "ack", "body": ' + b"[" * 5000 + b"]" * 5000 + b"}", DeadLetterReason.MALFORMED_JSON),
        (b'{"v": ' + b"9" * 5000 + b"}", DeadLetterReason.MALFORMED_JSON),
        (b'{"v": 1, "type": "ack", "seq": ' + b"1" * 5000 + b"}", DeadLetterReason.MALFORMED_JSON),
        (b'{"v": 1, "type": "ack", "terminal": "T\xff"}', DeadLetterReason.MALFORMED_JSON),
    ],
    ids=lambda v: v.value if isinstance(v, DeadLetterReason) else repr(v[:24]),
)
def test_each_bad_payload_is_refused_with_its_reason(payload, reason):
    with pytest.raises(ProtocolError) as err:
        decode(payload)
    assert err.value.reason is reason


def test_a_message_must_belong_to_its_topic_and_terminal():
    batch = CaseBatch(terminal="T1", body=CaseBatchBody(cases=[seal(submission())])).encode()
    with pytest.raises(ProtocolError) as err:
        decode_for_topic(topics.up("T2", topics.Up.CASES), batch)
    assert err.value.reason is DeadLetterReason.TERMINAL_MISMATCH
    with pytest.raises(ProtocolError) as err:
        decode_for_topic(topics.up("T1", topics.Up.HEALTH), batch)
    assert err.value.reason is DeadLetterReason.UNEXPECTED_TYPE
    with pytest.raises(ProtocolError) as err:
        decode_for_topic("elsewhere/T1", batch)
    assert err.value.reason is DeadLetterReason.UNKNOWN_TOPIC


def test_strict_models_refuse_unknown_fields_and_loose_types():
    raw = json.loads(Ack(terminal="T1", body=AckBody()).encode())
    raw["body"]["surprise"] = 1
    with pytest.raises(ProtocolError):
        decode(json.dumps(raw).encode())
    raw = json.loads(CaseBatch(terminal="T1", body=CaseBatchBody(cases=[seal(submission())])).encode())
    raw["seq"] = "7"
    with pytest.raises(ProtocolError):
        decode(json.dumps(raw).encode())


def test_a_terminal_reading_a_newer_hub_drops_fields_it_does_not_know_and_nothing_else(caplog):
    """Upgrade review: the hub, upgraded first, added ``tag`` to case events, and a terminal of the release
    before refused every status change as schema_invalid. What a terminal reads from the hub it now reads
    with ``ignore_unknown``: unknown fields are dropped and named once in the log; what the hub reads from
    terminals stays strict, and a payload wrong in any other way is still refused."""
    event = CaseEvent(
        event_id=7,
        case_id=uuid.UUID("0190f5e2-0000-7000-8000-000000000007"),
        version=2,
        status=CaseStatus.ACCEPTED,
        at=datetime(2026, 12, 7, 2, tzinfo=UTC),
        note="已受理",
    )
    sent = CaseEvents(terminal="T1", body=CaseEventsBody(events=[event]))
    raw = json.loads(sent.encode())
    raw["priority"], raw["body"]["events"][0]["colour"] = 1, "green"  # fields of a release to come
    newer = json.dumps(raw).encode()
    with pytest.raises(ProtocolError) as refused:
        decode(newer)
    assert refused.value.reason is DeadLetterReason.SCHEMA_INVALID
    caplog.set_level("WARNING", logger="protocol.codec")
    down = topics.down("T1", topics.Down.EVENTS)
    assert decode_for_topic(down, newer, ignore_unknown=True) == sent
    assert decode_for_topic(down, newer, ignore_unknown=True) == sent
    named = [r.getMessage() for r in caplog.records]
    assert sum("case_events.body.events.colour" in m for m in named) == 1, named  # once, not per message
    assert any("case_events.priority" in m for m in named)
    raw["body"]["events"][0]["version"] = "2"  # and a string for a number: refused all the same
    with pytest.raises(ProtocolError, match="version"):
        decode(json.dumps(raw).encode(), ignore_unknown=True)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_no_bytes_make_decoding_raise_anything_but_a_protocol_error(data):
    with contextlib.suppress(ProtocolError):
        decode_for_topic("shegong/v1/t/T1/up/cases", data)


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda c: st.lists(c) | st.dictionaries(st.text(max_size=8), c),
        max_leaves=20,
    )
)
def test_no_json_value_makes_decoding_raise_anything_but_a_protocol_error(value):
    for wrapper in (value, {"v": 1, "type": "case_batch", "terminal": "T1", "body": value}):
        with contextlib.suppress(ProtocolError):
            decode(json.dumps(wrapper).encode())


def test_the_published_json_schemas_match_the_models():
    """docs/schema/ is what another implementation builds from: it must not drift from the code."""
    schemas = json_schemas()
    assert set(schemas) >= {
        "case_batch",
        "rating_batch",
        "ack",
        "case_events",
        "birth",
        "death",
        "heartbeat",
        "hub_state",
    }
    for name, schema in schemas.items():
        path = SCHEMA_DIR / f"{name}.schema.json"
        assert path.exists(), f"run `shegong protocol schema` to write {path.name}"
        assert json.loads(path.read_text()) == schema, f"{path.name} is stale: run `shegong protocol schema`"
    assert RatingBatch.message_type.value in schemas


def _integers(schema: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    """Every integer of a JSON Schema, with where it is and its upper bound (None: none)."""
    if isinstance(schema, dict):
        if schema.get("type") == "integer" and "enum" not in schema and "const" not in schema:
            yield where, schema.get("maximum")
        for key, value in schema.items():
            yield from _integers(value, f"{where}/{key}")
    elif isinstance(schema, list):
        for n, value in enumerate(schema):
            yield from _integers(value, f"{where}/{n}")


def test_every_integer_a_terminal_sends_fits_a_64_bit_column():
    """The hub stores the integers terminals send in BIGINT (PostgreSQL) or INTEGER (SQLite) columns: a birth
    whose bd_seq was 10**30 passed the schema and failed the write, and with it the whole ingest group. Each
    integer is bounded by 2**63 - 1 (the columns' own limit, not a figure of the protocol's), so the decoder
    refuses a larger one."""
    schemas = json_schemas()
    received = [t.value for (kind, _), types in codec._ALLOWED.items() if kind in ("state", "up") for t in types]
    assert {"birth", "heartbeat", "case_batch", "reconcile_request", "night_report"} <= set(received)
    unbounded = [
        f"{name}{where}"
        for name in received
        for where, maximum in _integers(schemas[name])
        if maximum is None or maximum > 2**63 - 1
    ]
    assert not unbounded, f"integers without a 64-bit bound: {unbounded}"
    birth = {"v": SCHEMA_VERSION, "type": "birth", "terminal": "T1", "body": {"bd_seq": 2**63}}
    with pytest.raises(ProtocolError) as refused:
        decode(json.dumps(birth).encode())
    assert refused.value.reason is DeadLetterReason.SCHEMA_INVALID
    birth["body"]["bd_seq"] = 2**63 - 1
    assert decode(json.dumps(birth).encode()).body.bd_seq == 2**63 - 1


def test_a_text_holding_nul_is_refused_and_a_written_backslash_u_is_not():
    """PostgreSQL refuses U+0000 in text columns: the decoder refuses it in any string, before the hub writes
    anything. A backslash followed by ``u0000`` is six ordinary characters (JSON ``\\\\u0000``) and passes."""
    birth = {"v": SCHEMA_VERSION, "type": "birth", "terminal": "T1", "body": {"bd_seq": 1, "app_version": "1\x00"}}
    with pytest.raises(ProtocolError) as refused:
        decode(json.dumps(birth).encode())
    assert refused.value.reason is DeadLetterReason.SCHEMA_INVALID
    birth["body"]["app_version"] = "1\\u0000"
    assert decode(json.dumps(birth).encode()).body.app_version == "1\\u0000"
