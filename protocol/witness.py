"""Audit witnessing (issue 15): the hub's signed daily anchor down to every terminal, and each terminal's
audit segment (its new chain entries, and the hub anchors it received) up to the hub.

- :class:`HubAnchor`, retained on ``shegong/v1/hub/anchor``: the hub's audit chain at the night of
  ``day`` — ``entries`` entries ending at ``last_id`` with hash ``head`` — signed (Ed25519, hex) with the
  hub's audit key over :func:`anchor_text`. Each terminal keeps the first of each day it receives that
  :func:`anchor_signed` finds signed with the hub's audit key (its public half given at provisioning).
- :class:`AuditSegment`, on ``up/audit``: the terminal's audit entries after ``after_id`` (its chain's
  links: an entry holds no ID number or name) and the anchors it keeps. The hub checks the segment follows
  what it stored before and answers on ``down/reconcile`` (a ``reconcile_reply`` with ``audit_last_id``,
  the last entry it holds in an unbroken chain); it keeps the anchors as witnesses:
  ``shegong hub audit verify --witnesses`` names a day on which the hub's chain disagrees with what a
  terminal saw.
- :class:`WitnessRequest`, on ``down/audit``: ``shegong hub audit verify --witnesses`` asks each terminal
  live for the anchors it keeps; the terminal answers at once with an :class:`AuditSegment` carrying the
  request's ``correlation_id``, its anchors and no entries (copies stored at the hub earlier could have been
  rewritten with the rest of its database).

Pure: no I/O.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import ClassVar, Literal

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from pydantic import AwareDatetime, Field

from protocol.envelope import Envelope, Int64, MessageType, Strict

__all__ = [
    "AnchorBody",
    "AuditSegment",
    "AuditSegmentBody",
    "HubAnchor",
    "SegmentEntry",
    "WitnessRequest",
    "WitnessRequestBody",
    "anchor_signed",
    "anchor_text",
]

MAX_ENTRIES = 500
MAX_ANCHORS = 60


def anchor_text(day: date, entries: int, last_id: int, head: str, at: datetime) -> bytes:
    """The bytes an anchor's signature covers."""
    return f"shegong/audit-anchor/v1|{day.isoformat()}|{entries}|{last_id}|{head}|{at.isoformat()}".encode()


class AnchorBody(Strict):
    day: date
    entries: Int64 = Field(ge=0)
    last_id: Int64 = Field(ge=0)
    head: str = Field(pattern=r"^[0-9a-f]{64}$")
    at: AwareDatetime
    signature: str = Field(pattern=r"^[0-9a-f]{128}$")


def anchor_signed(public_key_hex: str, a: AnchorBody) -> bool:
    """Whether ``a`` carries the signature of the hub's audit key (its public half ``public_key_hex``, as
    ``shegong hub keys audit-public`` prints it) over :func:`anchor_text` of its fields."""
    try:
        VerifyKey(bytes.fromhex(public_key_hex)).verify(
            anchor_text(a.day, a.entries, a.last_id, a.head, a.at), bytes.fromhex(a.signature)
        )
    except (BadSignatureError, ValueError):
        return False
    return True


class HubAnchor(Envelope):
    message_type: ClassVar[MessageType] = MessageType.HUB_ANCHOR
    type: Literal[MessageType.HUB_ANCHOR] = MessageType.HUB_ANCHOR
    body: AnchorBody


class SegmentEntry(Strict):
    """One link of a terminal's chain, as stored there (see protocol.auditchain)."""

    id: Int64 = Field(ge=1)
    at: AwareDatetime
    actor: str = Field(max_length=200)
    action: str = Field(max_length=64)
    subject: str = Field(max_length=200)
    data: str = Field(max_length=20_000)
    prev_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    sig: str | None = Field(
        None, pattern=r"^[0-9a-f]{128}$", description="the terminal's Ed25519 signature of hash, made at append"
    )


class AuditSegmentBody(Strict):
    correlation_id: uuid.UUID = Field(default_factory=uuid.uuid4, description="repeated in the hub's reply")
    after_id: Int64 = Field(ge=0, description="the entries follow this one (0: the chain's start)")
    entries: list[SegmentEntry] = Field(default_factory=list, max_length=MAX_ENTRIES)
    anchors: list[AnchorBody] = Field(default_factory=list, max_length=MAX_ANCHORS)
    public_key: str | None = Field(
        None, pattern=r"^[0-9a-f]{64}$", description="the terminal's audit verification key (Ed25519, hex)"
    )


class AuditSegment(Envelope):
    message_type: ClassVar[MessageType] = MessageType.AUDIT_SEGMENT
    type: Literal[MessageType.AUDIT_SEGMENT] = MessageType.AUDIT_SEGMENT
    body: AuditSegmentBody


class WitnessRequestBody(Strict):
    correlation_id: uuid.UUID = Field(default_factory=uuid.uuid4, description="repeated in the terminal's answer")


class WitnessRequest(Envelope):
    message_type: ClassVar[MessageType] = MessageType.WITNESS_REQUEST
    type: Literal[MessageType.WITNESS_REQUEST] = MessageType.WITNESS_REQUEST
    body: WitnessRequestBody
