"""Decoding with every check the hub and the terminals apply, in the order they apply them.

size → JSON → schema version → message schema → type allowed on this topic → terminal matches topic.
Each failure is a :class:`~protocol.envelope.ProtocolError` naming its :class:`DeadLetterReason`, and
nothing else escapes: whatever a sender puts in a payload (nesting deep enough for ``RecursionError``, a
number past Python's digit limit, bytes that are no UTF-8) becomes a refusal, never an exception the
receiver did not expect (issue 10: one such payload used to stall the hub's ingest).

Fields a receiver does not know are refused (``schema_invalid``) — except where a terminal reads what the
hub sends (``ignore_unknown``): the hub is upgraded first, and a field it adds must not make terminals of
the release before refuse every message of that kind (an upgrade review found a terminal a day old
refusing all status changes over an event's new ``tag``). What the hub receives stays strict.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError

from protocol import SCHEMA_VERSION, topics
from protocol.cases import Ack, CaseBatch, CaseEvents
from protocol.catalogue_sync import CatalogueAnnouncement, CatalogueReply, CatalogueReport, CatalogueRequest
from protocol.envelope import MAX_PAYLOAD_BYTES, DeadLetterReason, Envelope, MessageType, ProtocolError, holds_nul
from protocol.health import Heartbeat
from protocol.lookup import LookupReply, LookupRequest
from protocol.ratings import RatingBatch
from protocol.reconcile import NightReport, ReconcileReply, ReconcileRequest
from protocol.state import Birth, Command, Death, HubState
from protocol.witness import AuditSegment, HubAnchor, WitnessRequest
from protocol.workdays import CalendarAnnouncement

__all__ = ["MESSAGE_CLASSES", "Message", "decode", "decode_for_topic", "json_schemas"]

log = logging.getLogger(__name__)
_IGNORED: set[str] = set()  # fields already named in the log (per message type and path)

MESSAGE_CLASSES: tuple[type[Envelope], ...] = (
    Birth,
    Death,
    HubState,
    CaseBatch,
    RatingBatch,
    Ack,
    CaseEvents,
    Heartbeat,
    Command,
    CatalogueAnnouncement,
    CatalogueRequest,
    CatalogueReply,
    CatalogueReport,
    LookupRequest,
    LookupReply,
    ReconcileRequest,
    ReconcileReply,
    NightReport,
    HubAnchor,
    AuditSegment,
    WitnessRequest,
    CalendarAnnouncement,
)

Message = Annotated[
    Birth
    | Death
    | HubState
    | CaseBatch
    | RatingBatch
    | Ack
    | CaseEvents
    | Heartbeat
    | Command
    | CatalogueAnnouncement
    | CatalogueRequest
    | CatalogueReply
    | CatalogueReport
    | LookupRequest
    | LookupReply
    | ReconcileRequest
    | ReconcileReply
    | NightReport
    | HubAnchor
    | AuditSegment
    | WitnessRequest
    | CalendarAnnouncement,
    Field(discriminator="type"),
]
_ADAPTER: TypeAdapter[Message] = TypeAdapter(Message)

# Which message types may arrive on which per-terminal topic: (kind, channel). Up and down channels of the
# same name (``catalogue``, ``reconcile``) are equal strings, so the kind is part of the key.
_ALLOWED: dict[tuple[str, topics.Up | topics.Down | None], frozenset[MessageType]] = {
    ("state", None): frozenset({MessageType.BIRTH, MessageType.DEATH}),
    ("up", topics.Up.CASES): frozenset({MessageType.CASE_BATCH}),
    ("up", topics.Up.HEALTH): frozenset({MessageType.HEARTBEAT}),
    ("up", topics.Up.RATINGS): frozenset({MessageType.RATING_BATCH}),
    ("up", topics.Up.CATALOGUE): frozenset({MessageType.CATALOGUE_REQUEST, MessageType.CATALOGUE_REPORT}),
    ("down", topics.Down.ACKS): frozenset({MessageType.ACK}),
    ("down", topics.Down.EVENTS): frozenset({MessageType.CASE_EVENTS}),
    ("down", topics.Down.COMMANDS): frozenset({MessageType.COMMAND}),
    ("down", topics.Down.CATALOGUE): frozenset({MessageType.CATALOGUE_REPLY}),
    ("up", topics.Up.LOOKUP): frozenset({MessageType.LOOKUP_REQUEST}),
    ("down", topics.Down.LOOKUP): frozenset({MessageType.LOOKUP_REPLY}),
    ("up", topics.Up.RECONCILE): frozenset({MessageType.RECONCILE_REQUEST, MessageType.NIGHT_REPORT}),
    ("down", topics.Down.RECONCILE): frozenset({MessageType.RECONCILE_REPLY}),
    ("up", topics.Up.AUDIT): frozenset({MessageType.AUDIT_SEGMENT}),
    ("down", topics.Down.AUDIT): frozenset({MessageType.WITNESS_REQUEST}),
}


def decode(payload: bytes, max_bytes: int = MAX_PAYLOAD_BYTES, ignore_unknown: bool = False) -> Envelope:
    """Decode any message, checking size, JSON, version and schema. ``ignore_unknown``: a field the schema
    does not have is dropped (and named once in the log) rather than refused."""
    if len(payload) > max_bytes:
        raise ProtocolError(DeadLetterReason.OVERSIZED, f"{len(payload)} bytes > {max_bytes}")
    try:
        raw: Any = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(DeadLetterReason.MALFORMED_JSON, str(exc)[:200]) from None
    except Exception as exc:  # noqa: BLE001 - RecursionError, the int digit limit's ValueError, MemoryError …
        raise ProtocolError(DeadLetterReason.MALFORMED_JSON, _unreadable(exc)) from None
    if not isinstance(raw, dict):
        raise ProtocolError(DeadLetterReason.MALFORMED_JSON, "payload is not a JSON object")
    if raw.get("v") != SCHEMA_VERSION:
        raise ProtocolError(
            DeadLetterReason.UNKNOWN_VERSION, f"schema version {raw.get('v')!r}, expected {SCHEMA_VERSION}"
        )
    if holds_nul(payload, raw):
        raise ProtocolError(DeadLetterReason.SCHEMA_INVALID, "a text holds the character U+0000 (NUL)")
    try:
        return _ADAPTER.validate_json(payload)
    except ValidationError as exc:
        if ignore_unknown and (known := _known_only(raw, exc)) is not None:
            return decode(known, max_bytes)
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ProtocolError(DeadLetterReason.SCHEMA_INVALID, f"{where}: {first['msg']}"[:300]) from None
    except Exception as exc:  # noqa: BLE001 - the JSON above parsed, so anything here is the schema's to refuse
        raise ProtocolError(DeadLetterReason.SCHEMA_INVALID, _unreadable(exc)) from None


def _known_only(raw: dict[str, Any], exc: ValidationError) -> bytes | None:
    """``raw`` without the fields ``exc`` names as unknown, when that is all it names (else None)."""
    errors = exc.errors()
    if any(e["type"] != "extra_forbidden" for e in errors):
        return None
    for e in errors:
        *path, name = e["loc"][1:]  # the first names the message type (the union's tag)
        node: Any = raw
        for step in path:
            node = node[step]
        node.pop(name, None)
        where = ".".join(str(p) for p in e["loc"] if not isinstance(p, int))
        if where not in _IGNORED:
            _IGNORED.add(where)
            log.warning("ignored a field this release does not know: %s (the hub is newer: upgrade)", where[:200])
    return json.dumps(raw).encode()


def _unreadable(exc: BaseException) -> str:
    """Why a payload could not be read, by the exception's kind only: its message may quote the payload."""
    return f"unreadable payload ({type(exc).__name__})"


def decode_for_topic(
    topic: str, payload: bytes, max_bytes: int = MAX_PAYLOAD_BYTES, ignore_unknown: bool = False
) -> Envelope:
    """Decode a message from a per-terminal topic and check it belongs there (``ignore_unknown``: see
    :func:`decode`)."""
    try:
        parsed = topics.parse(topic)
    except topics.TopicError as exc:
        raise ProtocolError(DeadLetterReason.UNKNOWN_TOPIC, str(exc)) from None
    message = decode(payload, max_bytes, ignore_unknown)
    allowed = _ALLOWED.get((parsed.kind, parsed.channel), frozenset())
    if message.type not in allowed:
        raise ProtocolError(DeadLetterReason.UNEXPECTED_TYPE, f"{message.type.value} not allowed on {topic}")
    if message.terminal != parsed.terminal:
        raise ProtocolError(
            DeadLetterReason.TERMINAL_MISMATCH,
            f"envelope terminal {message.terminal!r} differs from topic terminal {parsed.terminal!r}",
        )
    return message


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema of every message, keyed by message type; written to docs/schema/ by the CLI."""
    return {cls.message_type.value: cls.model_json_schema() for cls in MESSAGE_CLASSES}
