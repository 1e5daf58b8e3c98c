"""The envelope every message travels in, and the reasons a message can be refused.

An envelope carries: the schema version ``v``, the message ``type``, a message ``id``, the ``terminal``
it concerns, that terminal's monotonic ``seq``, the sender's clock ``sent_at`` and the ``body``.
"""

from __future__ import annotations

import enum
import json
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from protocol import SCHEMA_VERSION

__all__ = [
    "MAX_INT64",
    "MAX_PAYLOAD_BYTES",
    "DeadLetterReason",
    "Envelope",
    "Int64",
    "MessageType",
    "ProtocolError",
    "Strict",
    "holds_nul",
    "utcnow",
]

MAX_PAYLOAD_BYTES = 256 * 1024
"""Largest payload either side accepts; a case batch is cut to stay below it."""


def utcnow() -> datetime:
    return datetime.now(UTC)


MAX_INT64 = 2**63 - 1
Int64 = Annotated[int, Field(le=MAX_INT64)]
"""Every integer of a message: at most what a signed 64-bit column (PostgreSQL BIGINT, SQLite INTEGER) holds.
A larger one is the schema's to refuse (``schema_invalid``), not a database write's to fail: a failed write
takes the whole ingest group with it, each message of it then tried alone (one terminal slowing the others)."""


def holds_nul(payload: bytes, parsed: Any = None) -> bool:
    """Whether the JSON text ``payload`` (``parsed``: as ``json.loads`` read it, if it has) holds the character
    U+0000 in a string or key. PostgreSQL refuses it in text columns, so a message holding it must be refused
    before the hub writes anything of it. JSON writes it only as the escape ``\\u0000``: a payload without one
    is answered by a byte search."""
    if b"\\u0000" not in payload:
        return False
    stack: list[Any] = [json.loads(payload) if parsed is None else parsed]
    while stack:  # by hand, not recursively: as deep as json.loads went, without a frame per level
        value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return True
        elif isinstance(value, dict):
            stack += value.keys()
            stack += value.values()
        elif isinstance(value, list):
            stack += value
    return False


class Strict(BaseModel):
    """Base of every wire model: unknown fields are an error, nothing is coerced loosely."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class MessageType(enum.StrEnum):
    BIRTH = "birth"
    DEATH = "death"
    HUB_STATE = "hub_state"
    CASE_BATCH = "case_batch"
    RATING_BATCH = "rating_batch"
    ACK = "ack"
    CASE_EVENTS = "case_events"
    HEARTBEAT = "heartbeat"
    COMMAND = "command"
    CATALOGUE_ANNOUNCE = "catalogue_announce"
    CATALOGUE_REQUEST = "catalogue_request"
    CATALOGUE_REPLY = "catalogue_reply"
    CATALOGUE_REPORT = "catalogue_report"
    LOOKUP_REQUEST = "lookup_request"
    LOOKUP_REPLY = "lookup_reply"
    RECONCILE_REQUEST = "reconcile_request"
    RECONCILE_REPLY = "reconcile_reply"
    NIGHT_REPORT = "night_report"
    HUB_ANCHOR = "hub_anchor"
    AUDIT_SEGMENT = "audit_segment"
    WITNESS_REQUEST = "witness_request"
    CALENDAR = "calendar"


class DeadLetterReason(enum.StrEnum):
    """Why the hub refused a message or one item in it; stored with every dead letter."""

    OVERSIZED = "oversized"
    MALFORMED_JSON = "malformed_json"
    UNKNOWN_VERSION = "unknown_version"
    SCHEMA_INVALID = "schema_invalid"
    UNEXPECTED_TYPE = "unexpected_type"
    TERMINAL_MISMATCH = "terminal_mismatch"
    UNKNOWN_TOPIC = "unknown_topic"
    INVALID_ID_NUMBER = "invalid_id_number"
    SEALED_INVALID = "sealed_invalid"  # a sealed case the hub's key cannot open, or not a valid case inside
    CONFLICT = "conflict"
    UNREGISTERED_TERMINAL = "unregistered_terminal"  # a case from a terminal with no committee in the register
    COMMITTEE_MISMATCH = "committee_mismatch"  # a case naming another committee than its terminal's
    DUPLICATE_RECEIPT = "duplicate_receipt"  # a receipt number another case of the committee already has
    RATE_LIMITED = "rate_limited"  # over the terminal's rate: not processed; the terminal sends it again later
    PROCESSING_FAILED = "processing_failed"  # the hub failed on it twice for no reason above: set aside as poison


class ProtocolError(ValueError):
    """A message that cannot be accepted; ``reason`` says why in a word, ``detail`` for a person."""

    def __init__(self, reason: DeadLetterReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


class Envelope(Strict):
    """Common header of every message; subclasses fix ``type`` and type the ``body``."""

    message_type: ClassVar[MessageType]

    v: Int64 = Field(default=SCHEMA_VERSION, description="schema version; only SCHEMA_VERSION is accepted")
    type: MessageType
    id: uuid.UUID = Field(default_factory=uuid.uuid4, description="message id, unique per message")
    terminal: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="terminal concerned, or 'hub'")
    seq: Int64 = Field(default=0, ge=0, description="sender's per-terminal monotonic sequence")
    sent_at: AwareDatetime = Field(default_factory=utcnow, description="sender's clock at publish")
    body: Any

    def clock_offset_s(self, received_at: datetime) -> float:
        """How far the sender's clock is behind the receiver's (negative: ahead), to the millisecond: the
        one reading of a terminal's clock offset, for its record and its fleet history alike."""
        return round((received_at - self.sent_at).total_seconds(), 3)

    def encode(self) -> bytes:
        """Compact UTF-8 JSON, as published."""
        return self.model_dump_json().encode()

    @classmethod
    def encode_around(
        cls,
        body_field: str,
        items_json: list[str],
        *,
        terminal: str,
        seq: int,
        message_id: uuid.UUID,
        sent_at: datetime,
    ) -> bytes:
        """Encode a batch message whose body is ``{body_field: [items]}`` around items already encoded as
        JSON (as an outbox stores them): byte for byte what :meth:`encode` gives, without parsing each
        item again on the hot path of a drain."""
        head = cls.model_construct(
            type=cls.message_type, id=message_id, terminal=terminal, seq=seq, sent_at=sent_at, body={body_field: []}
        )
        empty = f'{{"{body_field}":[]}}}}'
        prefix = head.model_dump_json(warnings=False)[: -len(empty)]
        return f'{prefix}{{"{body_field}":[{",".join(items_json)}]}}}}'.encode()
